from __future__ import annotations

import dataclasses

import pytest
from pydantic import Field

from mtlgroup.config import (
    ConfigError,
    DataConfig,
    Section,
    StudyConfig,
    StudyFileConfig,
    TrainingConfig,
    load_config,
    parse_config,
)
from mtlgroup.training import TrainConfig


def test_training_section_mirrors_train_config_field_for_field():
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    section = TrainingConfig.model_fields
    assert set(section) == set(fields) - {"progress"}
    assert TrainingConfig().to_train_config() == TrainConfig()  # same defaults


def test_a_full_file_validates(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(
        "data:\n  dataset: synthetic\n  tasks: bright,parity\n  image_size: 8\n"
        "  options: {n_val: 10}\n"
        "training:\n  epochs: 2\n  loss_weights: {bright: 2}\n"
        "study:\n  plan: pairs\n  networks: bright+parity, parity/2\n  executor: ray\n"
        "  address: auto\n  workers: 4\n"
        "out: runs/x\n"
    )
    config = load_config(path, StudyFileConfig)
    assert config.data.loader_options() == {"size": 8, "n_val": 10}
    assert config.data.task_text() == "bright,parity"
    assert config.training.to_train_config().loss_weights == {"bright": 2.0}
    assert config.study.networks == ["bright+parity", "parity/2"]
    assert config.study.executor_options() == {"workers": 4, "threads_per_worker": None,
                                               "address": "auto"}
    assert str(config.out) == "runs/x"


def test_image_size_can_be_given_as_the_loaders_size():
    assert parse_config({"data": {"size": 32}}, StudyFileConfig).data.image_size == 32
    assert DataConfig(image_size=16).loader_options()["size"] == 16


def test_overrides_win_and_unset_flags_are_skipped(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  epochs: 5\n  lr: 0.1\n")
    config = load_config(path, StudyFileConfig,
                         {"training.epochs": 2, "training.lr": None, "study.plan": "all"})
    assert (config.training.epochs, config.training.lr, config.study.plan) == (2, 0.1, "all")
    assert load_config(None, StudyFileConfig, {"data.tasks": "a"}).data.tasks == "a"


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"trainig": {}},
         "trainig: unknown key; expected one of: data, model, training, study, pipeline, out"),
        ({"training": {"epoch": 2}}, "training.epoch: unknown key; expected one of: epochs"),
        ({"data": {"n_trian": 2}}, "data: dataset 'scenes' has no option 'n_trian'; its options"),
        ({"data": {"dataset": "nope"}}, "data: unknown dataset 'nope'; available: "),
        ({"data": {"dataset": "no_such_module:load"}}, "cannot import 'no_such_module:load'"),
        ({"model": "transformer"}, "model: unknown network factory 'transformer'; available"),
        ({"model": {"base_width": 3}}, "model: a mapping needs `name"),
        ({"training": {"epochs": "ten"}}, "training.epochs: expected an integer, got 'ten'"),
        ({"training": {"lr": "fast"}}, "training.lr: expected a number, got 'fast'"),
        ({"training": {"lr": -1}},
         "training.lr: expected a positive finite learning rate such as 0.001, got -1"),
        ({"training": {"optimizer": "lbfgs"}}, "training.optimizer: Input should be 'adam' or"),
        ({"training": {"loss_weights": {"a": "x"}}},
         "training.loss_weights.a: expected a number, got 'x'"),
        ({"data": {"tasks": 3}}, "data.tasks: expected a string or a list, got 3"),
        ({"data": []}, "data: expected a mapping, got []"),
        ({"study": {"plan": "every"}}, "study.plan: unknown plan 'every'"),
        ({"study": {"executor": "slurm"}}, "study.executor: unknown executor 'slurm'"),
        ({"study": {"retry_failed": "maybe"}}, "study.retry_failed: expected true or false"),
        ({"study": {"workers": 0}}, "study.workers: Input should be greater than or equal to 1"),
    ],
)
def test_errors_name_the_key_and_what_was_expected(raw, message):
    with pytest.raises(ConfigError) as error:
        parse_config(raw, StudyFileConfig, "my.yaml")
    assert str(error.value).startswith("my.yaml: ")
    assert message in str(error.value)


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        parse_config({"training": {"epochs": "x", "batch": 2}, "study": {"plan": "y"}},
                     StudyFileConfig)
    text = str(error.value)
    assert "training.epochs" in text and "training.batch" in text and "study.plan" in text


def test_files_that_are_not_configs(tmp_path):
    with pytest.raises(ConfigError, match="config file .* does not exist"):
        load_config(tmp_path / "missing.yaml", StudyFileConfig)
    (tmp_path / "bad.yaml").write_text("training: {epochs: 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml", StudyFileConfig)
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_config(tmp_path / "list.yaml", StudyFileConfig)
    for text in ("", "# only a comment\n", "null\n", "{}\n"):  # would start on the defaults
        (tmp_path / "empty.yaml").write_text(text)
        with pytest.raises(ConfigError, match="empty.yaml: empty config"):
            load_config(tmp_path / "empty.yaml", StudyFileConfig)


def test_sections_compose_into_bigger_configs():
    # How a pipeline config reuses the sections: errors still name the full key path.
    class Pipeline(Section):
        data: DataConfig = Field(default_factory=DataConfig)
        study: StudyConfig = Field(default_factory=StudyConfig)
        budget: float = 2.0

    assert parse_config({"study": {"plan": "esa"}}, Pipeline).study.plan == "esa"
    with pytest.raises(ConfigError, match="study.executor: unknown executor 'x'"):
        parse_config({"study": {"executor": "x"}}, Pipeline)
    with pytest.raises(ConfigError, match="data: dataset 'scenes' has no option 'colour'"):
        parse_config({"data": {"colour": 1}}, Pipeline)
