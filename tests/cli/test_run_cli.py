from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.export import load_grouped, read_manifest

runner = CliRunner()

CONFIG = """
data:
  dataset: synthetic
  tasks: [bright, parity, moments]
  n_train: 32
  n_val: 16
  n_test: 16
  size: 8
training:
  max_steps: 2
  batch_size: 16
  device: cpu
pipeline:
  estimator: hoa
  budgets: [1.5, 2.5]
  baseline_budgets: [2.5]
study:
  executor: inline
out: {out}
"""


def test_run_from_yaml_writes_the_report_and_prints_the_tradeoff(tmp_path):
    out = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG.format(out=out))
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["tasks"] == ["bright", "parity", "moments"]
    assert [row["budget"] for row in report["rows"]] == [1.5, 2.5]
    assert "test total loss by inference budget" in result.output
    assert (out / "report.html").exists() and (out / "curve.png").exists()
    # Trained and reused are told apart: a second run of the same settings trains nothing.
    trainings = report["trainings"]
    assert f"{trainings} networks used ({trainings} trained by this run, 0 reused" in result.output
    again = runner.invoke(app, ["run", str(config)])
    assert f"{trainings} networks used (0 trained by this run, {trainings} reused" in again.output
    compared = [row for row in report["rows"]
                if row["feasible"] and row["all_task_total"] is not None]
    assert compared  # budget 2.5 has baselines
    for row in compared:  # one sentence per feasible budget, its percentages from totals
        change = (row["test_total"] - row["all_task_total"]) / row["all_task_total"] * 100
        assert (f"budget {row['budget']:g}: train {', '.join(row['networks'])}; test total "
                f"loss {change:+.1f}% against one all-task network") in again.output


@pytest.mark.parametrize(
    "change,message",
    [
        (("pipeline:", "pipeline:\n  colour: red"), "pipeline.colour"),
        (("max_steps: 2", "max_steps: two"), "training.max_steps: expected an integer"),
        (("estimator: hoa", "estimator: magic"), "unknown estimator 'magic'"),
        (("executor: inline", "executor: inline\n  plan: all"), "study: plan: not used"),
    ],
)
def test_bad_config_names_the_key(tmp_path, change, message):
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG.format(out=tmp_path / "run").replace(*change))
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_missing_config_file_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "nope.yaml" in result.output


def test_demo_quick_smoke(tmp_path):
    """`mtlgroup demo --quick` end to end on scenes (the smoke test of `make test`)."""
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--quick", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["tasks"] == ["semseg", "depth", "normals", "edges2d", "keypoints2d"]
    assert [row["budget"] for row in report["rows"]] == [1.0 + 0.5 * i for i in range(9)]
    feasible = [row for row in report["rows"] if row["feasible"]]
    assert feasible and all(row["test_total"] is not None for row in feasible)
    with_baselines = [row for row in report["rows"] if row["all_task_total"] is not None]
    assert with_baselines and all(row["independent_total"] is not None for row in with_baselines)
    for name in ("report.html", "curve.png", "affinity.png", "tables/val.csv"):
        assert (out / name).exists(), name
    # It ends with the command that exports its recommendation; that command works, and the
    # bundle loads and answers for every task.
    command = next(line.split(": ", 1)[1] for line in result.output.splitlines()
                   if line.startswith("export the chosen networks: "))
    words = shlex.split(command)
    assert words[:2] == ["mtlgroup", "export"]
    exported = runner.invoke(app, words[1:])
    assert exported.exit_code == 0, exported.output
    bundle = Path(words[words.index("--out") + 1])
    model = load_grouped(bundle)
    outputs = model(torch.zeros(2, 3, 32, 32))
    assert sorted(outputs) == sorted(report["tasks"])
    assert set(report["recommendation"]["networks"]) == {
        n["name"] for n in read_manifest(bundle)["networks"]}
