"""Each stage runs alone on a run directory, from the values earlier stages saved there."""

from __future__ import annotations

import doctest
import importlib
import json

import pytest
from pipeline_helpers import quiet, tiny_settings

from mtlgroup.pipeline import (
    STAGES,
    BudgetRow,
    PipelineReport,
    Stage,
    StageMissing,
    run_pipeline,
    run_stage,
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, run_pipeline(tiny_settings(), out, echo=quiet)


def test_the_stages_run_in_order_behind_one_interface():
    assert STAGES.names() == ["estimate", "baselines", "select", "finalize", "evaluate",
                              "report"]
    assert all(isinstance(STAGES.get(name), Stage) for name in STAGES.names())


def test_every_stage_saves_its_value(finished):
    out, report = finished
    for name in STAGES.names()[:-1]:
        assert (out / "stages" / f"{name}.json").is_file(), name
    saved = json.loads((out / "stages" / "evaluate.json").read_text())
    assert [BudgetRow.from_dict(row) for row in saved["rows"]] == report.rows
    assert "stages/estimate.json" in report.files


def test_report_reruns_alone_from_a_finished_run(finished):
    out, report = finished
    for name in ("report.json", "report.html", "curve.png", "affinity.png"):
        (out / name).unlink()
    messages: list[str] = []
    again = run_stage("report", tiny_settings(), out, echo=messages.append)
    assert isinstance(again, PipelineReport) and not messages  # nothing trained, nothing said
    assert again.rows == report.rows and again.trainings == report.trainings
    assert again.training_seconds == pytest.approx(report.training_seconds)
    for name in ("report.json", "report.html", "curve.png", "affinity.png"):
        assert (out / name).exists(), name
    assert PipelineReport.from_dict(json.loads((out / "report.json").read_text())).rows == \
        report.rows


def test_select_and_evaluate_rerun_alone_to_the_same_values(finished):
    out, report = finished
    before = json.loads((out / "stages" / "select.json").read_text())
    assert run_stage("select", tiny_settings(), out, echo=quiet) == before
    rows = run_stage("evaluate", tiny_settings(), out, echo=quiet)["rows"]
    assert [BudgetRow.from_dict(row) for row in rows] == report.rows


@pytest.mark.parametrize("stage", ["finalize", "baselines"])
def test_training_stages_rerun_alone_and_train_nothing(finished, stage):
    out, _ = finished
    messages: list[str] = []
    run_stage(stage, tiny_settings(), out, echo=messages.append)
    assert messages and all(" 0 trained" in m for m in messages)


def test_a_stage_without_its_inputs_says_which_to_run_first(tmp_path):
    with pytest.raises(StageMissing, match="run the estimate stage first"):
        run_stage("select", tiny_settings(), tmp_path, echo=quiet)


def test_select_refuses_an_estimate_of_another_estimator(finished):
    out, _ = finished
    with pytest.raises(ValueError, match="written by the hoa estimator"):
        run_stage("select", tiny_settings(estimator="exhaustive"), out, echo=quiet)


@pytest.mark.parametrize("module", ["rows", "estimators", "context", "stages", "report", "run",
                                    ""])
def test_docstring_examples(module):
    name = "mtlgroup.pipeline" + (f".{module}" if module else "")
    assert doctest.testmod(importlib.import_module(name)).failed == 0
