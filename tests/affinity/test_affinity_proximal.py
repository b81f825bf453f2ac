"""Proximal affinity samples (the paper's rules), the moving average, and the grouping."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mtlgroup.affinity import ProximalAffinityTracker, group_tasks, proximal_samples

TASKS = ("a", "b", "c")
ONES = dict.fromkeys(TASKS, 1.0)


def test_a_group_step_is_shared_among_its_sources():
    after = {"a": 0.6, "b": 0.9, "c": 1.1}
    samples = proximal_samples(TASKS, ["a", "b"], ONES, after)
    gains = np.array([0.4, 0.1, -0.1]) / 2  # divided by the group's size
    np.testing.assert_allclose(samples[0], gains)
    np.testing.assert_allclose(samples[1], gains)
    assert np.isnan(samples[2]).all()  # c did not step: no sample with c as source


def test_self_samples_count_only_when_non_negative():
    samples = proximal_samples(TASKS, ["c"], ONES, {"a": 0.9, "b": 1.0, "c": 1.2})
    assert np.isnan(samples[2, 2])
    np.testing.assert_allclose(samples[2, :2], [0.1, 0.0])


def test_opposite_effects_inside_a_group_count_as_conflict():
    # a improves, b gets worse, both in the stepping group: each sees -max(a_t, a_s).
    samples = proximal_samples(TASKS, ["a", "b"], ONES, {"a": 0.8, "b": 1.1, "c": 1.0})
    assert samples[0, 1] == pytest.approx(-0.1)  # -max(-0.05, 0.1)
    assert samples[1, 0] == pytest.approx(-0.1)
    assert samples[0, 0] == pytest.approx(0.1)
    assert np.isnan(samples[1, 1])  # b's own change is negative: skipped


def test_a_target_without_a_usable_loss_gives_no_sample():
    samples = proximal_samples(TASKS, ["a"], {"a": 1.0, "b": 0.0, "c": float("nan")}, ONES)
    assert np.isnan(samples[0, 1:]).all() and samples[0, 0] == 0.0
    with pytest.raises(ValueError, match="subset"):
        proximal_samples(TASKS, ["z"], ONES, ONES)


def test_moving_average_converges_to_a_constant_sample():
    tracker = ProximalAffinityTracker(TASKS, beta=0.1)
    for _ in range(200):
        tracker.update(["a"], ONES, {"a": 0.5, "b": 0.75, "c": 1.25})
    np.testing.assert_allclose(tracker.matrix[0], [0.5, 0.25, -0.25], atol=1e-8)
    np.testing.assert_array_equal(tracker.matrix[1:], 0.0)
    assert tracker.n_updates == 200


def _block_affinity(blocks: list[list[int]], n: int, rng: np.random.Generator) -> np.ndarray:
    matrix = rng.uniform(-0.05, 0.05, (n, n))
    for block in blocks:
        for i, j in itertools.product(block, block):
            matrix[i, j] = 1.0 + rng.uniform(0, 0.1)
    return matrix


def test_grouping_recovers_planted_blocks_in_any_task_order():
    rng = np.random.default_rng(0)
    names = [f"t{i}" for i in range(6)]
    matrix = _block_affinity([[0, 3], [1, 4, 5], [2]], 6, rng)
    expected = {frozenset({"t0", "t3"}), frozenset({"t1", "t4", "t5"}), frozenset({"t2"})}
    assert {frozenset(g) for g in group_tasks(matrix, names)} == expected
    order = list(rng.permutation(6))
    permuted = group_tasks(matrix[np.ix_(order, order)], [names[i] for i in order])
    assert {frozenset(g) for g in permuted} == expected


def test_grouping_gives_up_on_unusable_input():
    assert group_tasks(np.full((3, 3), np.nan), TASKS) is None
