"""The command line starts fast: commands that do not train never import torch, and help is
quick. Measured in a fresh interpreter, since this test session has imported torch already."""

from __future__ import annotations

import json
import subprocess
import sys

HELP_SECONDS = 1.5
"""A loose bound (the aim is 0.5 s) so that a loaded machine does not fail the test."""

_PROBE = """
import json, sys, time
start = time.perf_counter()
from typer.testing import CliRunner
import mtlgroup.cli
runner = CliRunner()
codes = [runner.invoke(mtlgroup.cli.app, args).exit_code
         for args in (["--help"], ["select", "--help"])]
seconds = time.perf_counter() - start
missing = runner.invoke(mtlgroup.cli.app, ["select", "missing.csv", "--budget", "2"])
commands = sorted(c.name for c in mtlgroup.cli.app.registered_commands)
codes += [runner.invoke(mtlgroup.cli.app, [c, "--help"]).exit_code for c in commands]
print(json.dumps({"seconds": seconds, "codes": codes, "missing": [missing.exit_code,
                  missing.output], "torch": "torch" in sys.modules, "commands": commands}))
"""


def _probe(cwd) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_help_and_bad_input_start_fast_without_torch(tmp_path) -> None:
    found = _probe(tmp_path)
    if found["seconds"] >= HELP_SECONDS:  # a busy moment of a shared machine: measure again
        found["seconds"] = min(found["seconds"], _probe(tmp_path)["seconds"])
    print(f"import + `mtlgroup --help` + `select --help`: {found['seconds']:.2f} s")
    assert {"select", "run", "study", "train"} <= set(found["commands"])
    assert set(found["codes"]) == {0}
    code, output = found["missing"]
    assert code == 2 and "missing.csv does not exist" in output
    assert not found["torch"], "a command that does not train imported torch"
    assert found["seconds"] < HELP_SECONDS


def test_help_quotes_the_schema_defaults_once_the_command_is_chosen() -> None:
    from typer.testing import CliRunner

    from mtlgroup.cli import app
    from mtlgroup.config import Settings

    found = CliRunner().invoke(app, ["train", "--help"]).output
    assert "{default" not in found
    assert f"(default {Settings().training.epochs})" in " ".join(found.split())
