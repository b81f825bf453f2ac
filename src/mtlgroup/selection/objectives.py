"""Objectives: what the selection minimises (ALGORITHMS §1.5), as a transform of a loss table.

- ``raw`` (the paper's): ``Σ_t L(G, t)``. The task with the largest loss scale (depth in metres
  next to a cross-entropy) decides the grouping.
- ``relative``: ``Σ_t L(G, t) / L_ref(t)``, with ``L_ref(t)`` the loss of task t's reference
  single-task network in the same table: the standard-size single ``t``, else the half-size
  ``t/2`` (the paper's pool). 1.0 means "as good as alone", whatever the task's unit.
- ``metric``: the table's ``loss`` column holds a metric per task; those named
  ``higher_is_better`` enter as ``1 − M`` when all their values lie in ``[0, 1]`` (a rate such
  as an accuracy: ``1 − M`` is the error rate) and as ``−M`` otherwise. The two differ by a
  constant per task, which changes no choice (only the objective's value).

Per-task ``weights`` (positive, finite) multiply any of them. :meth:`Objective.transform`
returns the table the selection runs on, so a solution's ``objective`` is in the objective's
units (relative: a sum of ratios; weighted: the weighted sum), not in raw losses.

The transform scales each task's column by a constant (relative, weights) or negates it
(metric), so it commutes with HOA (§1.1): the mean over partners of ``L({t, u}, t)·k_t`` is
``k_t`` times the mean, and HOA keeps the single-task networks the references come from. It is
applied to the table the selection reads, after the approximation (HOA, ESA).

Example:
    >>> from mtlgroup.selection.table import LossTable
    >>> table = LossTable.from_rows([
    ...     ("a", 1, "a", 0.2), ("b", 1, "b", 50.0),
    ...     ("a+b", 1, "a", 0.25), ("a+b", 1, "b", 45.0)])
    >>> relative = Objective("relative")
    >>> relative.transform(table).losses("a+b")  # a: 0.25/0.2, b: 45/50
    {'a': 1.25, 'b': 0.9}
    >>> relative.describe(table)
    "relative: each task's loss over its single-task network's (a, b)"
    >>> Objective.parse({"kind": "raw", "weights": {"b": 0.01}}).transform(table).losses("b")
    {'b': 0.5}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mtlgroup.selection.problem import SelectionError
from mtlgroup.selection.table import LossRow, LossTable

KINDS: tuple[str, ...] = ("raw", "relative", "metric")
"""The objectives' names; ``raw`` is the default (the paper's)."""


@dataclass(frozen=True)
class Objective:
    """What the selection minimises (see the module's docstring).

    Attributes:
        kind: ``raw``, ``relative`` or ``metric``.
        weights: ``{task: weight}``, positive and finite; a task not named weighs 1.
        higher_is_better: ``metric`` only: the tasks whose values are better when higher.

    Raises:
        SelectionError: an unknown kind, a weight that is not positive and finite (the message
            names its task), ``higher_is_better`` with another kind than ``metric``.
    """

    kind: str = "raw"
    weights: Mapping[str, float] = field(default_factory=dict)
    higher_is_better: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SelectionError(f"unknown objective {self.kind!r}; expected one of "
                                 f"{', '.join(KINDS)}")
        weights = {}
        for task, weight in self.weights.items():
            try:
                value = float(weight)
            except (TypeError, ValueError):
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise SelectionError(f"weight of task {task!r} is {weight!r}; expected a "
                                     "positive, finite number")
            weights[str(task)] = value
        object.__setattr__(self, "weights", MappingProxyType(weights))
        object.__setattr__(self, "higher_is_better", tuple(self.higher_is_better))
        if self.higher_is_better and self.kind != "metric":
            raise SelectionError("higher-is-better tasks go with the metric objective, not "
                                 f"{self.kind!r} (losses are lower-is-better)")

    @classmethod
    def parse(cls, value: Objective | str | Mapping[str, Any] | None) -> Objective:
        """From a name (``"relative"``), a mapping ``{kind, weights, higher_is_better}`` (a
        config's ``pipeline.objective``, or :meth:`to_dict`), or ``None`` (``raw``).

        >>> Objective.parse({"kind": "relative", "weights": {"a": 2}}).weights["a"]
        2.0
        """
        if value is None:
            return cls()
        if isinstance(value, Objective):
            return value
        if isinstance(value, str):
            return cls(value)
        unknown = sorted(set(value) - {"kind", "weights", "higher_is_better"})
        if unknown:
            raise SelectionError(f"objective: unknown key(s) {', '.join(unknown)}; expected "
                                 "kind, weights, higher_is_better")
        return cls(value.get("kind", "raw"), value.get("weights") or {},
                   tuple(value.get("higher_is_better") or ()))

    def to_dict(self) -> dict[str, Any]:
        """JSON form, read back by :meth:`parse`."""
        return {"kind": self.kind, "weights": dict(self.weights),
                "higher_is_better": list(self.higher_is_better)}

    @property
    def is_raw(self) -> bool:
        """The paper's objective: raw losses, unweighted (a transform that changes nothing)."""
        return self.kind == "raw" and all(w == 1.0 for w in self.weights.values())

    def references(self, table: LossTable) -> dict[str, str]:
        """``relative``: task → the network whose loss divides the task's (``t``, else
        ``t/2``); empty for the other kinds.

        Raises:
            SelectionError: the table has neither ``t`` nor ``t/2`` for a task (named).
        """
        if self.kind != "relative":
            return {}
        networks = table.by_network()
        found = {}
        for task in table.tasks:
            name = next((n for n in (task, f"{task}/2")
                         if n in networks and task in networks[n][1]), None)
            if name is None:
                raise SelectionError(
                    f"{table.source}: the relative objective needs task {task!r}'s single-task "
                    f"network ({task!r} or '{task}/2'), and the table has neither")
            found[task] = name
        return found

    def transform(self, table: LossTable, references: Mapping[str, str] | None = None
                  ) -> LossTable:
        """The table the selection minimises: same networks, costs and rows, each value
        scaled (relative, weights) or given its direction (metric).

        Args:
            table: a loss table (or, for ``metric``, a table of metric values).
            references: ``relative``: task → the reference network to divide by (default
                :meth:`references` of ``table``). Pass the validation table's to score a test
                table against the same networks.

        Raises:
            SelectionError: a weight or a higher-is-better task names a task the table lacks;
                a reference network is missing or its loss is not positive (the task named).
        """
        tasks = set(table.tasks)
        for what, named in (("weight", self.weights), ("higher-is-better task",
                                                        self.higher_is_better)):
            unknown = [t for t in named if t not in tasks]
            if unknown:
                raise SelectionError(f"{what} for unknown task(s) {', '.join(unknown)}; the "
                                     f"table's tasks are {', '.join(table.tasks)}")
        if self.is_raw:
            return table
        scale = {t: self.weights.get(t, 1.0) for t in table.tasks}
        shift = dict.fromkeys(table.tasks, 0.0)
        if self.kind == "relative":
            for task, ref in self._reference_losses(table, references).items():
                scale[task] /= ref
        for task in self.higher_is_better:  # metric: lower is better after this
            values = [r.loss for r in table.rows if r.task == task]
            shift[task] = 1.0 if all(0.0 <= v <= 1.0 for v in values) else 0.0
            scale[task] = -scale[task]
        rows = tuple(LossRow(r.network, r.cost, r.task,
                             (shift[r.task] * self.weights.get(r.task, 1.0)
                              + scale[r.task] * r.loss))
                     for r in table.rows)
        return LossTable(rows, f"{self.kind}({table.source})")

    def _reference_losses(self, table: LossTable, references: Mapping[str, str] | None
                          ) -> dict[str, float]:
        names = dict(references) if references is not None else self.references(table)
        networks = table.by_network()
        losses = {}
        for task in table.tasks:
            name = names.get(task)
            if name is None or name not in networks or task not in networks[name][1]:
                raise SelectionError(f"{table.source}: no loss of task {task!r} from its "
                                     f"reference network {name or task!r}")
            loss = networks[name][1][task]
            if not loss > 0:
                raise SelectionError(f"{table.source}: the relative objective divides by the "
                                     f"loss of task {task!r}'s network {name!r}, which is "
                                     f"{loss:g}; it needs a positive loss")
            losses[task] = loss
        return losses

    def describe(self, table: LossTable | None = None) -> str:
        """One line for reports: which objective chose the networks (with ``table``, the
        relative objective names its reference networks)."""
        if self.kind == "raw":
            text = "raw: the sum of the tasks' losses (the paper's)"
        elif self.kind == "relative":
            names = ", ".join(self.references(table).values()) if table is not None else "t"
            text = f"relative: each task's loss over its single-task network's ({names})"
        else:
            flipped = (f"; higher is better for {', '.join(self.higher_is_better)} (as 1 − M "
                       "for a rate, else −M)" if self.higher_is_better else "")
            text = f"metric: the sum of the tasks' metrics, lower is better{flipped}"
        if self.weights:
            text += ", weighted " + ", ".join(f"{t}={w:g}" for t, w in self.weights.items())
        return text


def parse_weights(text: str) -> dict[str, float]:
    """``"a=2,b=0.5"`` → ``{"a": 2.0, "b": 0.5}`` (a command line's ``--weights``).

    >>> parse_weights("a=2, b=0.5")
    {'a': 2.0, 'b': 0.5}
    """
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        task, sep, value = part.partition("=")
        if not sep or not task.strip():
            raise SelectionError(f"weights: {part!r} is not TASK=WEIGHT (e.g. a=2,b=0.5)")
        try:
            weights[task.strip()] = float(value)
        except ValueError:
            raise SelectionError(f"weight of task {task.strip()!r} is {value.strip()!r}; "
                                 "expected a positive, finite number") from None
    Objective(weights=weights)  # the same checks and messages as any objective's
    return weights


def split_names(text: str) -> tuple[str, ...]:
    """``"a, b"`` → ``("a", "b")``."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


def settings_objective(settings: Mapping[str, Any]) -> Objective:
    """The objective of a run's settings as JSON (``pipeline.objective``; ``raw`` if absent).

    >>> settings_objective({"pipeline": {"objective": "relative"}}).kind
    'relative'
    """
    return Objective.parse(settings.get("pipeline", {}).get("objective"))
