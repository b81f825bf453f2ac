"""``mtlgroup export`` and ``mtlgroup predict`` from the command line."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.export import load_grouped

runner = CliRunner()


def test_export_then_predict(synthetic_run, tmp_path):
    bundle = tmp_path / "bundle"
    result = runner.invoke(app, ["export", str(synthetic_run), "--budget", "3", "--out",
                                 str(bundle), "--format", "pt2"])
    assert result.exit_code == 0, result.output
    assert "exported 3 networks for 4 tasks at budget 3" in result.output
    assert (bundle / "model.pt2").is_file() and load_grouped(bundle).tasks
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((5, 3, 8, 8), dtype=np.float32))
    result = runner.invoke(app, ["predict", str(bundle), str(tmp_path / "x.npy"), "--out",
                                 str(tmp_path / "p.npz")])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "p.npz")["moments"].shape == (5, 2)


def test_default_out_is_inside_the_run(synthetic_run):
    result = runner.invoke(app, ["export", str(synthetic_run), "--budget", "2"])
    assert result.exit_code == 0, result.output
    assert (synthetic_run / "export-2" / "manifest.json").is_file()


def test_bad_input_is_one_line(synthetic_run, tmp_path):
    for args, message in (
        (["export", str(synthetic_run), "--budget", "9"], "budgets 2, 3"),
        (["export", str(tmp_path), "--budget", "2"], "no stages/select.json"),
        (["export", str(synthetic_run), "--budget", "3", "--out", str(tmp_path / "b"),
          "--format", "gif"], "unknown format 'gif'"),
        (["predict", str(tmp_path), str(tmp_path / "x.npy")], "not an export bundle"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_dense_maps_ask_for_an_npz_and_write_nothing(tmp_path, synthetic_run):
    """The default output is a CSV beside the input; the synthetic tasks include dense maps,
    which a CSV cannot hold: one line with the hint, and no file."""
    bundle = tmp_path / "bundle"
    assert runner.invoke(app, ["export", str(synthetic_run), "-b", "2", "-o", str(bundle)]
                         ).exit_code == 0
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 8, 8), dtype=np.float32))
    result = runner.invoke(app, ["predict", str(bundle), str(tmp_path / "x.npy")])
    assert result.exit_code == 2 and "write --out FILE.npz" in result.output
    assert not (tmp_path / "x.npy.predictions.csv").exists()
