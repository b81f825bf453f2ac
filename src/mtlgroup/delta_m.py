"""Δm: the multi-task gain over single-task networks (ALGORITHMS §6).

``Δm = (1/n) Σ_t (−1)^{l_t} (M_t − M_{t,single}) / M_{t,single} × 100``, with ``l_t = 1`` when
task ``t``'s metric is lower-is-better. So **Δm > 0 is better than the single-task networks**
(percent, averaged over tasks), whatever each metric's direction; Δm of the single-task
networks against themselves is 0.

Which metric of a task: :func:`task_metric`. By default (``"metric"``) a task's *headline*
metric: the last metric it declares (the built-in datasets list the generic one first, e.g.
scenes' normals ``l1`` then ``angle_deg``), or its loss when it declares none; ``"loss"``
takes every task's loss; a mapping ``{task: metric}`` names some tasks' metrics and leaves the
others at their headline one. Scores are read as the store and :class:`~mtlgroup.training.
TrainResult` hold them: ``{task: {"loss": ..., metric: ...}}``, on test (models are chosen on
validation only, §6).

Example (a hand-checkable two-task case: ``a`` lower-is-better 10% better, ``b``
higher-is-better 5% worse, Δm = (10 − 5) / 2):
    >>> found = delta_m({"a": 0.9, "b": 0.76}, {"a": 1.0, "b": 0.8},
    ...                 {"a": True, "b": False})
    >>> round(found.overall, 6), {t: round(v, 6) for t, v in found.per_task.items()}
    (2.5, {'a': 10.0, 'b': -5.0})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtlgroup.tasks import Task, TaskSet

MetricChoice = str | Mapping[str, str]
"""``"metric"`` (each task's headline metric), ``"loss"``, or ``{task: metric name}``."""

Scores = Mapping[str, Mapping[str, float]]
"""``{task: {"loss": ..., metric: ...}}``"""


@dataclass(frozen=True)
class TaskMetric:
    """The metric Δm reads for one task, and its direction."""

    task: str
    name: str
    lower_is_better: bool

    @property
    def direction(self) -> str:
        return "lower is better" if self.lower_is_better else "higher is better"


@dataclass(frozen=True)
class DeltaM:
    """Δm of one model against the single-task networks: ``overall`` (the mean of
    ``per_task``), each in percent, positive = better; ``metrics`` says which metric of each
    task was compared."""

    overall: float
    per_task: dict[str, float]
    metrics: dict[str, TaskMetric] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "per_task": dict(self.per_task),
                "metrics": {t: {"name": m.name, "lower_is_better": m.lower_is_better}
                            for t, m in self.metrics.items()}}


def task_metric(task: Task, choice: MetricChoice = "metric") -> TaskMetric:
    """The metric Δm compares for ``task`` (see the module's docstring for ``choice``).

    >>> from mtlgroup.tasks import ACCURACY_METRIC, L1_METRIC, Task
    >>> seg = Task("seg", "dense", 3, "cross_entropy", (ACCURACY_METRIC,))
    >>> task_metric(seg).name, task_metric(seg).direction, task_metric(seg, "loss").name
    ('accuracy', 'higher is better', 'loss')
    >>> task_metric(Task("depth", "dense", 1), {"depth": "loss"}).lower_is_better
    True
    """
    if isinstance(choice, Mapping):
        choice = choice.get(task.name, "metric")
    if choice == "loss":
        return TaskMetric(task.name, "loss", True)
    if choice == "metric":
        if not task.metrics:
            return TaskMetric(task.name, "loss", True)
        metric = task.metrics[-1]
        return TaskMetric(task.name, metric.name, metric.lower_is_better)
    for metric in task.metrics:
        if metric.name == choice:
            return TaskMetric(task.name, metric.name, metric.lower_is_better)
    known = ", ".join(["loss", *(m.name for m in task.metrics)])
    raise ValueError(f"task {task.name} has no metric {choice!r}; expected one of: {known} "
                     "(or 'metric' for its headline metric)")


def task_metrics(tasks: TaskSet | Sequence[Task], names: Sequence[str] | None = None,
                 choice: MetricChoice = "metric") -> dict[str, TaskMetric]:
    """:func:`task_metric` of each task (of ``names`` only, in their order, if given)."""
    by_name = {t.name: t for t in tasks}
    unknown = sorted(set(names or ()) - set(by_name))
    if unknown:
        raise ValueError(f"unknown task {unknown[0]!r}; expected one of: "
                         f"{', '.join(by_name)}")
    if isinstance(choice, Mapping):
        stray = sorted(set(choice) - set(names or by_name))
        if stray:
            raise ValueError(f"a Δm metric is given for {stray[0]!r}, which is not one of the "
                             f"tasks ({', '.join(names or by_name)})")
    return {name: task_metric(by_name[name], choice) for name in (names or by_name)}


def metric_values(scores: Scores, metrics: Mapping[str, TaskMetric]) -> dict[str, float]:
    """``{task: value}`` of each task's chosen metric in ``scores``; a task or metric missing
    from them is a ``ValueError`` naming it."""
    values = {}
    for task, metric in metrics.items():
        if task not in scores:
            raise ValueError(f"no scores for task {task}")
        if metric.name not in scores[task]:
            raise ValueError(f"task {task}: no {metric.name!r} in its scores "
                             f"({', '.join(scores[task])})")
        values[task] = float(scores[task][metric.name])
    return values


def delta_m(
    values: Mapping[str, float],
    single: Mapping[str, float],
    lower_is_better: Mapping[str, bool] | Mapping[str, TaskMetric],
) -> DeltaM:
    """Δm (percent, positive = better) of ``values`` (``{task: metric}``) against the
    single-task networks' ``single``, over the tasks of ``lower_is_better`` (a bool per task,
    or the :class:`TaskMetric` of each).

    It divides by ``|M_single|``: §6's ``M_single`` for the non-negative metrics of the
    built-in tasks, and a negative reference keeps the sign's meaning.

    Raises ``ValueError`` for a task missing from either, or a single-task value of 0 or not
    finite (Δm divides by it).
    """
    metrics = {t: (d if isinstance(d, TaskMetric) else TaskMetric(t, "", bool(d)))
               for t, d in lower_is_better.items()}
    if not metrics:
        raise ValueError("Δm needs at least one task")
    per_task = {}
    for task, metric in metrics.items():
        for what, found in (("model", values), ("single-task networks", single)):
            if task not in found:
                raise ValueError(f"Δm: no value of task {task} for the {what}")
        reference = float(single[task])
        if reference == 0.0 or not math.isfinite(reference):
            raise ValueError(f"Δm: task {task}'s single-task value is {reference!r}; Δm "
                             "divides by it (choose another metric, e.g. the loss)")
        sign = -1.0 if metric.lower_is_better else 1.0  # (−1)^{l_t}
        per_task[task] = sign * (float(values[task]) - reference) / abs(reference) * 100.0
    overall = sum(per_task.values()) / len(per_task)
    return DeltaM(overall, per_task, {t: m for t, m in metrics.items() if m.name})


def delta_m_of_scores(scores: Scores, single: Scores, metrics: Mapping[str, TaskMetric]
                      ) -> DeltaM:
    """:func:`delta_m` of two score records (``{task: {"loss": ..., metric: ...}}``) on the
    chosen ``metrics`` (:func:`task_metrics`)."""
    return delta_m(metric_values(scores, metrics), metric_values(single, metrics), metrics)
