"""A new estimator is one class registered by name (the example of docs/pipeline.md)."""

from __future__ import annotations

import pytest
from pipeline_helpers import DATA, quiet, tiny_settings

from mtlgroup.pipeline import (
    ESTIMATOR_CLASSES,
    ESTIMATORS,
    LossTableEstimator,
    register_estimator,
    run_pipeline,
)


@pytest.fixture
def early_all():
    @register_estimator("early-all")
    class EarlyAll(LossTableEstimator):
        """Every subset, selected on the losses at 20% of training."""

        plan, split = "all", "early"

    yield EarlyAll
    ESTIMATOR_CLASSES.unregister("early-all")


def test_a_registered_estimator_is_valid_config_and_runs(early_all, tmp_path):
    assert "early-all" in ESTIMATORS
    settings = tiny_settings({"dataset": "synthetic", "tasks": ["bright", "parity"], **DATA},
                             estimator="early-all", budgets=[2.0, 3.0], baseline_budgets=[])
    report = run_pipeline(settings, tmp_path, echo=quiet)
    assert report.estimator == "early-all"
    assert all(row.feasible and row.test_total is not None for row in report.rows)


def test_an_unknown_estimator_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown estimator 'magic'; available: hoa"):
        tiny_settings(estimator="magic")
