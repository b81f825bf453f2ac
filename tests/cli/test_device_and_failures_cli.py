"""A device that is not there is one line before any job starts, in every command that
trains; a study (or pipeline) whose every job failed for one reason says that reason."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from mtlgroup.cli import app

runner = CliRunner()
SMALL = ["--dataset", "synthetic", "--n-train", "32", "--n-val", "16", "--n-test", "16",
         "--image-size", "8",
         "--max-steps", "2", "--batch-size", "16"]
RUN_CONFIG = """
data: {{dataset: synthetic, tasks: [bright, parity], n_train: 32, n_val: 16, n_test: 16, size: 8}}
training: {{max_steps: 2, batch_size: 16, device: {device}}}
pipeline: {{estimator: hoa, budgets: [1.5], baseline_budgets: [1.5]}}
study: {{executor: inline}}
"""
REASON = "RuntimeError: CUDA error: no kernel image is available for execution on the device"


def command(name: str, tmp_path, device: str) -> list[str]:
    out = str(tmp_path / "out")
    if name == "run":
        config = tmp_path / "run.yaml"
        config.write_text(RUN_CONFIG.format(device=device))
        return ["run", str(config), "--out", out]
    if name == "demo":
        return ["demo", "--quick", "--executor", "local", "--device", device, "--out", out]
    flags = [*SMALL, "--device", device, "--out", out]
    if name == "train":
        return ["train", "--tasks", "bright", *flags]
    if name == "affinity":
        return ["affinity", "--tasks", "bright,parity", *flags]
    return ["study", "--plan", "pairs", "--tasks", "bright,parity", "--executor", "inline",
            "--no-progress", *flags]


@pytest.mark.parametrize("name", ["train", "study", "affinity", "run", "demo"])
def test_an_unavailable_device_is_one_line_before_any_job(tmp_path, monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def fail(*args, **kwargs):
        raise AssertionError("a job started")

    monkeypatch.setattr("mtlgroup.training.trainer.Trainer.fit", fail)
    monkeypatch.setattr("mtlgroup.study.study.Study.run", fail)
    result = runner.invoke(app, command(name, tmp_path, "cuda"))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ("error: device 'cuda' requested but CUDA is not available "
                                     "on this machine; use --device cpu or --device auto")


@pytest.fixture
def every_training_fails(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError(REASON.partition(": ")[2])

    monkeypatch.setattr("mtlgroup.training.trainer.Trainer.fit", fail)


def test_a_study_whose_every_job_failed_alike_says_why_once(tmp_path, every_training_fails):
    result = runner.invoke(app, command("study", tmp_path, "cpu"))
    assert result.exit_code == 1, result.output
    assert "0 trained, 0 already done, 5 failed" in result.output
    assert f"  all 5 jobs failed: {REASON}\n" in result.output
    assert "FAILED" not in result.output


def test_a_pipeline_whose_every_job_failed_alike_says_why(tmp_path, every_training_fails):
    result = runner.invoke(app, command("run", tmp_path, "cpu"))
    assert result.exit_code == 1, result.output
    assert f"error: no val losses: all 5 jobs failed: {REASON}" in result.output
    assert "Traceback" not in result.output
