"""A Ctrl-C stops a command cleanly and says what was kept, where, and the command line that
resumes; exit code 130. Running that command line again trains only what is missing."""

from __future__ import annotations

import shlex
import sys

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app

runner = CliRunner()
SMALL = ["--dataset", "synthetic", "--n-train", "32", "--n-val", "16", "--n-test", "16",
         "--image-size", "8",
         "--max-steps", "2", "--batch-size", "16", "--device", "cpu"]


@pytest.fixture
def ctrl_c_at_training(monkeypatch):
    """Trainings 1 .. n-1 run; the n-th gets a KeyboardInterrupt (as from Ctrl-C)."""
    from mtlgroup.training.trainer import Trainer

    real_fit = Trainer.fit
    calls = []

    def arm(n: int) -> None:
        def fit(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return real_fit(self, *args, **kwargs)

        monkeypatch.setattr(Trainer, "fit", fit)

    return arm


def invoke(monkeypatch, args: list[str]):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/mtlgroup", *args])
    return runner.invoke(app, args)


def test_an_interrupted_study_says_what_it_kept_and_how_to_resume(tmp_path, monkeypatch,
                                                                   ctrl_c_at_training):
    out = tmp_path / "my study"
    args = ["study", "--networks", "bright,parity", "--tasks", "bright,parity", "--executor",
            "inline", "--no-progress", "--out", str(out), *SMALL]
    ctrl_c_at_training(2)
    result = invoke(monkeypatch, args)
    assert result.exit_code == 130, result.output
    resume = shlex.join(["mtlgroup", *args])
    assert result.output.strip().splitlines()[-1] == (
        f"interrupted: 1 of 2 jobs done and kept in {out / 'study.sqlite'}; "
        f"resume with: {resume}")
    assert "Traceback" not in result.output

    monkeypatch.undo()  # no more interrupts: the same command line finishes the study
    again = runner.invoke(app, shlex.split(resume)[1:])
    assert again.exit_code == 0, again.output
    assert "1 trained, 1 already done, 0 failed" in again.output


def test_an_interrupted_pipeline_names_its_store(tmp_path, monkeypatch, ctrl_c_at_training):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {dataset: synthetic, tasks: [bright, parity], n_train: 32, n_val: 16, "
        "n_test: 16, size: 8}\ntraining: {max_steps: 2, batch_size: 16, device: cpu}\n"
        "pipeline: {estimator: hoa, budgets: [1.5], baseline_budgets: [1.5]}\n"
        "study: {executor: inline}\n")
    ctrl_c_at_training(1)
    out = tmp_path / "run"
    result = invoke(monkeypatch, ["run", str(config), "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert (f"interrupted: 0 of 5 jobs done and kept in {out / 'study.sqlite'}; resume with: "
            f"mtlgroup run {config} --out {out}") in result.output


def test_an_interrupted_training_says_nothing_was_written(tmp_path, monkeypatch,
                                                          ctrl_c_at_training):
    ctrl_c_at_training(1)
    args = ["train", "--tasks", "bright", "--out", str(tmp_path / "t"), *SMALL]
    result = invoke(monkeypatch, args)
    assert result.exit_code == 130, result.output
    assert result.output.strip() == ("interrupted: nothing was written (the work was not "
                                     f"finished); run again: {shlex.join(['mtlgroup', *args])}")
