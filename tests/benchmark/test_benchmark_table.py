"""The benchmark table: Δm over seeds against the single-task networks, serving by
validation loss, failed seeds, and its files."""

from __future__ import annotations

import json
import statistics

import pytest

from mtlgroup.benchmark import BenchmarkPlan, build_table
from mtlgroup.benchmark.table import Trained, served_scores
from mtlgroup.delta_m import TaskMetric, delta_m

METRICS = {"a": TaskMetric("a", "loss", True), "b": TaskMetric("b", "accuracy", False)}


def net(name, val, test, cost=1.0, batches=10, steps=10, wall=1.0):
    tasks = name.split("+")
    return Trained(name, {t: {"loss": val[t]} for t in tasks},
                   {t: {"loss": test[t][0], "accuracy": test[t][1]} for t in tasks},
                   cost, batches, steps, wall)


def singles(seed_shift):
    return [net("a", {"a": 1.0}, {"a": (1.0 + seed_shift, 0.0)}),
            net("b", {"b": 1.0}, {"b": (0.0, 0.5 + seed_shift)})]


RUNS = {
    "single-task": {0: singles(0.0), 1: singles(0.1)},
    "joint": {0: [net("a+b", {"a": 0.9, "b": 0.9}, {"a": (0.9, 0.0), "b": (0.0, 0.6)})],
              1: [net("a+b", {"a": 0.9, "b": 0.9}, {"a": (1.0, 0.0), "b": (0.0, 0.5)})]},
}


def test_delta_m_per_seed_against_the_mean_single_task_networks():
    table = build_table(["single-task", "joint"], RUNS, METRICS)
    reference = {"a": 1.05, "b": 0.55}
    expected = [delta_m({"a": 0.9, "b": 0.6}, reference, {"a": True, "b": False}).overall,
                delta_m({"a": 1.0, "b": 0.5}, reference, {"a": True, "b": False}).overall]
    joint = table.row("joint")
    assert joint.delta_m_per_seed == pytest.approx(dict(enumerate(expected)))
    assert joint.delta_m == pytest.approx(statistics.fmean(expected))
    assert joint.delta_m_std == pytest.approx(statistics.stdev(expected))
    # the reference is the singles' mean, so their own Δm averages to zero over seeds
    assert table.row("single-task").delta_m == pytest.approx(0.0, abs=1e-12)
    assert table.row("single-task").delta_m_std > 0  # and their spread is the seed noise
    assert table.row("single-task").batches == 20 and joint.batches == 10


def test_each_task_is_served_by_its_lowest_validation_loss_not_test():
    good_val = net("a+b", {"a": 0.5, "b": 0.9}, {"a": (2.0, 0.0), "b": (0.0, 0.1)})
    good_test = net("a", {"a": 0.6}, {"a": (0.1, 0.0)})
    served = served_scores([good_val, good_test], ["a", "b"])
    assert served["a"]["loss"] == 2.0 and served["b"]["accuracy"] == 0.1


def test_a_seed_that_does_not_serve_every_task_is_left_out_and_said():
    runs = {**RUNS, "joint": {**RUNS["joint"], 1: []}}
    row = build_table(["single-task", "joint"], runs, METRICS).row("joint")
    assert row.seeds == [0] and "seeds 1 left out" in row.note


def test_no_reference_no_delta_m():
    row = build_table(["joint"], {"joint": RUNS["joint"]}, METRICS).row("joint")
    assert row.delta_m is None and "no single-task reference" in row.note


def test_files_and_text(tmp_path):
    table = build_table(["single-task", "joint"], RUNS, METRICS, {"dataset": "x"})
    paths = table.write(tmp_path)
    saved = json.loads(paths["json"].read_text())
    assert [r["method"] for r in saved["rows"]] == ["single-task", "joint"]
    assert saved["metrics"]["b"] == {"name": "accuracy", "lower_is_better": False}
    lines = paths["csv"].read_text().splitlines()
    assert lines[0].startswith("method,delta_m,delta_m_std,delta_m_seed0,delta_m_seed1")
    markdown = paths["md"].read_text()
    assert markdown.startswith("| method | Δm % (mean ± std) | a loss ↓ | b accuracy ↑ |")
    assert "positive = better" in table.format()
    with pytest.raises(KeyError, match="no method 'x'"):
        table.row("x")


def test_plan_rows_and_bad_plans():
    plan = BenchmarkPlan(("a", "b"), ("joint", "cagrad:c=0.4"), (0,))
    assert [m.label for m in plan.methods()] == ["single-task", "joint", "cagrad:c=0.4",
                                                 "grouping"]
    assert plan.methods()[2].strategy == {"name": "cagrad", "options": {"c": 0.4}}
    with pytest.raises(ValueError, match="strategy joint is listed twice"):
        BenchmarkPlan(("a", "b"), ("joint", {"name": "joint"}), (0,))
    with pytest.raises(ValueError, match="at least two tasks"):
        BenchmarkPlan(("a",), ("joint",), (0,))
    with pytest.raises(ValueError, match="seeds must differ"):
        BenchmarkPlan(("a", "b"), ("joint",), (0, 0))
