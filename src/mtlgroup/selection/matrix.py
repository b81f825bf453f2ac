"""The numeric view of a selection problem that every solver works on.

Values are stored in *minimisation form*: losses as given, scores negated. A task a candidate does
not carry holds ``+inf``, so "candidate ``H`` is at least as good as ``G`` on every task ``G``
carries" is simply ``all(losses[H] <= losses[G])``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mtlgroup.selection.problem import SelectionProblem


@dataclass(frozen=True, eq=False)
class CandidateMatrix:
    """Losses ``[N, n]`` (``+inf`` where a task is not carried) and costs ``[N]``.

    Row ``i`` is ``problem.candidates[i]``, column ``j`` is ``problem.tasks[j]``.
    """

    losses: np.ndarray
    costs: np.ndarray

    @classmethod
    def from_problem(cls, problem: SelectionProblem) -> CandidateMatrix:
        column = {t: j for j, t in enumerate(problem.tasks)}
        sign = 1.0 if problem.sense == "min" else -1.0
        losses = np.full((len(problem.candidates), len(problem.tasks)), np.inf)
        for i, candidate in enumerate(problem.candidates):
            for task, value in candidate.values.items():
                losses[i, column[task]] = sign * value
        costs = np.array([c.cost for c in problem.candidates], dtype=float)
        losses.setflags(write=False)
        costs.setflags(write=False)
        return cls(losses, costs)

    @property
    def n_candidates(self) -> int:
        return self.losses.shape[0]

    @property
    def n_tasks(self) -> int:
        return self.losses.shape[1]

    @property
    def members(self) -> np.ndarray:
        """``[N, n]`` bool: candidate carries task."""
        return np.isfinite(self.losses)

    def masks(self) -> list[int]:
        """Each candidate's task set as a bit mask (bit ``j`` = task ``j``)."""
        return [sum(1 << int(j) for j in np.flatnonzero(row)) for row in self.members]

    def best_per_task(self, chosen: Iterable[int]) -> np.ndarray:
        """``[n]``: each task's best loss among ``chosen`` (``+inf`` if none carries it)."""
        rows = list(chosen)
        if not rows:
            return np.full(self.n_tasks, np.inf)
        return self.losses[rows].min(axis=0)

    def value(self, chosen: Iterable[int]) -> float:
        """Objective (minimisation form) of choosing ``chosen``: ``inf`` if a task is unserved.

        Summed in task order so that every solver reports bit-identical values for a set.
        """
        return float(sum(self.best_per_task(chosen).tolist()))

    def cost(self, chosen: Iterable[int]) -> float:
        """Total cost of ``chosen``, summed in candidate order."""
        return float(sum(self.costs[sorted(set(chosen))].tolist()))
