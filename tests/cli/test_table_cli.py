"""A table from the command line: bad input is one line naming the file and column, exit 2,
and nothing written (not even the run directory)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.data.table import write_example_table

runner = CliRunner()


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "data.csv"
    write_example_table(path, n_rows=300, seed=0)
    text = path.read_text().splitlines()
    constant = tmp_path_factory.mktemp("table") / "constant.csv"
    header = text[0] + ",flat"
    constant.write_text("\n".join([header, *(line + ",1.0" for line in text[1:])]) + "\n")
    return path, constant


def config_for(tmp_path, path, targets: str, extra: str = "") -> str:
    config = tmp_path / "run.yaml"
    config.write_text(f"data:\n  dataset: table\n  path: {path}\n  targets: [{targets}]\n{extra}"
                      "model: mlp\npipeline:\n  budgets: [2]\n")
    return str(config)


@pytest.mark.parametrize("targets,message", [
    ("sales, nope", "nope"),
    ("sales, returns, rating, category, flat", "'flat'"),
])
def test_bad_targets_fail_in_one_line_and_write_nothing(tmp_path, table, targets, message):
    _, constant = table
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", config_for(tmp_path, constant, targets), "--out",
                                 str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert str(constant) in lines[0] and not out.exists()


def test_a_missing_table_file_is_named(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", config_for(tmp_path, tmp_path / "absent.csv", "a"),
                                 "--out", str(out)])
    assert result.exit_code == 2 and "absent.csv" in result.output and not out.exists()


def test_a_loader_option_the_table_does_not_take_is_named(tmp_path, table):
    path, _ = table
    result = runner.invoke(app, ["run", config_for(tmp_path, path, "sales", "  colour: red\n")])
    assert result.exit_code == 2
    assert "data: dataset 'table' has no option 'colour'" in result.output


def test_study_names_the_table_with_data_flags(tmp_path, table):
    path, _ = table
    result = runner.invoke(app, ["study", "--dataset", "table", "--data", f"path={path}",
                                 "--data", "targets=[sales, returns, rating, category]",
                                 "--model", "mlp", "--networks", "sales+returns,rating",
                                 "--max-steps", "2", "--executor", "inline", "--device", "cpu",
                                 "--out", str(tmp_path / "study"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "2 trained" in result.output and (tmp_path / "study/tables/val.csv").exists()


def test_a_network_with_an_unknown_task_writes_no_store(tmp_path):
    out = tmp_path / "study"
    result = runner.invoke(app, ["study", "--dataset", "synthetic", "--networks",
                                 "bright+nope", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "--networks bright+nope: unknown task 'nope'; valid tasks: bright" in result.output
    assert not out.exists()
