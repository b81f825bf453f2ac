"""Estimators by name, end to end on the synthetic dataset."""

from __future__ import annotations

import numpy as np
import pytest
from affinity_helpers import quick_config, small_network

from mtlgroup.affinity import (
    CosineEstimator,
    ProximalEstimator,
    TagEstimator,
    available_estimators,
    create_estimator,
    estimate_affinity,
)
from mtlgroup.training import Trainer


def test_registry_names_the_three_methods():
    assert available_estimators() == ["cs", "proximal", "tag"]
    assert isinstance(create_estimator("tag", every=3), TagEstimator)
    with pytest.raises(ValueError, match="available: tag, cs, proximal"):
        create_estimator("hoa")
    with pytest.raises(ValueError, match="'cs'.*step"):
        create_estimator("cs", step="optimizer")
    with pytest.raises(ValueError, match="every"):
        TagEstimator(every=0)
    with pytest.raises(ValueError, match="beta"):
        ProximalEstimator(beta=0.0)
    assert TagEstimator(every=4).get_params()["every"] == 4
    assert "every=4" in repr(TagEstimator(every=4))


def test_tag_is_deterministic_and_reports_its_training(synthetic):
    config = quick_config(max_steps=6)
    first = estimate_affinity(synthetic, method="tag", config=config, size=0.25, every=2)
    again = estimate_affinity(synthetic, method="tag", config=config, size=0.25, every=2)
    np.testing.assert_array_equal(first.matrix, again.matrix)
    assert first.n_probes == 3 and first.result is not None and first.result.steps == 6
    assert first.settings["every"] == 2 and first.settings["size"] == 0.25
    assert np.isfinite(first.matrix).all()


def test_cosine_estimator_gives_a_similarity(synthetic):
    affinity = estimate_affinity(synthetic, ["bright", "moments", "parity"], method="cs",
                                 config=quick_config(max_steps=4), size=0.25, every=1)
    assert affinity.tasks == ("bright", "moments", "parity")
    np.testing.assert_allclose(affinity.matrix, affinity.matrix.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(affinity.matrix), 1.0, atol=1e-6)


def test_proximal_estimator_reports_groups_over_time(synthetic):
    estimator = ProximalEstimator(warmup=3, beta=0.2)
    affinity = estimator.fit(synthetic, config=quick_config(max_steps=8), size=0.25).affinity_
    groups = affinity.extra["groups_over_time"]
    assert groups[0] == {"step": 0, "groups": [[t] for t in synthetic.tasks.names]}
    assert all(later["step"] > 3 for later in groups[1:])
    final = affinity.extra["final_groups"]
    assert sorted(t for g in final for t in g) == sorted(synthetic.tasks.names)
    # Every batch steps every group: 3 warm-up batches of 4 singletons, then >= 1 group each.
    assert affinity.n_probes >= 3 * 4 + 5
    assert estimator.result_.extra["groups_over_time"] == groups
    assert affinity.history and affinity.history[-1][0] == 8
    # Reported normalised by self-affinity (what STGU clusters); the raw average is kept.
    raw = np.array(affinity.extra["raw_matrix"])
    positive = np.diag(raw) > 0
    assert positive.any()
    np.testing.assert_allclose(np.diag(affinity.matrix)[positive], 1.0)
    np.testing.assert_allclose(affinity.matrix[:, positive],
                               raw[:, positive] / np.diag(raw)[positive])
    assert ProximalEstimator(normalize=False).get_params()["normalize"] is False


def test_estimator_rides_along_a_users_own_training(synthetic):
    estimator = TagEstimator(every=2)
    Trainer(quick_config(max_steps=4), callbacks=[estimator.callback]).fit(
        small_network(synthetic), synthetic)
    affinity = estimator.affinity()
    assert affinity.n_probes == 2 and affinity.method == "tag"
    assert estimator.cosine_.method == "cs"


def test_fit_accepts_a_custom_model(synthetic):
    model = small_network(synthetic, seed=3)
    estimator = CosineEstimator(every=2).fit(synthetic, config=quick_config(max_steps=2),
                                            model=model)
    assert estimator.model_ is model and estimator.affinity_.n_probes == 1
