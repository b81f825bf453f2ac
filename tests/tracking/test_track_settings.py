"""Track values: one-line errors for bad ones and missing packages, before anything trains; the
defaults a run directory gives."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.cli.options import load_settings, overrides
from mtlgroup.config import ConfigError, Settings, parse_config
from mtlgroup.tracking import (
    TrackerUnavailable,
    TrackingError,
    open_tracker,
    resolve_track,
    track_request,
)

runner = CliRunner()
TRAIN = ["train", "--dataset", "synthetic", "--tasks", "bright", "--n-train", "16",
         "--max-steps", "1", "--device", "cpu"]


@pytest.mark.parametrize("value,message", [
    ("wandb", "config: track: unknown tracker 'wandb'; available: mlflow, tensorboard"),
    (3, "config: track: expected a string or a mapping, got 3"),
    ({"kind": "mlflow", "dir": "x"},
     "config: track: unknown key 'dir' for mlflow; expected: uri, experiment, artifacts"),
    ({"uri": "sqlite:///x.db"}, "config: track: a mapping needs kind: mlflow or tensorboard"),
    ({"kind": "tensorboard", "dir": 5}, "config: track: dir: expected a non-empty string"),
])
def test_a_bad_track_value_is_one_line_naming_it(value, message):
    with pytest.raises(ConfigError) as error:
        parse_config({"track": value}, Settings)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_bad_track_flag_exits_2_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, [*TRAIN, "--out", str(out), "--track", "wandb"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --track (track): unknown tracker 'wandb'; available: mlflow, tensorboard"]
    assert not out.exists()


@pytest.mark.parametrize("kind", ["mlflow", "tensorboard"])
def test_a_missing_package_gives_the_install_hint_before_training(kind, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, kind, None)  # `import mlflow` fails, find_spec finds none
    out = tmp_path / "run"
    result = runner.invoke(app, [*TRAIN, "--out", str(out), "--track", kind])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.endswith(f"pip install 'mtlgroup[{kind}]'") and kind in line
    assert not out.exists()  # nothing trained, not even the run directory made


def test_a_worker_without_the_package_gets_the_hint_too(tmp_path, monkeypatch):
    track = resolve_track("tensorboard", tmp_path)
    assert track is not None
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(TrackerUnavailable, match=r"pip install 'mtlgroup\[tensorboard\]'"):
        open_tracker(track, "bright")


def test_mlflow_defaults_to_a_sqlite_store_in_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    track = resolve_track("mlflow", "runs/a")
    assert track == {"kind": "mlflow", "uri": f"sqlite:///{tmp_path}/runs/a/mlflow.db",
                     "experiment": "mtlgroup", "artifacts": f"{tmp_path}/runs/a/mlartifacts"}
    # a relative SQLite file is made absolute: workers in other directories share it
    given = resolve_track({"kind": "mlflow", "uri": "sqlite:///shared.db", "experiment": "x"},
                          "runs/a")
    assert given is not None and given["uri"] == f"sqlite:///{tmp_path}/shared.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    served = resolve_track("mlflow", "runs/a")
    assert served == {"kind": "mlflow", "uri": "http://tracking:5000", "experiment": "mtlgroup"}


def test_tensorboard_defaults_and_no_tracking(tmp_path):
    assert resolve_track("tensorboard", tmp_path) == {"kind": "tensorboard",
                                                      "dir": str(tmp_path / "tensorboard")}
    assert resolve_track(None, tmp_path) is None and track_request("none") is None
    assert parse_config({"track": "off"}, Settings).track is None


def test_a_track_value_not_resolved_for_a_run_directory_is_refused():
    with pytest.raises(TrackingError, match="resolve_track"):
        open_tracker({"kind": "tensorboard"}, "bright")


def test_the_flag_wins_over_the_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("track: {kind: tensorboard, dir: logs}\n")
    assert load_settings(config, {}).track == {"kind": "tensorboard", "dir": "logs"}
    assert load_settings(config, overrides({"track": "none"})).track is None
    assert load_settings(config, overrides({"track": "mlflow"})).track == {"kind": "mlflow"}
