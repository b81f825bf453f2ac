from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app

runner = CliRunner()
SMALL = ["--dataset", "synthetic", "--n-train", "64", "--n-val", "16", "--n-test", "16",
         "--epochs", "1", "--batch-size", "16", "--device", "cpu"]


def test_train_writes_result_and_prints_a_table(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--tasks", "bright,parity", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    written = json.loads((out / "result.json").read_text())
    assert written["tasks"] == ["bright", "parity"]
    assert set(written["test"]) == {"bright", "parity"}
    assert (out / "model.pt").exists()
    for task in ("bright", "parity", "total"):
        assert task in result.output
    assert f"{written['test']['parity']['loss']:.4f}" in result.output


def test_named_task_set_expands(tmp_path):
    result = runner.invoke(app, ["train", "--tasks", "set:all", "--out", str(tmp_path), *SMALL])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "result.json").read_text())["tasks"] == [
        "bright", "parity", "moments", "contrast"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--dataset", "nope", "--tasks", "a"], "unknown dataset 'nope'; available: "),
        (["--dataset", "synthetic", "--tasks", "bright,color"],
         "unknown task 'color'; valid tasks: bright, parity, moments, contrast"),
        (["--dataset", "synthetic", "--tasks", " , "], "the task list is empty"),
        (["--dataset", "synthetic", "--tasks", "bright,bright"], "task listed twice: bright"),
        (["--dataset", "synthetic", "--tasks", "bright", "--size", "0"], "bad --size 0.0"),
        (["--dataset", "synthetic", "--tasks", "set:9"], "unknown task set 'set:9'"),
        (["--dataset", "synthetic", "--tasks", "bright", "--optimizer", "lbfgs"], "optimizer"),
        (["--dataset", "synthetic", "--tasks", "bright", "--strategy", "magic"],
         "unknown strategy 'magic'; available: joint, stgu"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    result = runner.invoke(app, ["train", "--out", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_datasets_lists_tasks_and_task_sets():
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0, result.output
    for word in ("scenes", "synthetic", "semseg", "keypoints2d", "curvature",
                 "semseg,depth,normals,keypoints2d,edges2d"):
        assert word in result.output


def test_a_diverging_training_is_one_line_and_exit_code_1(tmp_path):
    result = runner.invoke(app, ["train", "--tasks", "bright", "--lr", "1e30", "--out",
                                 str(tmp_path), *SMALL])
    assert result.exit_code == 1, result.output
    assert "error: loss of task 'bright' is" in result.output and "Traceback" not in result.output


def test_stgu_strategy_is_available_from_a_fresh_import():
    import subprocess
    import sys

    code = ("from mtlgroup.training import available_strategies, create_strategy; "
            "print(available_strategies(), type(create_strategy('stgu')).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "stgu" in out.stdout


def test_train_with_selective_group_updates(tmp_path):
    result = runner.invoke(app, ["train", "--tasks", "all", "--strategy", "stgu", "--out",
                                 str(tmp_path), *SMALL])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "result.json").read_text())
    assert set(written["test"]) == {"bright", "parity", "moments", "contrast"}
    groups = written["extra"]["groups_over_time"]
    assert groups and all(sorted(t for g in entry["groups"] for t in g) == sorted(written["test"])
                          for entry in groups)
