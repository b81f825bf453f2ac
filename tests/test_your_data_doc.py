"""docs/your-data.md works as written: its files are written, its Python and commands run.

A block after ``<!-- file: NAME -->`` is written to NAME; a block after ``<!-- run: python -->``
is executed; the ``$ mtlgroup …`` lines of a block after ``<!-- run: shell -->`` are run. All in
a fresh directory, in the order of the page.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app

DOC = Path(__file__).resolve().parents[1] / "docs" / "your-data.md"
BLOCK = re.compile(r"<!-- (file|run): (\S+) -->\n```\w*\n(.*?)```", re.S)


def steps() -> list[tuple[str, str, str]]:
    return BLOCK.findall(DOC.read_text())


def commands(console: str) -> list[list[str]]:
    joined = console.replace("\\\n", " ")
    return [shlex.split(line[2:])[1:] for line in joined.splitlines()
            if line.startswith("$ mtlgroup ")]


def test_the_page_has_both_examples():
    names = [name for kind, name, _ in steps() if kind == "file"]
    assert names == ["table.yaml", "mytasks.py", "mine.yaml"]
    assert sum(kind == "run" and name == "shell" for kind, name, _ in steps()) == 2


@pytest.mark.slow
def test_every_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    runs = []
    for kind, name, body in steps():
        if kind == "file":
            (tmp_path / name).write_text(body)
        elif name == "python":
            exec(compile(body, str(DOC), "exec"), {})
        else:
            for args in commands(body):
                result = runner.invoke(app, args)
                assert result.exit_code == 0, (args, result.output)
                runs.append(args[args.index("--out") + 1])
    assert runs == ["runs/table", "runs/mine"]
    table = json.loads((tmp_path / "runs/table/report.json").read_text())
    assert table["tasks"] == ["sales", "returns", "rating", "category"]
    assert [row["budget"] for row in table["rows"]] == [2.0, 3.0, 4.0]
    assert any(row["feasible"] and row["test_total"] is not None for row in table["rows"])
    mine = json.loads((tmp_path / "runs/mine/report.json").read_text())
    assert mine["tasks"] == ["level", "trend", "alarm"]
