"""Δm (ALGORITHMS §6): its properties, and a two-task case computed by hand."""

import math
import random

import pytest

from mtlgroup.data import load_dataset
from mtlgroup.delta_m import (
    TaskMetric,
    delta_m,
    delta_m_of_scores,
    metric_values,
    task_metric,
    task_metrics,
)
from mtlgroup.tasks import ACCURACY_METRIC, ANGLE_METRIC, L1_METRIC, Task


def random_case(n: int, seed: int):
    rng = random.Random(seed)
    tasks = [f"t{i}" for i in range(n)]
    values = {t: rng.uniform(0.1, 2.0) for t in tasks}
    single = {t: rng.uniform(0.1, 2.0) for t in tasks}
    lower = {t: rng.random() < 0.5 for t in tasks}
    return values, single, lower


@pytest.mark.parametrize("seed", range(5))
def test_zero_against_itself(seed):
    values, _, lower = random_case(4, seed)
    found = delta_m(values, values, lower)
    assert found.overall == 0.0 and set(found.per_task.values()) == {0.0}


@pytest.mark.parametrize("seed", range(5))
def test_the_sign_flips_with_the_direction(seed):
    values, single, lower = random_case(4, seed)
    flipped = delta_m(values, single, {t: not d for t, d in lower.items()})
    found = delta_m(values, single, lower)
    assert flipped.overall == pytest.approx(-found.overall)
    for task, value in found.per_task.items():
        assert flipped.per_task[task] == pytest.approx(-value)


@pytest.mark.parametrize("seed", range(5))
def test_invariant_under_task_permutation(seed):
    values, single, lower = random_case(5, seed)
    order = list(lower)
    random.Random(seed).shuffle(order)
    permuted = delta_m(values, single, {t: lower[t] for t in order})
    assert permuted.overall == pytest.approx(delta_m(values, single, lower).overall)


def test_better_on_every_task_is_positive():
    lower = {"loss_task": True, "acc_task": False}
    found = delta_m({"loss_task": 0.5, "acc_task": 0.9}, {"loss_task": 1.0, "acc_task": 0.6},
                    lower)
    assert all(v > 0 for v in found.per_task.values()) and found.overall > 0


def test_two_tasks_by_hand():
    # depth (lower is better): 0.30 against 0.25 alone is 20% worse: -20.
    # semseg accuracy (higher is better): 0.66 against 0.60 alone is 10% better: +10.
    # Δm = (-20 + 10) / 2 = -5.
    found = delta_m({"depth": 0.30, "semseg": 0.66}, {"depth": 0.25, "semseg": 0.60},
                    {"depth": True, "semseg": False})
    assert found.per_task["depth"] == pytest.approx(-20.0)
    assert found.per_task["semseg"] == pytest.approx(10.0)
    assert found.overall == pytest.approx(-5.0)


def test_a_zero_or_missing_reference_is_an_error_naming_the_task():
    with pytest.raises(ValueError, match="task b's single-task value is 0.0"):
        delta_m({"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 0.0}, {"a": True, "b": True})
    with pytest.raises(ValueError, match="no value of task b for the model"):
        delta_m({"a": 1.0}, {"a": 1.0, "b": 1.0}, {"a": True, "b": True})


def test_headline_metric_and_its_direction():
    normals = Task("normals", "dense", 3, "l1", (L1_METRIC, ANGLE_METRIC))
    seg = Task("seg", "dense", 4, "cross_entropy", (ACCURACY_METRIC,))
    edges = Task("edges", "dense", 1, "l2")
    assert task_metric(normals) == TaskMetric("normals", "angle_deg", True)
    assert task_metric(seg) == TaskMetric("seg", "accuracy", False)
    assert task_metric(edges) == TaskMetric("edges", "loss", True)
    assert task_metric(seg, "loss") == TaskMetric("seg", "loss", True)
    assert task_metric(normals, {"normals": "l1"}).name == "l1"
    with pytest.raises(ValueError, match="task seg has no metric 'iou'; expected one of: "
                       "loss, accuracy"):
        task_metric(seg, "iou")


def test_scores_of_a_dataset_and_a_bad_mapping():
    data = load_dataset("synthetic", n_train=8, n_val=8, n_test=8)
    metrics = task_metrics(data.tasks, ["parity", "moments"])
    assert [(m.name, m.lower_is_better) for m in metrics.values()] == [
        ("accuracy", False), ("loss", True)]
    with pytest.raises(ValueError, match="given for 'bright', which is not one of the tasks"):
        task_metrics(data.tasks, ["parity"], {"bright": "loss"})
    scores = {"parity": {"loss": 0.7, "accuracy": 0.5}, "moments": {"loss": 2.0}}
    single = {"parity": {"loss": 0.6, "accuracy": 0.4}, "moments": {"loss": 1.0}}
    found = delta_m_of_scores(scores, single, metrics)
    assert found.overall == pytest.approx((25.0 - 100.0) / 2)
    assert found.to_dict()["metrics"]["parity"] == {"name": "accuracy",
                                                     "lower_is_better": False}
    with pytest.raises(ValueError, match="task moments: no 'accuracy'"):
        metric_values({"moments": {"loss": 1.0}},
                      {"moments": TaskMetric("moments", "accuracy", False)})
    assert math.isfinite(found.overall)
