"""Choosing the base task (mtlgroup.sharing.base_choice): CKA's invariances, the proxy's pick
where the answer is known, the measurement, and the rank agreement."""

from __future__ import annotations

import math

import pytest
import torch
from training_helpers import fast_config, perturbed, renamed, single_network, tiny_data

from mtlgroup.sharing.base_choice import (
    choose_base,
    linear_cka,
    proxy_scores,
    rank_agreement,
    similarity_scores,
)
from mtlgroup.tasks import TaskSet


def _features(seed: int, n: int = 60, d: int = 12) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_cka_is_one_for_identical_features_and_symmetric():
    x, y = _features(0), _features(1)
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x))
    assert 0.0 <= linear_cka(x, y) < 1.0


def test_cka_ignores_rotation_scale_and_offset_of_the_features():
    x, y = _features(0), _features(1)
    rotation, _ = torch.linalg.qr(_features(2, 12, 12))
    assert linear_cka(x, y @ rotation * 5.0 + 3.0) == pytest.approx(linear_cka(x, y), abs=1e-6)
    assert linear_cka(x, x @ rotation) == pytest.approx(1.0)


def test_cka_refuses_different_samples():
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(_features(0, n=5), _features(1, n=6))


def test_the_task_whose_features_the_others_copy_scores_highest():
    hub = _features(0)
    # Each other task sees the hub's features plus its own independent noise.
    features = {"a": [hub + 0.8 * _features(1)], "hub": [hub], "b": [hub + 0.8 * _features(2)]}
    scores = similarity_scores(features)
    assert max(scores, key=scores.__getitem__) == "hub"


def test_choose_base_by_proxy_picks_the_network_the_others_are_perturbed_from():
    data = tiny_data()
    hub = single_network(data, "bright", epochs=0)
    # Small independent perturbations (features move about linearly in them): the two
    # perturbed networks differ from each other about twice as much as from the hub. (Large
    # ones leave that regime, and CKA then need not rank the hub first.)
    singles = {"bright": hub,
               "contrast": renamed(perturbed(hub, 0.2, seed=1), "contrast"),
               "moments": renamed(perturbed(hub, 0.2, seed=2), "moments")}
    # The hub is listed last, so a tie-break towards the first task cannot produce it.
    tasks = data.tasks.subset(["contrast", "moments", "bright"])
    choice = choose_base(singles, data, tasks, method="proxy")
    assert choice.base == "bright"
    assert choice.measured_scores is None and choice.agreement is None
    assert set(choice.proxy_scores) == set(tasks.names)
    assert all(0.0 <= v <= 1.0 for v in choice.proxy_scores.values())


def test_proxy_of_identical_networks_is_one():
    data = tiny_data()
    net = single_network(data, "bright", epochs=0)
    scores = proxy_scores({"bright": net, "contrast": renamed(net, "contrast")}, data)
    assert scores == pytest.approx({"bright": 1.0, "contrast": 1.0})


def test_measured_choice_is_the_lowest_relative_loss_and_reports_agreement():
    data = tiny_data()
    names = ["bright", "contrast", "moments"]
    singles = {t: single_network(data, t, seed=i) for i, t in enumerate(names)}
    tasks = data.tasks.subset(names)
    choice = choose_base(singles, data, tasks, method="both",
                         config=fast_config(sparse_epochs=1, finetune_epochs=1))
    measured = choice.measured_scores
    assert measured is not None and set(measured) == set(names)
    assert all(math.isfinite(v) and v > 0 for v in measured.values())
    assert choice.base == min(names, key=measured.__getitem__)
    assert choice.agreement is None or -1.0 <= choice.agreement <= 1.0
    assert choice.agreement == rank_agreement(choice.proxy_scores, measured)


def test_rank_agreement_is_one_when_rankings_agree_and_minus_one_when_reversed():
    proxy = {"a": 0.9, "b": 0.6, "c": 0.2, "d": 0.1}  # higher is better
    assert rank_agreement(proxy, {"a": 1.0, "b": 1.2, "c": 3.0, "d": 3.5}) == pytest.approx(1.0)
    assert rank_agreement(proxy, {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}) == pytest.approx(-1.0)
    mixed = rank_agreement(proxy, {"a": 2.0, "b": 1.0, "c": 4.0, "d": 3.0})
    assert mixed is not None and -1.0 < mixed < 1.0


def test_rank_agreement_is_undefined_for_tied_rankings():
    assert rank_agreement({"a": 0.5, "b": 0.5}, {"a": 1.0, "b": 2.0}) is None
    assert rank_agreement({"a": 0.5}, {"a": 1.0}) is None


def test_choose_base_refuses_bad_requests():
    data = tiny_data()
    singles = {"bright": single_network(data, "bright", epochs=0)}
    with pytest.raises(ValueError, match="method"):
        choose_base(singles, data, data.tasks.subset(["bright"]), method="guess")  # type: ignore
    with pytest.raises(ValueError, match="no single-task network for contrast"):
        choose_base(singles, data, data.tasks.subset(["bright", "contrast"]))
    with pytest.raises(ValueError, match="two tasks"):
        choose_base(singles, data, TaskSet([data.tasks["bright"]]))
