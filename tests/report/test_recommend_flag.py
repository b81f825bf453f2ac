"""``--recommend-budget`` of ``mtlgroup run`` and ``demo`` (and ``pipeline.recommend_budget``):
a budget that is not one of the run's is one line naming the key, before anything is written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.config import ConfigError, Settings, parse_config

runner = CliRunner()

CONFIG = """
data: {dataset: synthetic, tasks: [bright, parity], n_train: 32, n_val: 16, n_test: 16, size: 8}
training: {max_steps: 2, batch_size: 16, device: cpu}
pipeline: {budgets: [1.5, 2.5]}
study: {executor: inline}
"""


def test_the_budget_asked_for_must_be_one_of_the_budgets():
    good = parse_config({"pipeline": {"budgets": [1, 2.5], "recommend_budget": 2.5}}, Settings)
    assert good.pipeline.recommend_budget == 2.5
    with pytest.raises(ConfigError, match=r"pipeline\.recommend_budget: 3\.0 is not one of the "
                       r"budgets \(1\.0, 2\.5\)"):
        parse_config({"pipeline": {"budgets": [1, 2.5], "recommend_budget": 3.0}}, Settings)


def test_run_refuses_a_budget_it_does_not_run(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(config), "--out", str(out),
                                 "--recommend-budget", "2"])
    assert result.exit_code == 2, result.output
    assert ("--recommend-budget (pipeline.recommend_budget): 2.0 is not one of the budgets "
            "(1.5, 2.5)") in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_demo_refuses_a_budget_it_does_not_run(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--quick", "--out", str(out), "--device", "cpu",
                                 "--recommend-budget", "7"])
    assert result.exit_code == 2, result.output
    assert "--recommend-budget" in result.output and "7.0 is not one of the budgets" in \
        result.output
    assert not out.exists()
