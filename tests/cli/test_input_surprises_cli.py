"""Input that used to be accepted silently or answered misleadingly (issue 13, "Surprises"):
each case is exit code 2 and one ``error:`` line that names the file or the flag."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import mtlgroup.cli.run  # noqa: F401  (registers the commands)
import mtlgroup.cli.select  # noqa: F401
import mtlgroup.cli.study  # noqa: F401
from mtlgroup.cli.app import app


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def assert_one_error_line(result, *names: str) -> str:
    """Exit 2, no traceback, stderr is one ``error:`` line holding every one of ``names``."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("text", ["", "# just a comment\n", "null\n"])
@pytest.mark.parametrize("command", [["run"], ["study", "--config"]])
def test_an_empty_config_is_an_error_naming_the_file(tmp_path: Path, text, command) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    result = invoke(*command, str(path), "--out", str(tmp_path / "out"))
    assert_one_error_line(result, f"{path}: empty config")
    assert not (tmp_path / "out").exists()
