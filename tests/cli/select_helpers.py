"""Running ``mtlgroup select`` in-process, shared by the select CLI tests."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner, Result

import mtlgroup.cli.select  # noqa: F401  (registers the command)
from mtlgroup.cli.app import app


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["select", *args])


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
