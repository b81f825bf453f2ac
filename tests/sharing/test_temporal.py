"""Temporal reuse over a clip: exact at τ = 0, bounded per layer, cheaper as τ grows."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
import torch
from torch import nn

from mtlgroup.cost import count_flops
from mtlgroup.data.clips import scene_clip
from mtlgroup.models.vit import vit_network
from mtlgroup.sharing import temporal
from mtlgroup.sharing.deltas import delta_between, subtask_network
from mtlgroup.sharing.sparse import kept_entries, threshold_dropping
from mtlgroup.sharing.temporal import (
    TemporalDeltaRunner,
    TemporalLinear,
    evaluate_clip,
    subtask_runner,
    threshold_for_sparsity,
)

SIZE = 16
TASKS = ("semseg", "depth")


@pytest.fixture(scope="module")
def clip():
    return scene_clip(seed=1, frames=6, size=SIZE, speed=0.05)


@pytest.fixture(scope="module")
def network(clip):
    torch.manual_seed(0)
    net = vit_network(clip.tasks.subset(TASKS), (3, SIZE, SIZE), base_width=16, depth=2)
    return net.eval()


def _full(network, frames):
    """Every frame processed alone by the plain forward."""
    with torch.no_grad():
        outputs = [network(frame[None]) for frame in frames]
    return {t: torch.cat([o[t] for o in outputs]) for t in network.tasks}


def test_zero_threshold_reproduces_full_processing(network, clip):
    run = TemporalDeltaRunner(network, thresholds=0.0).run(clip.images)
    full = _full(network, clip.images)
    assert run.key_frames == [0]
    for task in TASKS:
        assert torch.equal(run.outputs[task][0], full[task][0])  # the key frame: exactly
        torch.testing.assert_close(run.outputs[task], full[task], rtol=1e-5, atol=1e-5)
    assert run.flops[0] == run.full_flops
    assert all(f <= run.full_flops for f in run.flops)


def test_full_flops_are_the_counters_dense_count(network, clip):
    run = TemporalDeltaRunner(network, 0.0, key_every=1).run(clip.images)
    assert run.full_flops == count_flops(network, (3, SIZE, SIZE)).total
    assert run.flops == [run.full_flops] * len(clip)


def test_key_every_one_is_full_processing(network, clip):
    run = TemporalDeltaRunner(network, thresholds=0.5, key_every=1).run(clip.images)
    full = _full(network, clip.images)
    assert run.key_frames == list(range(len(clip)))
    assert all(torch.equal(run.outputs[t], full[t]) for t in TASKS)


def test_key_frames_repeat_and_run_exactly(network, clip):
    run = TemporalDeltaRunner(network, thresholds=0.05, key_every=3).run(clip.images)
    full = _full(network, clip.images)
    assert run.key_frames == [0, 3]
    for index in run.key_frames:
        assert run.flops[index] == run.full_flops
        assert all(torch.equal(run.outputs[t][index], full[t][index]) for t in TASKS)


def test_static_clip_costs_only_the_non_linear_parts(network, clip):
    frames = clip.images[:1].repeat(4, 1, 1, 1)
    run = TemporalDeltaRunner(network, thresholds=0.0).run(frames)
    assert run.linear_flops[0] > 0 and run.linear_flops[1:] == [0, 0, 0]
    non_linear = run.full_flops - run.linear_flops[0]
    assert run.flops[1:] == [non_linear] * 3
    assert all(kept == 0.0 for kept in run.kept.values())
    for task in TASKS:
        assert all(torch.equal(out, run.outputs[task][0]) for out in run.outputs[task])


def test_each_layer_is_within_its_bound_of_the_exact_product():
    torch.manual_seed(1)
    layer = nn.Linear(12, 7)
    tau = 0.05
    bound = tau * float(layer.weight.detach().abs().sum(dim=1).max())
    fn = TemporalLinear(thresholds={"fc": tau})
    x = torch.randn(1, 5, 12)
    worst = 0.0
    with torch.no_grad():
        for step in range(30):  # a slow random walk: many changes below τ accumulate
            fn.start_frame(key=step == 0)
            y = fn("fc", layer, x)
            error = float((y - layer(x)).abs().max())
            worst = max(worst, error)
            assert error <= bound + 1e-5
            assert bool(((x - fn.x_ref["fc"]).abs() < tau).all())
            x = x + 0.02 * torch.randn_like(x)
    assert worst > 0  # the bound was exercised, not trivially met


def test_flops_fall_as_the_threshold_grows(network, clip):
    ratios, changes = [], []
    full = _full(network, clip.images)
    for tau in (0.0, 0.01, 0.05, 0.2, 1.0):
        run = TemporalDeltaRunner(network, thresholds=tau).run(clip.images)
        ratios.append(run.flop_ratio)
        changes.append(max(float((run.outputs[t] - full[t]).abs().max()) for t in TASKS))
    assert all(a >= b for a, b in pairwise(ratios)), ratios
    assert ratios[-1] < ratios[0] <= 1.0
    assert changes[0] < 1e-4 < changes[-1]


def test_exact_updates_of_sparse_changes_match_the_dense_product():
    torch.manual_seed(2)
    layer = nn.Linear(9, 4)
    fn = TemporalLinear(thresholds=0.0)
    x = torch.randn(1, 6, 9)
    with torch.no_grad():
        fn.start_frame(key=True)
        fn("fc", layer, x)
        for _ in range(3):
            x = x + torch.randn_like(x) * (torch.rand_like(x) < 0.3)
            fn.start_frame(key=False)
            torch.testing.assert_close(fn("fc", layer, x), layer(x))
            assert fn.flops["fc"] == 2 * fn.kept["fc"] * layer.out_features < fn.dense_flops["fc"]


def test_calibrated_thresholds_drop_about_the_target_fraction(network, clip):
    loose = threshold_for_sparsity(network, clip.images, 0.5)
    tight = threshold_for_sparsity(network, clip.images, 0.9)
    assert set(tight) == set(network.encoder.linear_names)
    assert all(tight[n] >= loose[n] for n in tight)
    run = TemporalDeltaRunner(network, tight).run(clip.images)
    # the first frame's changes are dropped as calibrated; later ones accumulate past τ
    assert all(kept < 0.5 for kept in run.kept.values()), run.kept


def test_subtask_runner_reuses_the_subtasks_own_network(network, clip):
    torch.manual_seed(3)
    other = vit_network(clip.tasks.subset(["depth"]), (3, SIZE, SIZE), base_width=16, depth=2)
    delta = delta_between(network, other, "depth")
    run = subtask_runner(network, delta, thresholds=0.0).run(clip.images)
    own = _full(subtask_network(network, delta).eval(), clip.images)
    torch.testing.assert_close(run.outputs["depth"], own["depth"], rtol=1e-5, atol=1e-5)


def test_evaluate_clip_scores_temporal_against_full(network, clip):
    exact = evaluate_clip(network, clip, TASKS, thresholds=0.0)
    assert exact.full.keys() == exact.temporal.keys() == set(TASKS)
    assert {"loss", "accuracy"} <= set(exact.full["semseg"])
    for task in TASKS:
        for metric, value in exact.full[task].items():
            assert exact.temporal[task][metric] == pytest.approx(value, abs=1e-4)
    coarse = evaluate_clip(network, clip, TASKS, thresholds=0.2)
    assert coarse.flop_ratio < exact.flop_ratio <= 1.0
    assert coarse.full == exact.full
    assert coarse.output_change["depth"] > exact.output_change["depth"]
    summary = json.loads(json.dumps(coarse.summary()))
    assert summary["flop_ratio"] == pytest.approx(coarse.flop_ratio)
    assert len(summary["flops"]) == len(clip)


def test_bad_arguments_are_refused(network):
    with pytest.raises(ValueError, match="key_every"):
        TemporalDeltaRunner(network, 0.1, key_every=0)
    with pytest.raises(ValueError, match="unknown linear"):
        TemporalDeltaRunner(network, {"blocks.9.qkv": 0.1})
    with pytest.raises(ValueError, match=">= 0"):
        TemporalDeltaRunner(network, -1.0)


@pytest.mark.parametrize(("changes", "sparsity", "dropped"), [
    ([0.1, 0.1, 0.1, 0.1, 1.0], 0.5, 4),  # ties with the quantile are dropped with it
    ([0.1, 0.1, 0.1, 0.1, 1.0], 0.9, 5),
    ([0.0, 0.0, 0.3, 0.2], 0.5, 2),  # only the unchanged entries: τ = 0
    ([0.5, 0.2, 0.4, 0.3], 0.0, 0),
])
def test_calibrated_threshold_drops_ties_with_the_quantile(network, clip, monkeypatch, changes,
                                                            sparsity, dropped):
    values = torch.tensor(changes)
    monkeypatch.setattr(temporal, "temporal_deltas", lambda net, frames: {"fc": values})
    tau = threshold_for_sparsity(network, clip.images, sparsity)["fc"]
    assert int((~kept_entries(values, tau)).sum()) == dropped
    assert tau == threshold_dropping(values, sparsity)


def test_threshold_dropping_is_the_smallest_that_drops_the_fraction():
    torch.manual_seed(5)
    values = torch.randint(0, 6, (200,)).float() / 5  # many ties, some zeros
    for fraction in (0.0, 0.1, 0.25, 0.5, 0.77, 1.0):
        tau = threshold_dropping(values, fraction)
        assert float((values < tau).float().mean()) >= fraction or tau == 0.0
        smaller = values[values < tau]
        if smaller.numel() and tau > 0:  # any lower cut drops less than the fraction
            assert float((values < smaller.max()).float().mean()) < fraction
