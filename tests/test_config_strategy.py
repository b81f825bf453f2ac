"""The strategy and benchmark settings of the one schema (YAML, flags, Python)."""

from __future__ import annotations

import pytest

from mtlgroup.config import ConfigError, Settings, parse_config


def test_a_strategy_by_name_spec_or_mapping():
    assert parse_config({"strategy": "pcgrad"}, Settings).strategy == {"name": "pcgrad",
                                                                      "options": {}}
    assert parse_config({"strategy": "cagrad:c=0.4"}, Settings).strategy == {
        "name": "cagrad", "options": {"c": 0.4}}
    mapping = {"name": "cagrad", "options": {"c": 0.4}}
    assert parse_config({"strategy": mapping}, Settings).strategy == mapping
    assert parse_config({"strategy": "joint"}, Settings).strategy is None
    assert Settings().strategy is None


def test_an_unknown_strategy_names_the_key_and_the_valid_ones():
    with pytest.raises(ConfigError, match=r"my\.yaml: strategy: .*unknown strategy 'nope'"
                       r".*pcgrad"):
        parse_config({"strategy": "nope"}, Settings, "my.yaml")
    with pytest.raises(ConfigError, match="benchmark.strategies"):
        parse_config({"benchmark": {"strategies": ["joint", "nope"]}}, Settings, "my.yaml")


def test_the_benchmark_section():
    settings = parse_config({"benchmark": {"strategies": "joint,cagrad:c=0.4,upgrad",
                                           "seeds": 2, "grouping": "none"}}, Settings)
    spec = settings.benchmark
    assert spec.strategies == ["joint", {"name": "cagrad", "options": {"c": 0.4}}, "upgrad"]
    assert spec.seed_list() == [0, 1] and spec.grouping is None
    assert parse_config({"benchmark": {"seeds": [3, 5]}}, Settings).benchmark.seed_list() \
        == [3, 5]
    for bad, message in (({"seeds": 0}, "at least one seed"),
                         ({"seeds": [1, 1]}, "distinct seeds"),
                         ({"max_groups": 1}, "benchmark.max_groups"),
                         ({"strategies": []}, "no strategies")):
        with pytest.raises(ConfigError, match=message):
            parse_config({"benchmark": bad}, Settings)


def test_a_run_takes_the_strategy_but_proximal_has_its_own(tmp_path):
    from mtlgroup.pipeline.context import open_context

    settings = parse_config({"data": {"dataset": "synthetic", "tasks": "bright,parity",
                                      "n_train": 16, "n_val": 8, "n_test": 8, "size": 8},
                             "strategy": "stgu", "study": {"executor": "inline"}}, Settings)
    with open_context(settings, tmp_path, echo=lambda line: None) as context:
        assert context.study.spec("bright").strategy == {"name": "stgu", "options": {}}
    with pytest.raises(ConfigError, match="proximal estimator trains with its own strategy"):
        parse_config({"strategy": "pcgrad", "pipeline": {"estimator": "proximal"}}, Settings)
