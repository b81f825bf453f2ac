from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mtlgroup.cli.study  # noqa: F401  (registers the command)
from mtlgroup.cli import app
from mtlgroup.study import StudyStore

runner = CliRunner()
TINY = ["--dataset", "synthetic", "--n-train", "32", "--n-val", "16", "--n-test", "16",
        "--image-size", "8", "--max-steps", "4", "--batch-size", "16", "--device", "cpu",
        "--no-progress"]
THREE = ["--tasks", "bright,parity,moments"]



def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_study_trains_the_plan_and_writes_tables_then_resumes(tmp_path):
    out = tmp_path / "study"
    args = ["study", *THREE, "--plan", "pairs", "--executor", "local", "--workers", "2",
            "--out", str(out), *TINY]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "9 trained, 0 already done, 0 failed" in result.output
    assert "bright+moments" in result.output  # the per-network table
    assert (out / "study.sqlite").exists()
    val = rows(out / "tables" / "val.csv")
    assert len(val) == 3 + 3 + 2 * 3  # halves, singles, 3 pairs of 2 tasks: one row per task
    assert sorted({r["network"] for r in rows(out / "tables" / "early.csv")}) == sorted(
        {r["network"] for r in val})
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "0 trained, 9 already done, 0 failed" in again.output
    with StudyStore(out / "study.sqlite") as store:
        assert {(r.attempts, r.completions) for r in store.jobs()} == {(1, 1)}


def test_a_yaml_config_sets_the_study_and_flags_win(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text(
        "data:\n  dataset: synthetic\n  tasks: [moments, bright]\n  n_train: 32\n  n_val: 16\n"
        "  n_test: 16\n  image_size: 8\n"
        "training:\n  max_steps: 3\n  batch_size: 16\n  lr: 0.002\n  device: cpu\n"
        f"study:\n  plan: all\n  executor: inline\nout: {tmp_path / 'from-yaml'}\n"
    )
    result = runner.invoke(app, ["study", "--config", str(config), "--max-steps", "2",
                                 "--networks", "bright@0.25", "--no-progress"])
    assert result.exit_code == 0, result.output
    with StudyStore(tmp_path / "from-yaml" / "study.sqlite") as store:
        records = store.jobs()
    assert [r.network for r in records] == ["bright/2", "moments/2", "bright", "moments",
                                            "bright+moments", "bright@0.25"]
    config_used = records[0].spec.train_config
    assert (config_used["max_steps"], config_used["lr"]) == (2, 0.002)
    assert all(r.outcome.steps == 2 for r in records)


def test_a_failing_job_is_reported_and_the_exit_code_is_1(tmp_path):
    config = tmp_path / "nan.yaml"
    config.write_text("training:\n  loss_weights: {parity: .nan}\n")  # NaN loss for parity
    result = runner.invoke(app, ["study", "--config", str(config), *THREE, "--plan", "pairs",
                                 "--executor", "inline", "--out", str(tmp_path / "s"), *TINY])
    assert result.exit_code == 1, result.output
    assert "5 trained, 0 already done, 4 failed" in result.output
    assert "FAILED parity: NonFiniteLossError: loss of task 'parity' is nan" in result.output
    assert {r["network"] for r in rows(tmp_path / "s" / "tables" / "val.csv")} == {
        "bright/2", "moments/2", "bright", "moments", "bright+moments"}


@pytest.mark.parametrize(
    "args,yaml_text,message",
    [
        (["--plan", "every"], None, "unknown plan 'every'; available: all, pairs, esa"),
        (["--plan", "all", "--executor", "slurm"], None,
         "unknown executor 'slurm'; available: inline, local, ray"),
        (["--plan", "all", "--address", "auto"], None, "--address is for the ray executor"),
        ([], "training:\n  epoch: 3\n", "training.epoch: unknown key; expected one of: epochs"),
        ([], "training:\n  epochs: ten\n", "training.epochs: expected an integer, got 'ten'"),
        ([], "study:\n  workers: [2]\n", "study.workers: expected an integer, got [2]"),
        ([], "study: {plan: all\n", "not valid YAML"),
        ([], "- a list\n", "expected a mapping of sections at the top level"),
        ([], None, "nothing to train: give --plan"),
        (["--plan", "all", "--tasks", "bright,colour"], None, "unknown task 'colour'"),
        (["--networks", "bright+nope"], None, "unknown task 'nope'"),
        (["--plan", "all", "--cost", "latency"], None, "study.cost"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, yaml_text, message):
    extra = ["--out", str(tmp_path / "out")]
    if yaml_text is not None:
        (tmp_path / "c.yaml").write_text(yaml_text)
        extra += ["--plan", "all", "--config", str(tmp_path / "c.yaml")]
    result = runner.invoke(app, ["study", *THREE, *TINY, *extra, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1


def test_an_output_directory_is_required(tmp_path):
    result = runner.invoke(app, ["study", *THREE, *TINY, "--plan", "all"])
    assert result.exit_code == 2 and "no output directory: give --out DIR" in result.output


# The kill test runs the real command in a child process and kills it with SIGKILL.
COMMAND = [sys.executable, "-c",
           "import mtlgroup.cli.study; from mtlgroup.cli import main; main()", "study",
           "--dataset", "synthetic", *THREE, "--plan", "all", "--executor", "local",
           "--workers", "2", "--n-train", "64", "--n-val", "32", "--n-test", "32",
           "--image-size", "16", "--max-steps", "30", "--batch-size", "16", "--device", "cpu",
           "--no-progress"]


def done_rows(path: Path) -> dict[str, tuple]:
    try:
        with sqlite3.connect(path, timeout=30) as db:
            found = db.execute("SELECT key, finished_at, outcome, completions FROM jobs "
                               "WHERE status = 'done'").fetchall()
    except sqlite3.DatabaseError:  # the store is not created yet
        return {}
    return {key: rest for key, *rest in found for rest in [tuple(rest)]}


def test_a_study_killed_mid_way_resumes_and_trains_each_job_once(tmp_path):
    out = tmp_path / "killed"
    store = out / "study.sqlite"
    driver = subprocess.Popen([*COMMAND, "--out", str(out)], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not done_rows(store):
            assert driver.poll() is None, driver.stderr.read().decode()
            assert time.monotonic() < deadline, "no job finished in time"
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        first = done_rows(store)
        assert 1 <= len(first) < 10, "the study must be killed mid-way"
        # Resumed in this process: the same command, without a second interpreter start.
        finished = runner.invoke(app, [*COMMAND[3:], "--out", str(out)])
        assert finished.exit_code == 0, finished.output
        assert f"{10 - len(first)} trained, {len(first)} already done, 0 failed" in \
            finished.output
    finally:
        try:  # the killed driver's workers exit by themselves; make sure of it
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    after = done_rows(store)
    assert len(after) == 10
    assert all(after[key] == row for key, row in first.items())  # first results untouched
    assert {row[2] for row in after.values()} == {1}  # every job's result recorded once
    with StudyStore(store) as opened:
        assert opened.counts() == {"pending": 0, "running": 0, "done": 10, "failed": 0}
    assert len(rows(out / "tables" / "val.csv")) == 3 + 3 + 2 * 3 + 3
