"""The ViT family through the whole pipeline on tiny data: one training, a study of singles and
pairs, TAG's lookahead affinity, selective task group updates (STGU) and the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import mtlgroup.cli.study  # noqa: F401  (registers the command)
from mtlgroup.affinity import estimate_affinity
from mtlgroup.cli import app
from mtlgroup.cost import CostModel, network_flops
from mtlgroup.data import load_dataset
from mtlgroup.data.base import MultiTaskData
from mtlgroup.models import NetworkFactory
from mtlgroup.models.vit import PatchDecoder, ViTEncoder
from mtlgroup.study import Study
from mtlgroup.training import TrainConfig, create_strategy, train_network

DATA = {"n_train": 32, "n_val": 16, "n_test": 16, "size": 16}
VIT = {"name": "vit", "base_width": 16, "depth": 1}
TASKS = ["bright", "parity", "moments"]  # dense, label and vector
runner = CliRunner()


@pytest.fixture(scope="module")
def data() -> MultiTaskData:
    return load_dataset("synthetic", **DATA)


def config(**overrides) -> TrainConfig:
    options = dict(max_steps=3, batch_size=16, eval_every=1000, device="cpu", progress=False)
    options.update(overrides)
    return TrainConfig(**options)


def test_train_network_trains_a_vit_and_records_its_flops(data):
    network, result = train_network(TASKS, data, 0.5, config(), model=VIT)
    assert isinstance(network.encoder, ViTEncoder)
    assert isinstance(network.heads["bright"], PatchDecoder)
    assert result.steps == 3
    assert all(math.isfinite(scores["loss"]) for scores in result.test.values())
    assert result.extra["model"]["name"] == "vit"
    assert result.extra["flops"] == network_flops(data.tasks.subset(TASKS), data.input_shape,
                                                  0.5, VIT).total


def test_a_study_of_singles_and_pairs_trains_vits(tmp_path):
    with Study(tmp_path / "study.sqlite", "synthetic", DATA, ["bright", "parity"],
               {"max_steps": 2, "batch_size": 16}, device="cpu",
               model=NetworkFactory.of(VIT)) as study:
        specs = study.add_plan("pairs")  # two singles, two half-size singles, the pair
        summary = study.run("inline", progress=False)
        assert summary.ok and summary.done == len(specs) == 5, summary.format()
        widths = {r.network: study.network(r.network).encoder.width for r in study.records()}
        assert widths["bright/2"] < widths["bright"] == widths["bright+parity"] == 16
        tables = study.tables(tmp_path / "tables")
        assert set(tables) == {"val", "test", "early"}
        # The cost unit is the mean standard single-task ViT of the study's tasks.
        expected = CostModel(data_tasks(study), (3, 16, 16), VIT).reference_flops
        assert study.reference_flops() == expected > 0
        network = study.network("bright+parity")
        assert isinstance(network.encoder, ViTEncoder) and set(network.tasks) == {
            "bright", "parity"}


def data_tasks(study: Study):
    return study.dataset_tasks.subset(study.tasks)


def test_tag_lookahead_affinity_on_a_vit(data):
    affinity = estimate_affinity(data, TASKS, method="tag", config=config(), size=0.5,
                                 model=VIT, every=1)
    assert affinity.tasks == tuple(TASKS)
    assert affinity.n_probes == 3 and np.isfinite(affinity.matrix).all()


def test_stgu_trains_a_vit_and_records_its_groups(data):
    strategy = create_strategy("stgu", warmup=1, beta=0.2)
    _, result = train_network(TASKS, data, 0.5, config(), strategy=strategy, model=VIT)
    groups = result.extra["groups_over_time"]
    assert groups[0]["groups"] == [[t] for t in TASKS]
    assert sorted(t for g in groups[-1]["groups"] for t in g) == sorted(TASKS)


CLI = ["--dataset", "synthetic", "--n-train", "32", "--n-val", "16", "--n-test", "16",
       "--image-size", "16", "--max-steps", "2", "--batch-size", "16", "--device", "cpu",
       "--model", "vit", "--model-option", "base_width=16", "--model-option", "depth=1"]


def test_train_from_the_command_line(tmp_path):
    result = runner.invoke(app, ["train", "--tasks", "bright,parity", "--out", str(tmp_path),
                                 *CLI])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "result.json").read_text())
    assert written["extra"]["model"] == {"name": "vit", "options": {"base_width": 16,
                                                                     "depth": 1}, "version": 1}
    assert set(written["test"]) == {"bright", "parity"}


def test_study_from_the_command_line(tmp_path):
    result = runner.invoke(app, ["study", "--tasks", "bright,parity", "--plan", "pairs",
                                 "--executor", "inline", "--no-progress",
                                 "--out", str(tmp_path / "s"), *CLI])
    assert result.exit_code == 0, result.output
    assert "5 trained" in result.output and "vit(base_width=16, depth=1)" in result.output


def test_a_bad_option_fails_on_the_command_line_before_training(tmp_path):
    result = runner.invoke(app, ["train", "--tasks", "bright", "--out", str(tmp_path), *CLI,
                                 "--model-option", "patch=5"])
    assert result.exit_code == 2, result.output
    assert "patch 5 must divide the image size 16x16" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "result.json").exists()


def test_affinity_from_the_command_line(tmp_path):
    result = runner.invoke(app, ["affinity", "--tasks", "bright,parity,moments", "--method",
                                 "tag", "--out", str(tmp_path), *CLI])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "affinity.csv").exists()
