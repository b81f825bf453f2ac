"""A run directory holds one run's report: a run of another estimator into it is refused
before any work, naming the estimator already there and the flag to use instead."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.pipeline.run import check_run_directory

runner = CliRunner()


def earlier_run(out, estimator: str = "hoa"):
    (out / "stages").mkdir(parents=True)
    (out / "stages" / "estimate.json").write_text(json.dumps({"estimator": estimator}))
    (out / "report.json").write_text(json.dumps({"estimator": estimator}))


def test_demo_of_another_estimator_does_not_overwrite_the_report(tmp_path, no_work):
    out = tmp_path / "demo-run"
    earlier_run(out)
    result = runner.invoke(app, ["demo", "--quick", "--estimator", "tag", "--device", "cpu",
                                 "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"error: {out} holds a run of the hoa estimator ({out / 'stages' / 'estimate.json'}); "
        f"this run of tag would overwrite its report: give another run directory "
        f"(--out {tmp_path / 'demo-run-tag'}), or delete {out} to start over")
    assert json.loads((out / "report.json").read_text()) == {"estimator": "hoa"}
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "stages"]


def test_the_same_estimator_or_a_fresh_directory_may_run(tmp_path):
    check_run_directory(tmp_path / "new", "tag")
    earlier_run(tmp_path / "old", "esa")
    check_run_directory(tmp_path / "old", "esa")  # resuming, or another recommend_budget
    with pytest.raises(ValueError, match="holds a run of the esa estimator"):
        check_run_directory(tmp_path / "old", "hoa")
