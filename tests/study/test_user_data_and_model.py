"""A user's dataset and network factory by import path, through studies on every executor and
through the command line: the case that failed for every job before ("Expected 3D or 4D input
to conv2d")."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mtlgroup.cli import app
from mtlgroup.study import Study

DATASET = "userpkg.tabular:load_rows"
MODEL = {"name": "userpkg.tabular:build_net", "hidden": 8}
TRAINING = {"max_steps": 3, "batch_size": 16}
runner = CliRunner()


def study(path, model=MODEL) -> Study:
    return Study(path / "study.sqlite", DATASET, {"n_train": 48}, None, TRAINING,
                 device="cpu", model=model)


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_a_pairs_study_of_a_users_data_and_model_trains_every_job(tmp_path, executor):
    with study(tmp_path) as s:
        assert s.tasks == ("up", "also_up", "odd")
        specs = s.add_plan("pairs")
        summary = s.run(executor, progress=False)
        assert summary.ok and summary.done == len(specs) == 9, summary.format()
        tables = s.tables(tmp_path / "tables")
        assert set(tables) == {"val", "test", "early"}
        # The cost unit is the user's own single-task network at size 1, measured.
        assert s.reference_flops() > 0
        outcome = s.records("done")[0].outcome
        assert outcome.input_shape == [6]


# On Ray: tests/study/test_ray.py (one cluster for every Ray study).


def test_two_models_never_share_results(tmp_path):
    with study(tmp_path) as first:
        first.add_plan(["up"])
        assert first.run("inline", progress=False).done == 1
    with study(tmp_path, {"name": "userpkg.tabular:build_net", "hidden": 4}) as second:
        second.add_plan(["up"])
        assert second.run("inline", progress=False).done == 1  # trained, not reused


@pytest.mark.parametrize("dataset,model,message", [
    ("userpkg.tabular:nope", None, "cannot import 'userpkg.tabular:nope'"),
    ("userpkg.tabular:load_not_data", None, "returned dict; expected mtlgroup.data"),
    (DATASET, "userpkg.tabular:build_plain_tensor", "forward returned Tensor"),
    (DATASET, "nomodule_here:build", "cannot import 'nomodule_here:build'"),
])
def test_bad_paths_fail_once_before_any_job_starts(tmp_path, dataset, model, message):
    result = runner.invoke(app, ["study", "--dataset", dataset, "--plan", "pairs",
                                 *(["--model", model] if model else []), "--max-steps", "1",
                                 "--executor", "inline", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "s" / "study.sqlite").exists()


def test_study_affinity_and_run_from_the_command_line(tmp_path):
    common = ["--dataset", DATASET, "--model", "userpkg.tabular:build_net",
              "--model-option", "hidden=8", "--max-steps", "3", "--batch-size", "16",
              "--device", "cpu"]
    result = runner.invoke(app, ["study", *common, "--plan", "pairs", "--workers", "2",
                                 "--out", str(tmp_path / "study"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "9 trained" in result.output and "userpkg.tabular:build_net(hidden=8)" in result.output

    result = runner.invoke(app, ["affinity", *common, "--method", "tag", "--out",
                                 str(tmp_path / "tag")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tag" / "affinity.csv").exists()

    config = tmp_path / "run.yaml"
    config.write_text(
        f"data: {{dataset: '{DATASET}', n_train: 48}}\n"
        "model: {name: 'userpkg.tabular:build_net', hidden: 8}\n"
        "training: {max_steps: 3, batch_size: 16, device: cpu}\n"
        "study: {executor: inline}\n"
        "pipeline: {estimator: hoa, budgets: [2, 3], baseline_budgets: [3]}\n"
        f"out: {tmp_path / 'run'}\n"
    )
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["tasks"] == ["up", "also_up", "odd"]
    assert any(row["feasible"] for row in report["rows"])


def test_train_takes_a_users_dataset_and_model(tmp_path):
    result = runner.invoke(app, ["train", "--dataset", DATASET, "--tasks", "up,odd",
                                 "--model", "userpkg.tabular:build_net", "--max-steps", "3",
                                 "--device", "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "result.json").read_text())
    assert written["tasks"] == ["up", "odd"]
    assert written["extra"]["model"]["name"] == "userpkg.tabular:build_net"


def test_a_table_edited_on_disk_is_new_data_for_the_study(tmp_path):
    from mtlgroup.data.table import write_example_table

    path = write_example_table(tmp_path / "t.csv", n_rows=200, seed=0)
    options = {"path": str(path), "targets": ["sales", "returns", "rating", "category"]}

    def key() -> str:
        with Study(tmp_path / "s.sqlite", "table", options, None, TRAINING, model="mlp") as s:
            return s.spec("sales").key

    before = key()
    assert key() == before  # same file, same key: finished jobs are reused
    write_example_table(path, n_rows=200, seed=1)
    assert key() != before


def test_model_options_from_the_command_line_merge_into_the_configs_model(tmp_path):
    from mtlgroup.cli.options import load_settings

    config = tmp_path / "c.yaml"
    config.write_text("model: {name: mlp, base_width: 32}\n")
    settings = load_settings(config, {}, ["depth=3"])
    assert settings.model == {"name": "mlp", "base_width": 32, "depth": 3}
    assert load_settings(None, {"model": "mlp"}, ["depth=1"]).model == {"name": "mlp",
                                                                        "depth": 1}


def test_a_table_needs_no_model_and_a_wrong_family_says_which_fits(tmp_path):
    from mtlgroup.data.table import write_example_table

    path = write_example_table(tmp_path / "t.csv", n_rows=200)
    args = ["study", "--dataset", "table", "--data", f"path={path}",
            "--data", "targets=[sales, returns, rating, category]", "--networks", "sales",
            "--max-steps", "1", "--executor", "inline", "--no-progress"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "model mlp" in result.output  # the family that fits feature vectors
    result = runner.invoke(app, [*args, "--model", "conv", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "--model mlp" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_a_user_loader_that_raises_is_one_line(tmp_path):
    result = runner.invoke(app, ["study", "--dataset", "userpkg.tabular:load_rows",
                                 "--data", "features=-1", "--plan", "pairs",
                                 "--out", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    assert "dataset userpkg.tabular:load_rows raised RuntimeError" in result.output
