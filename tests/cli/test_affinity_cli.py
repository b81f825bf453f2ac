"""``mtlgroup affinity``: files written, matrix printed, bad input refused with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import mtlgroup.cli.affinity  # noqa: F401  (registers the command)
from mtlgroup.affinity import Affinity
from mtlgroup.cli import app

runner = CliRunner()
SMALL = ["--dataset", "synthetic", "--n-train", "32", "--n-val", "8", "--n-test", "8",
         "--image-size", "8", "--max-steps", "4", "--batch-size", "16", "--device", "cpu",
         "--size", "0.25"]
ANCHOR = Path(__file__).parents[1] / "data" / "standley2020" / "setting1_val.csv"




@pytest.mark.parametrize("method,extra", [("tag", ["--every", "2", "--step", "optimizer"]),
                                          ("cs", ["--every", "1"]),
                                          ("proximal", ["--warmup", "2"])])
def test_each_method_writes_csv_sidecar_and_heat_map(tmp_path, method, extra):
    out = tmp_path / method
    result = runner.invoke(app, ["affinity", "--tasks", "bright,parity,moments",
                                 "--method", method, "--out", str(out), *SMALL, *extra])
    assert result.exit_code == 0, result.output
    affinity = Affinity.from_csv(out / "affinity.csv")
    assert affinity.tasks == ("bright", "parity", "moments") and affinity.method == method
    assert affinity.result is not None and affinity.result.steps == 4
    assert json.loads((out / "affinity.json").read_text())["method"] == method
    assert (out / "affinity.png").stat().st_size > 0
    assert "row = source" in result.output
    assert f"{affinity.matrix[0, 1]:.4g}" in result.output
    if method == "proximal":
        assert "groups over time" in result.output


def test_pairwise_from_a_loss_table(tmp_path):
    result = runner.invoke(app, ["affinity", "--method", "pairwise", "--table", str(ANCHOR),
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    affinity = Affinity.from_csv(tmp_path / "affinity.csv")
    assert affinity.method == "pairwise" and affinity.n_probes == 20
    assert np.isfinite(affinity.matrix).all()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--method", "hoa"], "unknown --method 'hoa'"),
        (["--method", "pairwise"], "needs --table"),
        (["--method", "tag", "--table", "x.csv"], "--table is for --method pairwise"),
        (["--tasks", "bright"], "at least two tasks"),
        (["--tasks", "bright,colour"], "unknown task 'colour'"),
        (["--step", "newton"], "unknown lookahead step 'newton'"),
        (["--method", "proximal", "--beta", "0"], "beta must be in (0, 1]"),
        (["--method", "pairwise", "--table", "missing.csv"], "missing.csv does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    result = runner.invoke(app, ["affinity", "--out", str(tmp_path), *SMALL, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
