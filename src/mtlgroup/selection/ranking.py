"""How solutions compare, and how a solver's chosen set becomes a :class:`Solution`.

Order (ALGORITHMS §1): better objective; among equal objectives lower total cost; then fewer
networks; then the set whose sorted candidate positions come first. Objectives and costs within
:data:`REL_TOL` (relative) count as equal, so sums taken in different orders do not decide ties.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from mtlgroup.selection.matrix import CandidateMatrix
from mtlgroup.selection.problem import SelectionProblem, Solution

REL_TOL = 1e-9
"""Relative tolerance under which two objectives (or costs) are the same."""


def close(a: float, b: float) -> bool:
    """``a`` and ``b`` are equal up to :data:`REL_TOL`."""
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


def within_budget(cost: float, budget: float) -> bool:
    return cost <= budget or close(cost, budget)


@dataclass(frozen=True)
class Rank:
    """Comparable summary of a chosen set (objective in minimisation form)."""

    objective: float
    cost: float
    count: int
    members: tuple[int, ...]

    @classmethod
    def of(cls, matrix: CandidateMatrix, chosen: Iterable[int]) -> Rank:
        members = tuple(sorted(set(chosen)))
        return cls(matrix.value(members), matrix.cost(members), len(members), members)

    def better_than(self, other: Rank | None) -> bool:
        """Strictly better than ``other`` (anything beats ``None``)."""
        if other is None:
            return True
        if not close(self.objective, other.objective):
            return self.objective < other.objective
        if not close(self.cost, other.cost):
            return self.cost < other.cost
        if self.count != other.count:
            return self.count < other.count
        return self.members < other.members


def minimal(matrix: CandidateMatrix, chosen: Iterable[int]) -> list[int]:
    """Drop chosen networks that serve nothing: every task they carry is served at least as
    well by another chosen network. Expensive ones go first, so the cheaper set remains."""
    kept = sorted(set(chosen))
    if not _any_redundant(matrix.losses[kept]):
        return kept  # the usual case, found without the one-by-one pass
    for i in sorted(kept, key=lambda k: (-matrix.costs[k], -k)):
        others = [k for k in kept if k != i]
        if not others:
            continue
        carried = np.isfinite(matrix.losses[i])
        rest = matrix.best_per_task(others)
        if np.all(rest[carried] <= matrix.losses[i][carried]):
            kept = others
    return kept


def _any_redundant(losses: np.ndarray) -> bool:
    """Some row of ``losses`` (the chosen networks) is matched or beaten on every task it
    carries by the best of the other rows. The best of the others is the column's best, or
    its second best in the best row."""
    if len(losses) < 2:
        return False
    if losses.size <= 200:  # a handful of networks: plain Python beats numpy's call overhead
        rows = losses.tolist()
        return any(all(any(other[j] <= value for other in rows[:i] + rows[i + 1:])
                       for j, value in enumerate(row))
                   for i, row in enumerate(rows))
    order = np.argsort(losses, axis=0, kind="stable")
    columns = np.arange(losses.shape[1])
    best, second = losses[order[0], columns], losses[order[1], columns]
    others = np.where(order[0] == np.arange(len(losses))[:, None], second, best)
    return bool(np.any(np.all(others <= losses, axis=1)))


def make_solution(problem: SelectionProblem, chosen: Iterable[int], solver: str) -> Solution:
    """The :class:`Solution` choosing ``chosen`` (positions in ``problem.candidates``), made
    minimal, each task served by its best chosen network (ties: the earlier candidate)."""
    matrix = problem.matrix
    kept = minimal(matrix, chosen)
    cost = matrix.cost(kept)
    if not within_budget(cost, problem.budget):
        raise RuntimeError(f"solver {solver} chose networks costing {cost} > {problem.budget}")
    losses = matrix.losses[kept]
    best = losses.min(axis=0) if kept else np.full(matrix.n_tasks, np.inf)
    unserved = np.flatnonzero(~np.isfinite(best))
    if unserved.size:
        raise RuntimeError(f"solver {solver} left task {problem.tasks[unserved[0]]!r} unserved")
    served_by = {task: problem.candidates[kept[row]].name  # argmin: the earlier on ties
                 for task, row in zip(problem.tasks, losses.argmin(axis=0).tolist(), strict=True)}
    value = float(sum(best.tolist()))  # as CandidateMatrix.value: in task order
    return Solution(
        problem=problem,
        networks=tuple(problem.candidates[k] for k in kept),
        served_by=served_by,
        objective=value if problem.sense == "min" else 0.0 - value,  # no -0.0
        cost=cost,
        solver=solver,
    )
