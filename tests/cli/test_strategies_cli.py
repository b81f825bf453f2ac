"""`mtlgroup strategies` and `mtlgroup train --strategy NAME:OPTIONS`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.training import available_strategies

runner = CliRunner()


def test_strategies_lists_every_strategy_as_a_table_and_as_json():
    table = runner.invoke(app, ["strategies"])
    assert table.exit_code == 0, table.output
    assert all(name in table.output for name in available_strategies())
    listed = json.loads(runner.invoke(app, ["strategies", "--json"]).output)
    assert sorted(entry["name"] for entry in listed) == available_strategies()
    cagrad = next(entry for entry in listed if entry["name"] == "cagrad")
    assert cagrad["kind"] == "aggregator" and cagrad["source"] == "torchjd"
    assert cagrad["options"] == {"c": 0.4, "norm_eps": 0.0001}


def test_train_with_a_strategy_and_its_options(tmp_path):
    pytest.importorskip("torchjd")
    out = tmp_path / "run"
    args = ["train", "--dataset", "synthetic", "--tasks", "all", "--out", str(out),
            "--size", "0.25", "--max-steps", "2", "--batch-size", "8", "--n-train", "16",
            "--n-val", "8", "--n-test", "8", "--device", "cpu"]
    result = runner.invoke(app, [*args, "--strategy", "pcgrad"])
    assert result.exit_code == 0, result.output
    assert (out / "result.json").exists()
    bad = runner.invoke(app, [*args, "--strategy", "cagrad:cc=1"])
    assert bad.exit_code == 2 and "unknown option(s) cc" in bad.output


def test_train_takes_the_strategy_of_its_config_and_the_flag_wins(tmp_path):
    pytest.importorskip("torchjd")
    config = tmp_path / "train.yaml"
    config.write_text("strategy: uw\n")
    args = ["train", "--config", str(config), "--dataset", "synthetic", "--tasks", "all",
            "--size", "0.25", "--max-steps", "2", "--batch-size", "8", "--n-train", "16",
            "--n-val", "8", "--n-test", "8", "--device", "cpu"]

    def extra(out, *flags):
        result = runner.invoke(app, [*args, "--out", str(out), *flags])
        assert result.exit_code == 0, result.output
        return json.loads((out / "result.json").read_text())["extra"]

    # uw weighs the losses (and says so); the joint sum records no weights
    assert "weights_over_time" in extra(tmp_path / "from-config")
    assert "weights_over_time" not in extra(tmp_path / "flag", "--strategy", "joint")
