"""``pipeline.objective`` (ALGORITHMS §1.5): parsed, checked against the estimator, and read
back by the select stage from the saved settings (no training here)."""

from __future__ import annotations

import pytest

from mtlgroup.config import ConfigError, Settings, parse_config
from mtlgroup.selection.objectives import Objective, settings_objective


def pipeline(**section) -> Settings:
    return parse_config({"pipeline": section}, Settings)


@pytest.mark.parametrize("given, expected", [
    ({}, Objective()),
    ({"objective": "relative"}, Objective("relative")),
    ({"objective": {"kind": "relative", "weights": {"depth": 2}}},
     Objective("relative", {"depth": 2.0})),
    ({"objective": {"weights": {"depth": 0.5}}, "estimator": "exhaustive"},
     Objective("raw", {"depth": 0.5})),
])
def test_the_select_stage_reads_the_objective_the_config_gave(given, expected) -> None:
    settings = pipeline(**given)
    assert settings_objective(settings.model_dump(mode="json")) == expected


@pytest.mark.parametrize("given, message", [
    ({"objective": "ratio"}, "unknown objective 'ratio'"),
    ({"objective": {"kind": "relative", "weights": {"depth": -1}}}, "weight of task 'depth'"),
    ({"objective": {"kind": "metric"}}, "mtlgroup select --objective metric"),
    ({"objective": "relative", "estimator": "tag"}, "tag chooses groupings from affinity"),
])
def test_a_bad_objective_is_a_config_error_naming_the_key(given, message) -> None:
    with pytest.raises(ConfigError, match="pipeline.objective") as error:
        pipeline(**given)
    assert message in str(error.value)


def test_raw_goes_with_an_affinity_estimator() -> None:
    assert pipeline(objective="raw", estimator="tag").pipeline.objective == "raw"
