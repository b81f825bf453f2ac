"""Progress where stderr is not a terminal (CI, nohup, a file): one line per finished job and a
summary per stage instead of a bar that shows nothing; --no-progress turns it off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mtlgroup.cli  # noqa: F401  (registers the commands)
from mtlgroup.cli.app import app
from mtlgroup.progress import progress_mode

TINY_STUDY = ["study", "--dataset", "synthetic", "--n-train", "16", "--n-val", "8",
              "--n-test", "8", "--image-size", "8", "--max-steps", "1", "--batch-size", "8",
              "--device", "cpu", "--executor", "inline", "--networks", "bright,parity"]
JOB_LINE = re.compile(r"^study \(inline.*\) \[(\d)/2\] (bright|parity) done in \d+\.\d s, "
                      r"val loss \d+\.\d{4}$")


def test_without_a_terminal_progress_is_lines(monkeypatch) -> None:
    monkeypatch.delenv("MTLGROUP_PROGRESS", raising=False)
    assert progress_mode() == "lines"  # pytest's stderr is captured: no terminal
    assert progress_mode(False) is None
    monkeypatch.setenv("MTLGROUP_PROGRESS", "0")
    assert progress_mode() is None and progress_mode(True) == "lines"


@pytest.mark.parametrize("flag", [None, "--progress", "--no-progress"])
def test_a_study_in_a_log_prints_a_line_per_job_and_a_summary(
    tmp_path: Path, monkeypatch, flag: str | None
) -> None:
    if flag != "--progress":  # the flag wins over the variable (0 in the tests' conftest)
        monkeypatch.delenv("MTLGROUP_PROGRESS", raising=False)
    args = [*TINY_STUDY, "--out", str(tmp_path / "study"), *([flag] if flag else [])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    if flag == "--no-progress":
        assert lines == []
        return
    jobs = [JOB_LINE.match(line) for line in lines[:2]]
    assert all(jobs), lines
    assert [m[1] for m in jobs] == ["1", "2"] and {m[2] for m in jobs} == {"bright", "parity"}
    assert re.fullmatch(r"study \(inline.*\): 2/2 in \d+\.\d s", lines[2]), lines
    assert len(lines) == 3, lines
