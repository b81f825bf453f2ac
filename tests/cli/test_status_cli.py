"""`mtlgroup status` and `mtlgroup study --keep-weights/--prune` on tiny real studies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.study import Candidate, StudyStore
from mtlgroup.study.jobs import JobSpec
from mtlgroup.study.store import current_owner

runner = CliRunner()
TINY = ["--dataset", "synthetic", "--n-train", "32", "--n-val", "16", "--n-test", "16",
        "--image-size", "8", "--max-steps", "2", "--batch-size", "16", "--device", "cpu",
        "--executor", "inline", "--no-progress"]


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    """One ESA study of `bright` kept with `full` (its short runs keep no weights), then the
    ESA plan of `bright,parity` kept with `all` in the same store (three more short runs)."""
    out = tmp_path_factory.mktemp("study")
    first = invoke("study", *TINY, "--tasks", "bright", "--plan", "esa", "--networks", "bright",
                   "--keep-weights", "full", "--out", out)
    assert first.exit_code == 0, first.output
    with StudyStore(out / "study.sqlite") as store:
        assert [r.network for r in store.jobs() if store.weights.has(r.key)] == ["bright"]
    second = invoke("study", *TINY, "--tasks", "bright,parity", "--plan", "esa",
                    "--keep-weights", "all", "--out", out)
    assert second.exit_code == 0, second.output
    return out


def test_status_json_agrees_with_the_store(study_dir):
    result = invoke("status", study_dir, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    with StudyStore(study_dir / "study.sqlite") as store:
        sizes = store.weights_sizes()
        assert data["counts"] == store.counts() == {"pending": 0, "running": 0, "done": 6,
                                                    "failed": 0}
        done_time = sum(r.wall_time for r in store.jobs("done"))
    (setting,) = data["settings"]
    weights = setting["weights"]
    assert (weights["files"], weights["bytes"]) == (len(sizes), sum(sizes.values())) == (
        4, data["weights"]["bytes"])
    assert weights["done_without_weights"] == 2  # the short runs of the `full` study
    assert weights["largest"]["bytes"] == max(sizes.values())
    assert setting["done"]["training_seconds"] == pytest.approx(done_time)
    assert setting["done"]["remaining_seconds_estimate"] == 0


def test_status_lines_show_running_failed_and_pending_jobs(study_dir, tmp_path):
    store_path = tmp_path / "watched.sqlite"
    specs = [JobSpec.create(Candidate((t,)), "synthetic", {}, {"max_steps": 2})
             for t in ("bright", "parity", "moments")]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with StudyStore(store_path) as store:
        store.add_jobs(specs)
        store.claim(specs[0].key, f"{current_owner().rsplit(':', 1)[0]}:{dead.pid}")
        store.claim(specs[1].key)
        store.record_failure(specs[1].key, "FloatingPointError: loss is nan\nTraceback ...")
    result = invoke("status", tmp_path)  # a directory holding one store
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert lines[0] == f"store {store_path}: 3 jobs: 1 pending, 1 running, 0 done, 1 failed"
    assert any(line.startswith("running bright: ") and "owner gone: stale" in line
               for line in lines)
    assert "failed parity (1 attempts): FloatingPointError: loss is nan" in lines
    assert "pending: moments" in lines
    assert "Traceback" not in result.output


def test_prune_dry_run_lists_then_prune_removes_what_the_study_no_longer_needs(
        study_dir, tmp_path):
    study_dir = shutil.copytree(study_dir, tmp_path / "copy")
    with StudyStore(study_dir / "study.sqlite") as store:
        before = store.weights_sizes()
        full = {r.key for r in store.jobs() if r.candidate.is_full_budget}
    gone = sum(size for key, size in before.items() if key not in full)
    preview = invoke("study", "--out", study_dir, "--prune", "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert f"would remove 3 weight files, {gone / 1e6:.2f} MB:" in preview.output
    assert "parity (20% budget)" in preview.output
    with StudyStore(study_dir / "study.sqlite") as store:
        assert store.weights_sizes() == before
    pruned = invoke("study", "--out", study_dir, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert f"removed 3 weight files, {gone / 1e6:.2f} MB freed" in pruned.output
    assert f"kept 1 networks, {before[next(iter(full))] / 1e6:.2f} MB" in pruned.output
    with StudyStore(study_dir / "study.sqlite") as store:
        assert set(store.weights_sizes()) == full & set(before)
    again = invoke("study", "--out", study_dir, "--prune")
    assert "removed 0 weight files, 0.00 MB freed" in again.output


@pytest.mark.parametrize("args,message", [
    (["status", "{tmp}/nowhere"], "{tmp}/nowhere: no such file or directory; expected a run "
     "directory"),
    (["status", "{tmp}/nowhere/study.sqlite", "--json"], "no such file or directory"),
    (["status", "{tmp}"], "{tmp}: no study store in this directory"),
    (["study", "--out", "{tmp}/nowhere", "--prune"], "{tmp}/nowhere: no such file"),
    (["study", "--out", "{tmp}", "--dry-run", "--plan", "all"], "--dry-run goes with --prune"),
    (["study", "--prune"], "--prune needs the study's directory: give --out DIR"),
    (["study", "--out", "{tmp}", "--plan", "all", "--keep-weights", "some"],
     "study.keep_weights"),
])
def test_bad_input_is_one_line_exit_2_and_creates_nothing(tmp_path, args, message):
    result = invoke(*(a.format(tmp=tmp_path) for a in args))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message.format(tmp=tmp_path) in lines[0]
    assert list(tmp_path.iterdir()) == []
