"""Δm in a pipeline run: each baseline budget's choice and all-task network against that
budget's independent single-task networks, in evaluate.json, report.json and report.html."""

from __future__ import annotations

import json

import pytest
from pipeline_helpers import DATA, quiet, tiny_settings

from mtlgroup.delta_m import delta_m
from mtlgroup.pipeline import run_pipeline
from mtlgroup.study.store import StudyStore


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("delta_m")
    settings = tiny_settings(data={"dataset": "synthetic", "tasks": ["bright", "parity"],
                                   **DATA}, budgets=[1.5, 2.0], baseline_budgets=[2.0])
    return out, run_pipeline(settings, out, echo=quiet)


def test_delta_m_is_recomputed_from_the_store(run):
    out, report = run
    row = next(r for r in report.rows if r.budget == 2.0)
    with StudyStore(out / "study.sqlite") as store:
        test = {r.network: r.outcome.scores["test"] for r in store.jobs("done")
                if r.outcome is not None and r.candidate.is_full_budget}
    plan = json.loads((out / "stages" / "baselines.json").read_text())["budgets"][0]
    # bright's headline metric is l1 (lower is better), parity's accuracy (higher)
    metric = {"bright": ("l1", True), "parity": ("accuracy", False)}
    reference = {t: test[n][t][metric[t][0]] for t, n in plan["independent"].items()}
    chosen = {t: test[n][t][metric[t][0]] for t, n in row.served_by.items()}
    all_task = {t: test[plan["all_task"]][t][metric[t][0]] for t in metric}
    lower = {t: m[1] for t, m in metric.items()}
    assert row.delta_m == pytest.approx(delta_m(chosen, reference, lower).overall)
    assert row.all_task_delta_m == pytest.approx(delta_m(all_task, reference, lower).overall)
    assert set(row.delta_m_per_task) == {"bright", "parity"}
    other = next(r for r in report.rows if r.budget == 1.5)
    assert other.delta_m is None  # no baselines at that budget: nothing to compare with


def test_the_report_states_the_metric(run):
    out, report = run
    saved = json.loads((out / "report.json").read_text())
    assert saved["delta_m"]["metrics"]["parity"] == {"name": "accuracy",
                                                      "lower_is_better": False}
    assert "independent single-task networks" in saved["delta_m"]["against"]
    assert any(r["delta_m"] is not None for r in saved["rows"])
    page = (out / "report.html").read_text()
    assert "Δm % chosen" in page and "parity accuracy (higher is better)" in page
