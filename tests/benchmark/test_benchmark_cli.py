"""`mtlgroup benchmark` end to end on tiny synthetic data: two seeds, two strategies, the
grouping; its files, resuming, and bad input before any work."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app

TINY = ["--dataset", "synthetic", "--tasks", "bright,parity", "--n-train", "32", "--n-val",
        "16", "--n-test", "16", "--image-size", "8", "--max-steps", "2", "--batch-size", "16",
        "--size", "0.25", "--grouping-every", "1", "--executor", "inline", "--no-progress"]


def run(*args: str):
    return CliRunner().invoke(app, ["benchmark", *args])


def test_a_tiny_benchmark_writes_its_table_and_resumes(tmp_path):
    out = tmp_path / "bench"
    result = run(*TINY, "--strategies", "joint,uw", "--seeds", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = json.loads((out / "benchmark.json").read_text())
    rows = {r["method"]: r for r in table["rows"]}
    assert list(rows) == ["single-task", "joint", "uw", "grouping"]
    assert all(r["seeds"] == [0, 1] and r["delta_m"] is not None for r in rows.values())
    assert rows["single-task"]["batches"] == 2 * rows["joint"]["batches"]  # two networks
    assert table["metrics"]["parity"] == {"name": "accuracy", "lower_is_better": False}
    assert table["settings"]["seeds"] == [0, 1]
    for name in ("benchmark.csv", "benchmark.md", "delta_m.png", "study.sqlite"):
        assert (out / name).exists()
    assert "Δm % (mean ± std)" in result.output and "grouping" in result.output
    again = run(*TINY, "--strategies", "joint,uw", "--seeds", "2", "--out", str(out))
    assert again.exit_code == 0 and "0 trained" in again.output  # the store kept them all
    assert json.loads((out / "benchmark.json").read_text())["rows"] == table["rows"]


@pytest.fixture
def no_work(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr("mtlgroup.training.trainer.Trainer.fit", fail)


def test_an_unknown_strategy_lists_the_valid_ones(tmp_path, no_work):
    result = run(*TINY, "--strategies", "joint,nope", "--out", str(tmp_path / "b"))
    assert result.exit_code == 2
    assert "unknown strategy 'nope'" in result.output and "pcgrad" in result.output
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("args, message", [
    (["--seeds", "two"], "bad --seeds 'two'"),
    (["--grouping", "hoa"], "benchmark.grouping"),
    (["--metric", "iou"], "task bright has no metric 'iou'"),
])
def test_bad_input_is_one_line(tmp_path, no_work, args, message):
    result = run(*TINY, *args, "--out", str(tmp_path / "b"))
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_help_explains():
    result = CliRunner().invoke(app, ["benchmark", "--help"])
    assert result.exit_code == 0
    for text in ("--strategies", "--seeds", "single-task", "optimizer steps", "Δm"):
        assert text in result.output
