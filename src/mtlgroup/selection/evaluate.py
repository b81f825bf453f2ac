"""Scoring a selection on another split (ALGORITHMS §1, "Selection vs evaluation").

- *honest rule* (mtlgroup's default): each task is served by the network chosen for it on the
  selection split, and scored with that network's loss on the other split;
- *min rule* (the paper's published totals): each task takes the lowest loss among the chosen
  networks that carry it, on the other split, which peeks at that split.

Example:
    >>> from mtlgroup.selection import LossTable, problem_from_table, solve
    >>> val = LossTable.from_rows([("a", 1, "a", 0.3), ("b", 1, "b", 0.5),
    ...                            ("a+b", 1, "a", 0.35), ("a+b", 1, "b", 0.4)])
    >>> test = LossTable.from_rows([("a", 1, "a", 0.36), ("b", 1, "b", 0.5),
    ...                             ("a+b", 1, "a", 0.34), ("a+b", 1, "b", 0.41)])
    >>> result = evaluate(solve(problem_from_table(val, budget=2)), test)
    >>> round(result.total, 2), round(result.total_min_rule, 2)
    (0.77, 0.75)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mtlgroup.selection.problem import Candidate, SelectionError, Solution
from mtlgroup.selection.table import LossTable, TableError


@dataclass(frozen=True)
class Evaluation:
    """Totals and per-task losses of a solution on another split.

    Attributes:
        total: sum over tasks, honest rule.
        total_min_rule: sum over tasks, min rule.
        per_task: ``{task: loss}``, honest rule.
        per_task_min_rule: ``{task: loss}``, min rule.
    """

    total: float
    total_min_rule: float
    per_task: Mapping[str, float]
    per_task_min_rule: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        """The ``test`` fields of ``mtlgroup select --score-on`` (DESIGN.md)."""
        return {"total": self.total, "total_min_rule": self.total_min_rule,
                "per_task": dict(self.per_task)}


def evaluate(solution: Solution, table: LossTable) -> Evaluation:
    """Score ``solution`` on ``table`` (e.g. the test split) under both rules.

    A chosen network is looked up by name, else by its task set and cost (a network HOA
    predicted may be named differently in the other table).

    Raises:
        SelectionError: the solution maximised scores (an affinity grouping), not losses.
        TableError: ``table`` lacks a chosen network or one of its tasks.
    """
    problem = solution.problem
    if problem.sense != "min":
        raise SelectionError("only a selection on losses can be scored on another split")
    networks = table.by_network()
    losses = {c.name: _losses_of(c, networks, table.source) for c in solution.networks}
    per_task = {t: losses[solution.served_by[t]][t] for t in problem.tasks}
    per_task_min = {t: min(found[t] for found in losses.values() if t in found)
                    for t in problem.tasks}
    return Evaluation(
        total=float(sum(per_task.values())),
        total_min_rule=float(sum(per_task_min.values())),
        per_task=per_task,
        per_task_min_rule=per_task_min,
    )


def _losses_of(network: Candidate, networks: Mapping[str, tuple[float, dict[str, float]]],
               source: str) -> dict[str, float]:
    if network.name in networks:
        found = networks[network.name][1]
    else:
        same = [losses for cost, losses in networks.values()
                if set(losses) == set(network.tasks) and cost == network.cost]
        if len(same) != 1:
            raise TableError(f"{source}: no network {network.name!r}")
        found = same[0]
    missing = [t for t in network.tasks if t not in found]
    if missing:
        raise TableError(f"{source}: network {network.name!r} has no loss for task(s) "
                         f"{', '.join(missing)}")
    return found
