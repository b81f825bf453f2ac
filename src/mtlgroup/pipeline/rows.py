"""The values a pipeline run produces: one :class:`BudgetRow` per budget and the
:class:`PipelineReport` (``report.json``).

Example:
    >>> row = BudgetRow(2.0, True, networks=["a+b"], served_by={"a": "a+b", "b": "a+b"},
    ...                 test_total=0.8, all_task_total=0.9)
    >>> row.best, BudgetRow.from_dict(row.to_dict()) == row
    ('chosen', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class BudgetRow:
    """The outcome at one budget.

    ``note`` says why a budget is infeasible, why a row could not be scored, or how the
    baselines were built when they could not be scaled to cost the budget; the baselines'
    costs are recorded as they are (``all_task_cost``, ``independent_cost``).
    """

    budget: float
    feasible: bool
    note: str = ""
    networks: list[str] = field(default_factory=list)
    served_by: dict[str, str] = field(default_factory=dict)
    cost: float | None = None
    objective: float | None = None
    test_total: float | None = None
    test_total_min_rule: float | None = None
    test_per_task: dict[str, float] = field(default_factory=dict)
    all_task_total: float | None = None
    independent_total: float | None = None
    all_task_cost: float | None = None
    independent_cost: float | None = None
    delta_m: float | None = None
    """Δm (ALGORITHMS §6, percent, positive = better) of the chosen networks against this
    budget's independent single-task networks, on each task's headline test metric."""
    delta_m_per_task: dict[str, float] = field(default_factory=dict)
    all_task_delta_m: float | None = None
    """Δm of the all-task network of this budget against the same independent networks."""

    @property
    def best(self) -> str | None:
        """Which of chosen / all-task / independent has the lowest test total here."""
        options = {
            "chosen": self.test_total,
            "all-task": self.all_task_total,
            "independent": self.independent_total,
        }
        known = {k: v for k, v in options.items() if v is not None}
        return min(known, key=known.__getitem__) if known else None

    def add_note(self, text: str) -> None:
        """Append ``text`` to :attr:`note` (a row may have several things to say)."""
        self.note = f"{self.note}; {text}" if self.note else text

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "best": self.best}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BudgetRow:
        """The inverse of :meth:`to_dict` (``best`` is derived, so it is dropped)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class PipelineReport:
    """What a run produced; ``report.json`` is :meth:`to_dict`.

    ``recommendation`` is :meth:`mtlgroup.report.Recommendation.to_dict` (the budget, its
    networks, what they buy against the baselines, the export command), ``predictions`` the
    estimate's predicted against real validation losses (:class:`mtlgroup.report.Prediction`),
    ``prediction_errors`` their mean absolute relative error per task, ``refinement`` the
    rounds of ``pipeline.refine`` (``None`` without it; see :mod:`mtlgroup.pipeline.refine`),
    ``costs`` :meth:`mtlgroup.report.TrainingCosts.to_dict`, ``settings`` the run's settings
    (JSON) and ``versions`` those of mtlgroup, torch, numpy and Python. ``objective`` says
    which objective chose the networks (``kind``, ``weights``, ``description``; ALGORITHMS §1.5).
    """

    dataset: str
    tasks: list[str]
    estimator: str
    rows: list[BudgetRow]
    trainings: int
    training_seconds: float
    wall_seconds: float
    out: str
    files: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    recommendation: dict[str, Any] | None = None
    predictions: list[dict[str, Any]] = field(default_factory=list)
    prediction_errors: dict[str, float] = field(default_factory=dict)
    refinement: dict[str, Any] | None = None
    costs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    objective: dict[str, Any] = field(default_factory=dict)
    delta_m: dict[str, Any] = field(default_factory=dict)
    """What the rows' Δm compares (``against``) and the metric of each task (``metrics``:
    ``{task: {"name", "lower_is_better"}}``); see :class:`BudgetRow`."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [row.to_dict() for row in self.rows]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineReport:
        values = dict(data)
        values["rows"] = [BudgetRow.from_dict(row) for row in values["rows"]]
        return cls(**values)
