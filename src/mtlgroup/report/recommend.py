"""The recommendation at the top of the report: which networks to train at one budget, and
what they buy against one all-task network and against independent networks.

**Which budget.** The one the user asked for (``pipeline.recommend_budget``), else the *knee*
of the curve the run chose on, never of the test curve:

1. every feasible budget whose chosen networks were trained gives a point (budget, validation
   total), the validation total being the sum over tasks of the validation loss of the network
   chosen to serve the task (the honest rule);
2. only the budgets that improve on every cheaper one are kept: a budget that buys nothing over
   a cheaper one is never recommended;
3. the kept points are scaled to [0, 1] on both axes, the cheapest at (0, 1) and the one with
   the lowest validation total at (1, 0); the knee is the point furthest below the straight
   line between them (the largest ``1 − x − y``, Kneedle's rule on a decreasing curve). When
   no point lies below that line (one or two points, or a straight or concave curve), the knee
   is the budget with the lowest validation total.

Ties go to the smaller budget.

**What it buys.** Per task, ``(chosen − baseline) / baseline × 100`` of the task's test loss:
negative is better. The baselines are those of the same budget; a budget without baselines
is compared with those of the nearest baseline budget (of two equally near, the larger: the
baselines then get at least the chosen networks' budget), and the recommendation says which.

Example:
    >>> knee([(1.0, 10.0), (2.0, 6.0), (3.0, 5.5), (4.0, 5.4)])
    2.0
    >>> knee([(1.0, 10.0), (2.0, 10.0), (3.0, 9.0)])  # 2 buys nothing over 1: no knee
    3.0
    >>> change_percent(0.75, 1.0), change_percent(1.25, 1.0)  # chosen, baseline: lower is better
    (-25.0, 25.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

OptionKind = Literal["chosen", "all-task", "independent"]
LABELS: dict[OptionKind, str] = {
    "chosen": "chosen networks",
    "all-task": "one all-task network",
    "independent": "independent single-task networks",
}
"""How the report names each option."""

KNEE = "the knee of the validation curve"
ASKED = "the budget asked for (pipeline.recommend_budget)"


class Row(Protocol):
    """What the recommendation reads of a budget's row (a
    :class:`~mtlgroup.pipeline.BudgetRow`)."""

    budget: float
    feasible: bool
    note: str
    cost: float | None


@dataclass(frozen=True)
class Option:
    """One way to serve every task at a budget: the chosen networks or a baseline.

    Attributes:
        kind: ``chosen``, ``all-task`` or ``independent``.
        budget: the budget it was chosen (or scaled) for.
        served_by: task → the network serving it.
        members: network → all of its tasks (those it does not serve are auxiliary).
        test: task → the serving network's test scores ``{"loss": ..., metric: ...}``; a task
            whose network was not trained (its training failed) is missing.
    """

    kind: OptionKind
    budget: float
    served_by: dict[str, str]
    members: dict[str, tuple[str, ...]]
    test: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    @property
    def networks(self) -> list[str]:
        """The option's networks, in the order of the tasks they serve."""
        return list(dict.fromkeys(self.served_by.values()))

    @property
    def losses(self) -> dict[str, float]:
        return {task: scores["loss"] for task, scores in self.test.items()}

    @property
    def total(self) -> float | None:
        """Sum of the test losses over tasks (None unless every task was scored)."""
        if set(self.test) != set(self.served_by):
            return None
        return float(sum(self.losses.values()))

    def serves(self, network: str) -> list[str]:
        return [t for t, n in self.served_by.items() if n == network]

    def auxiliary(self, network: str) -> list[str]:
        """The tasks ``network`` is trained on but does not serve."""
        served = set(self.serves(network))
        return [t for t in self.members.get(network, ()) if t not in served]


def change_percent(chosen: float, baseline: float) -> float | None:
    """``(chosen − baseline) / baseline × 100`` (negative: the chosen loss is lower); None
    when the baseline's loss is zero or either is not finite."""
    if baseline == 0 or not (math.isfinite(chosen) and math.isfinite(baseline)):
        return None
    return (chosen - baseline) / baseline * 100.0


@dataclass(frozen=True)
class Comparison:
    """The chosen networks against one baseline, task by task, on test."""

    chosen: Option
    baseline: Option

    @property
    def change(self) -> dict[str, float | None]:
        """Task → % change of its test loss against the baseline (only tasks both scored)."""
        mine, theirs = self.chosen.losses, self.baseline.losses
        return {t: change_percent(mine[t], theirs[t]) for t in mine if t in theirs}

    @property
    def total_change(self) -> float | None:
        mine, theirs = self.chosen.total, self.baseline.total
        return None if mine is None or theirs is None else change_percent(mine, theirs)

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline.kind, "budget": self.baseline.budget,
                "networks": self.baseline.networks, "test_per_task": self.baseline.losses,
                "test_total": self.baseline.total, "change_percent": self.change,
                "total_change_percent": self.total_change}


@dataclass(frozen=True)
class Recommendation:
    """The budget recommended, why, its networks and what they buy (see the module's
    docstring). ``chosen`` is None when nothing can be recommended; ``note`` then says why,
    and otherwise says which baselines the chosen networks are compared with when they are
    not those of the same budget."""

    budget: float | None
    reason: str
    chosen: Option | None = None
    cost: float | None = None
    comparisons: tuple[Comparison, ...] = ()
    note: str = ""
    export_command: str | None = None

    @property
    def sentence(self) -> str:
        """The recommendation in one sentence (what the report prints at its top)."""
        if self.chosen is None:
            return self.note + "."
        option, count = self.chosen, len(self.chosen.networks)
        spent = "" if self.cost is None else f"; they cost {self.cost:.2f}"
        networks = _join([_describe(option, n) for n in option.networks])
        text = (f"Train {count} network{'s' if count != 1 else ''} at budget {self.budget:g} "
                f"({self.reason}{spent}): {networks}")
        unscored = [t for t in option.served_by if t not in option.test]
        if unscored:  # its network's training failed (the report lists the failures)
            text += f"; no test loss for {', '.join(unscored)}: its network's training failed"
        if not any(c.change for c in self.comparisons):  # no baselines, or nothing scored
            return f"{text}; {self.note}." if self.note else f"{text}."
        where = "the same budget"
        elsewhere = self.comparisons[0].baseline.budget
        if not math.isclose(elsewhere, self.budget or 0.0):
            where = (f"budget {elsewhere:g}, the nearest baseline budget (budget "
                     f"{self.budget:g} has none)")
        against = [f"against {c.baseline.label} by {_changes(c.change)}"
                   for c in self.comparisons if c.change]
        return (f"{text}; with the baselines of {where}, each task's test loss (lower is "
                f"better) changes {', and '.join(against)}.")

    def to_dict(self) -> dict[str, Any]:
        """The ``recommendation`` of ``report.json``."""
        chosen = self.chosen
        return {
            "budget": self.budget, "reason": self.reason, "feasible": chosen is not None,
            "networks": chosen.networks if chosen else [],
            "served_by": dict(chosen.served_by) if chosen else {},
            "cost": self.cost, "test_per_task": chosen.losses if chosen else {},
            "test_total": chosen.total if chosen else None,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "note": self.note, "sentence": self.sentence, "export_command": self.export_command,
        }


def knee(points: Sequence[tuple[float, float]]) -> float | None:
    """The knee of ``(budget, validation total)`` points (see the module's docstring); None
    without points."""
    kept: list[tuple[float, float]] = []
    for budget, total in sorted(points):
        if not kept or total < kept[-1][1]:
            kept.append((budget, total))
    if not kept:
        return None
    (b0, v0), (b1, v1) = kept[0], kept[-1]
    if len(kept) < 3:
        return b1
    below = [(1 - (b - b0) / (b1 - b0) - (v - v1) / (v0 - v1), b) for b, v in kept]
    best = max(distance for distance, _ in below)
    if best <= 1e-12:
        return b1
    return min(b for distance, b in below if distance >= best - 1e-12)


def recommend(
    rows: Sequence[Row],
    val_totals: Mapping[float, float],
    options: Mapping[float, Mapping[OptionKind, Option]],
    asked: float | None = None,
) -> Recommendation:
    """The recommendation of a run.

    Args:
        rows: one per budget (feasibility, note and cost).
        val_totals: budget → the validation total of its chosen networks (budgets whose chosen
            networks were all trained); the knee is found on these.
        options: budget → its options by kind (``chosen`` where feasible, ``all-task`` and
            ``independent`` where the run trained baselines).
        asked: the budget the user asked for (one of the rows'), or None for the knee.
    """
    by_budget = {row.budget: row for row in rows}
    if asked is not None:
        budget = next((b for b in by_budget if math.isclose(b, asked)), None)
        if budget is None:
            raise ValueError(f"recommend_budget {asked:g} is not one of the budgets "
                             f"({', '.join(f'{b:g}' for b in by_budget)})")
        reason = ASKED
        row = by_budget[budget]
        if not row.feasible:
            feasible = [r.budget for r in rows if r.feasible]
            after = f"; the cheapest feasible budget is {min(feasible):g}" if feasible else ""
            return Recommendation(budget, reason, note=f"Budget {budget:g}, the one asked for, "
                                  f"is infeasible ({row.note}){after}")
    else:
        found = knee(list(val_totals.items()))
        if found is None:
            return Recommendation(None, KNEE, note="Nothing to recommend: no budget is "
                                  "feasible, or no chosen network finished its training")
        budget, reason = found, KNEE
    chosen = options.get(budget, {}).get("chosen")
    if chosen is None:
        return Recommendation(budget, reason, note=f"Nothing to recommend at budget "
                              f"{budget:g}: its chosen networks were not scored")
    compared, note = _baselines(budget, options)
    return Recommendation(
        budget, reason, chosen, by_budget[budget].cost,
        tuple(Comparison(chosen, base) for base in compared), note,
    )


def _baselines(budget: float, options: Mapping[float, Mapping[OptionKind, Option]]
               ) -> tuple[list[Option], str]:
    """The baselines to compare with (same budget, else the nearest) and a note."""
    with_baselines = [b for b, found in options.items()
                      if any(kind != "chosen" for kind in found)]
    if not with_baselines:
        return [], "the run trained no baselines (pipeline.baseline_budgets is empty)"
    nearest = min(with_baselines, key=lambda b: (abs(b - budget), -b))
    note = ("" if math.isclose(nearest, budget) else
            f"budget {budget:g} has no baselines: compared with those of budget "
            f"{nearest:g}, the nearest baseline budget")
    found = options[nearest]
    return [found[kind] for kind in ("all-task", "independent") if kind in found], note


def _describe(option: Option, network: str) -> str:
    """``a+b+c (serves a, b; c auxiliary)``."""
    text = f"{network} (serves {', '.join(option.serves(network))}"
    auxiliary = option.auxiliary(network)
    if auxiliary:
        text += f"; {', '.join(auxiliary)} auxiliary"
    return text + ")"


def _changes(change: Mapping[str, float | None]) -> str:
    return ", ".join(f"{task} {format_percent(value)}" for task, value in change.items())


def format_percent(value: float | None) -> str:
    """``-3.1%``, ``+0.4%`` (``n/a`` without a value).

    >>> format_percent(-3.14159), format_percent(0.4), format_percent(None)
    ('-3.1%', '+0.4%', 'n/a')
    """
    return "n/a" if value is None else f"{value:+.1f}%"


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
