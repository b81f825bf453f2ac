"""Every command checks where it will write before any work starts: an ``--out`` that is a
file, lies under a file or is read-only (and a scenes cache that cannot be written) is one
``error:`` line naming the path and exit code 2, and nothing is trained."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app

runner = CliRunner()
SMALL = ["--dataset", "synthetic", "--n-train", "32", "--n-val", "16", "--n-test", "16",
         "--image-size", "8",
         "--max-steps", "2", "--batch-size", "16", "--device", "cpu"]
RUN_CONFIG = """
data: {dataset: synthetic, tasks: [bright, parity], n_train: 32, n_val: 16, n_test: 16, size: 8}
training: {max_steps: 2, batch_size: 16, device: cpu}
pipeline: {estimator: hoa, budgets: [1.5], baseline_budgets: [1.5]}
study: {executor: inline}
"""
VAL = Path(__file__).resolve().parents[1] / "data" / "standley2020" / "setting1_val.csv"


def command(name: str, out: Path, tmp_path: Path) -> list[str]:
    if name == "train":
        return ["train", "--tasks", "bright", "--out", str(out), *SMALL]
    if name == "study":
        return ["study", "--plan", "pairs", "--tasks", "bright,parity", "--executor", "inline",
                "--out", str(out), *SMALL]
    if name == "affinity":
        return ["affinity", "--tasks", "bright,parity", "--out", str(out), *SMALL]
    if name == "run":
        config = tmp_path / "run.yaml"
        config.write_text(RUN_CONFIG)
        return ["run", str(config), "--out", str(out)]
    if name == "demo":
        return ["demo", "--quick", "--device", "cpu", "--out", str(out)]
    assert name == "select"
    return ["select", str(VAL), "--budgets", "1:3:1", "--plot", str(out / "curve.png")]


COMMANDS = ["train", "study", "affinity", "run", "demo", "select"]


@pytest.mark.parametrize("name", COMMANDS)
def test_an_out_that_is_a_file_is_one_line_before_any_work(tmp_path, name, no_work):
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    result = runner.invoke(app, command(name, taken, tmp_path))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert f"{taken}" in result.output and "is a file" in result.output
    assert taken.read_text() == "not a directory"


@pytest.mark.parametrize("name", COMMANDS)
def test_an_out_under_a_file_is_one_line_before_any_work(tmp_path, name, no_work):
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    result = runner.invoke(app, command(name, taken / "run", tmp_path))
    assert result.exit_code == 2, result.output
    assert "error: cannot create --" in result.output
    assert f"{taken} is a file" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="chmod does not stop root (or non-POSIX users) from writing")
@pytest.mark.parametrize("name", COMMANDS)
def test_a_read_only_out_is_one_line_before_any_work(tmp_path, name, no_work):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = runner.invoke(app, command(name, locked / "run", tmp_path))
        assert result.exit_code == 2, result.output
        assert f"{locked} is not writable" in result.output
        assert "Traceback" not in result.output
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("name", ["train", "study", "run"])
def test_a_folder_that_refuses_files_is_one_line_even_as_root(tmp_path, name, monkeypatch,
                                                               no_work):
    import tempfile

    def refuse(*args, **kwargs):  # what a read-only folder (or mount) answers
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    result = runner.invoke(app, command(name, tmp_path / "run", tmp_path))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"error: cannot create --out {tmp_path / 'run'}: "
                                     f"{tmp_path} is not writable (Permission denied)")


def test_an_unwritable_scenes_cache_is_one_line_before_any_work(tmp_path, monkeypatch,
                                                                 no_work):
    blocker = tmp_path / "cache-file"
    blocker.write_text("")
    monkeypatch.setenv("MTLGROUP_CACHE", str(blocker))
    result = runner.invoke(app, command("demo", tmp_path / "demo", tmp_path))
    assert result.exit_code == 2, result.output
    assert "scenes cache ($MTLGROUP_CACHE)" in result.output
    assert f"{blocker} is a file" in result.output and not (tmp_path / "demo").exists()


def test_a_writable_out_is_left_alone_until_the_work_needs_it(tmp_path):
    from mtlgroup.cli.options import check_writable

    out = tmp_path / "a" / "b"
    assert check_writable(out) == out and not (tmp_path / "a").exists()
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
