"""The end-to-end run behind ``mtlgroup run`` and ``mtlgroup demo``, as a sequence of stages.

estimate (train the candidates, or the joint affinity run, the estimator needs) → baselines
(one all-task network and independent single-task networks, each scaled to cost the
budget) → select at every budget (the trained baselines are candidates too) → finalize (train
the chosen networks the estimate only predicted) → evaluate on test (honest and min rule) →
report (``report.json``, ``report.html``, ``curve.png``, ``affinity.png``, the loss tables).

Each stage is a :class:`Stage` (``name``, ``run(context)``) working on a :class:`RunContext`
and saving its value under ``OUT/stages/`` (see :mod:`mtlgroup.pipeline.stages`); the study's
store makes the whole run resumable. A new estimator is one class registered with
:func:`register_estimator` (see :mod:`mtlgroup.pipeline.estimators`).

Example:
    >>> from mtlgroup.config import Settings
    >>> settings = Settings.model_validate({
    ...     "data": {"dataset": "synthetic", "n_train": 32, "n_val": 16, "n_test": 16, "size": 8},
    ...     "training": {"max_steps": 2, "batch_size": 16},
    ...     "pipeline": {"budgets": [2.0, 3.0], "baseline_budgets": [2.0]}})
    >>> STAGES.names()
    ['estimate', 'baselines', 'select', 'finalize', 'evaluate', 'report']
    >>> # report = run_pipeline(settings, "runs/try")   # report.rows[0].test_total ...
"""

from mtlgroup.pipeline.context import RunContext, StageMissing, open_context
from mtlgroup.pipeline.estimators import (
    ESTIMATOR_CLASSES,
    ESTIMATORS,
    STUDY_PLAN,
    Estimator,
    JointAffinityEstimator,
    LossTableEstimator,
    create_estimator,
    register_estimator,
)
from mtlgroup.pipeline.rows import BudgetRow, PipelineReport
from mtlgroup.pipeline.run import run_pipeline, run_stage, run_stages
from mtlgroup.pipeline.stages import STAGES, Stage

__all__ = [
    "ESTIMATORS",
    "ESTIMATOR_CLASSES",
    "STAGES",
    "STUDY_PLAN",
    "BudgetRow",
    "Estimator",
    "JointAffinityEstimator",
    "LossTableEstimator",
    "PipelineReport",
    "RunContext",
    "Stage",
    "StageMissing",
    "create_estimator",
    "open_context",
    "register_estimator",
    "run_pipeline",
    "run_stage",
    "run_stages",
]
