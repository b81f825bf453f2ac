"""--strategy on `mtlgroup study` and `mtlgroup affinity`: used, recorded, bad values refused
before any work."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.study import StudyStore

TINY = ["--dataset", "synthetic", "--tasks", "bright,parity", "--n-train", "32", "--n-val",
        "16", "--n-test", "16", "--image-size", "8", "--max-steps", "2", "--batch-size", "16"]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_study_trains_with_its_strategy(tmp_path):
    result = run("study", *TINY, "--networks", "bright+parity", "--executor", "inline",
                 "--strategy", "stgu:warmup=100", "--out", str(tmp_path), "--no-progress")
    assert result.exit_code == 0, result.output
    with StudyStore(tmp_path / "study.sqlite") as store:
        (record,) = store.jobs("done")
    assert record.spec.strategy == {"name": "stgu", "options": {"warmup": 100}}
    assert record.outcome.optimizer_steps == 2 * record.outcome.batches


def test_bad_strategies_are_one_line_before_any_work(tmp_path, no_work):
    result = run("study", *TINY, "--networks", "bright", "--strategy", "nope",
                 "--out", str(tmp_path / "s"))
    assert result.exit_code == 2 and "unknown strategy 'nope'" in result.output
    assert not (tmp_path / "s" / "study.sqlite").exists()
    result = run("affinity", *TINY, "--method", "proximal", "--strategy", "pcgrad",
                 "--out", str(tmp_path / "a"))
    assert result.exit_code == 2 and "--strategy is for --method tag or cs" in result.output


def test_tag_probes_a_training_of_the_strategy(tmp_path):
    result = run("affinity", *TINY, "--method", "cs", "--every", "1", "--strategy", "stgu",
                 "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "affinity.json").read_text())
    assert sidecar["settings"]["strategy"] == {"name": "stgu", "options": {}}
