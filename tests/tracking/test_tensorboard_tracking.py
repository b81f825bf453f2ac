"""``--track tensorboard`` on ``train``, ``study`` and ``affinity``: one folder of event files per
training, read back with TensorBoard's ``EventAccumulator``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

runner = CliRunner()
# 32 samples in batches of 16: 2 steps an epoch, so 4 steps validate at steps 2 and 4.
TINY = ["--dataset", "synthetic", "--n-train", "32", "--n-val", "16", "--n-test", "16",
        "--image-size", "8", "--max-steps", "4", "--batch-size", "16", "--device", "cpu",
        "--track", "tensorboard"]


def scalars(folder) -> dict[str, list[int]]:
    """Tag → the steps it was logged at, from a run folder's event files."""
    events = event_accumulator.EventAccumulator(str(folder))
    events.Reload()
    return {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def assert_logged_training(folder, tasks: list[str]) -> None:
    logged = scalars(folder)
    for task in tasks:
        assert logged[f"loss/{task}"] == [1, 2, 3, 4]
        assert logged[f"val/{task}/loss"] == [2, 4]
        assert logged[f"test/{task}/loss"] == [4]
    assert logged["loss/total"] == [1, 2, 3, 4] and logged["val/total"] == [2, 4]


def test_train_logs_its_training_and_says_how_to_look(tmp_path):
    result = runner.invoke(app, ["train", "--tasks", "bright,parity", "--out", str(tmp_path),
                                 *TINY])
    assert result.exit_code == 0, result.output
    logs = tmp_path / "tensorboard"
    assert f"tensorboard --logdir {logs}" in result.output
    assert [p.name for p in logs.iterdir()] == ["bright+parity"]
    assert_logged_training(logs / "bright+parity", ["bright", "parity"])


def test_study_jobs_log_one_folder_per_network(tmp_path):
    result = runner.invoke(app, ["study", "--networks", "bright+parity,moments/2", "--executor",
                                 "inline", "--out", str(tmp_path), *TINY])
    assert result.exit_code == 0, result.output
    logs = tmp_path / "tensorboard"
    assert sorted(p.name for p in logs.iterdir()) == ["bright+parity", "moments_2"]
    assert_logged_training(logs / "moments_2", ["moments"])


def test_affinity_logs_its_joint_training(tmp_path):
    result = runner.invoke(app, ["affinity", "--method", "cs", "--every", "1", "--tasks",
                                 "bright,parity", "--out", str(tmp_path), *TINY])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "tensorboard").iterdir()
    assert folder.name == "bright+parity_cs_affinity"
    assert_logged_training(folder, ["bright", "parity"])
