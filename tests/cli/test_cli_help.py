"""`mtlgroup --version`, and help texts whose paragraphs flow (no line break mid-sentence from
a docstring's layout) with the arguments named in capitals in the usage line."""

from __future__ import annotations

import inspect
import re

import pytest
from typer.testing import CliRunner

import mtlgroup
from mtlgroup.cli import app

COMMANDS = {info.name: info.callback for info in app.registered_commands}


def _help(*args: str) -> str:
    # Wide enough that no paragraph is wrapped by the width: a break left is the docstring's.
    result = CliRunner().invoke(app, [*args, "--help"], terminal_width=1000,
                                max_content_width=1000)
    assert result.exit_code == 0, result.output
    return result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"mtlgroup {mtlgroup.__version__}\n"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_paragraph_of_a_command_help_is_one_line(command: str) -> None:
    lines = {line.strip() for line in _help(command).splitlines()}
    for paragraph in inspect.getdoc(COMMANDS[command]).split("\n\n"):
        assert " ".join(paragraph.split()) in lines, paragraph


def test_the_app_help_is_one_line_and_lists_every_command() -> None:
    found = _help()
    assert " ".join(app.info.help.split()) in found.splitlines()[2]
    assert "--version" in found and all(f"  {name}  " in found for name in COMMANDS)


def test_usage_lines_name_arguments_by_their_metavar() -> None:
    assert "Usage: mtlgroup run [OPTIONS] {CONFIG}" in _help("run")
    for command in COMMANDS:
        arguments = _help(command).splitlines()[0].partition("[OPTIONS]")[2]
        assert not re.search(r"[{\[][a-z]", arguments), (command, arguments)
