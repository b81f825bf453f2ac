"""Scoring a selection on another split (ALGORITHMS §1, "Selection vs evaluation").

- *honest rule* (mtlgroup's default): each task is served by the network chosen for it on the
  selection split, and scored with that network's loss on the other split;
- *min rule* (the paper's published totals): each task takes the lowest loss among the chosen
  networks that carry it, on the other split, which peeks at that split.

:func:`score_served` is the one place both rules are computed, on plain names and a
``{network: {task: loss}}`` table; :func:`evaluate` (a :class:`Solution` on a
:class:`LossTable`), :meth:`mtlgroup.study.Study.evaluate` and the pipeline's evaluate stage
all call it.

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

from collections.abc import Iterable, Mapping
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


def score_served(
    served_by: Mapping[str, str],
    table: Mapping[str, Mapping[str, float]],
    networks: Iterable[str] | None = None,
    source: str = "the table",
) -> Evaluation:
    """Score a selection under both rules on ``table`` (``{network: {task: loss}}``).

    Args:
        served_by: task → the network chosen (on the selection split) to serve it; the tasks
            scored are its keys.
        table: the other split's losses, by the same network names.
        networks: the chosen networks the min rule may read from (default: those in
            ``served_by``).
        source: names ``table`` in errors.

    Raises:
        TableError: ``table`` lacks a chosen network or a task of one.

    Example:
        >>> test = {"a+b": {"a": 0.3, "b": 0.6}, "b": {"b": 0.5}}
        >>> result = score_served({"a": "a+b", "b": "a+b"}, test, networks=["a+b", "b"])
        >>> round(result.total, 6), round(result.total_min_rule, 6), dict(result.per_task_min_rule)
        (0.9, 0.8, {'a': 0.3, 'b': 0.5})
    """
    chosen = list(dict.fromkeys([*served_by.values(), *(networks or ())]))
    missing = [n for n in chosen if n not in table]
    if missing:
        raise TableError(f"{source}: no network {missing[0]!r}")
    for task, network in served_by.items():
        if task not in table[network]:
            raise TableError(f"{source}: network {network!r} has no loss for task {task!r}")
    per_task = {t: float(table[n][t]) for t, n in served_by.items()}
    per_task_min = {t: float(min(table[n][t] for n in chosen if t in table[n]))
                    for t in served_by}
    return Evaluation(
        total=float(sum(per_task.values())),
        total_min_rule=float(sum(per_task_min.values())),
        per_task=per_task,
        per_task_min_rule=per_task_min,
    )


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
    served_by = {t: solution.served_by[t] for t in problem.tasks}
    return score_served(served_by, losses, losses, table.source)


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
