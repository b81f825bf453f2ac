"""Standley et al.'s branch and bound, with a lower bound added (ALGORITHMS §1).

Depth-first over candidates. At each node the candidates still worth trying are those within the
remaining budget that improve some task's current best loss (one that improves none would serve
nothing); they are tried in order of their largest single-task improvement, and each child only
considers the candidates after it, so every set is visited once. The released code has no lower
bound; here a node is pruned when ``Σ_t min(current best, best loss among its candidates)``
cannot beat the incumbent.
"""

from __future__ import annotations

import math

import numpy as np

from mtlgroup.selection.feasibility import check_feasible
from mtlgroup.selection.presolve import undominated
from mtlgroup.selection.problem import SelectionProblem, Solution
from mtlgroup.selection.ranking import REL_TOL, Rank, close, make_solution
from mtlgroup.selection.solvers.clock import Clock

_CHECK_EVERY = 256
"""Nodes between two looks at the clock."""


def solve_bnb(
    problem: SelectionProblem, *, time_limit: float | None = None, presolve: bool = True
) -> Solution:
    """Exact best selection by branch and bound.

    Args:
        problem: the problem.
        time_limit: seconds;
            :class:`~mtlgroup.selection.solvers.clock.SolverTimeLimit` when exceeded.
        presolve: drop dominated candidates first (:mod:`~mtlgroup.selection.presolve`). Without
            it the result is the first optimal set in the full order of
            :class:`~mtlgroup.selection.ranking.Rank`, as brute force returns.
    """
    check_feasible(problem)
    matrix = problem.matrix
    rows = undominated(matrix) if presolve else np.arange(matrix.n_candidates)
    search = _Search(matrix.losses[rows], matrix.costs[rows], problem.budget, Clock(time_limit))
    search.visit([], np.full(matrix.n_tasks, np.inf), 0.0, np.arange(len(rows)))
    if search.best is None:  # pragma: no cover - check_feasible guarantees a cover
        raise RuntimeError("bnb: no feasible selection although the cover fits the budget")
    # rows are ascending, so the search's positions order like the problem's
    return make_solution(problem, rows[list(search.best.members)], "bnb")


class _Search:
    def __init__(self, losses: np.ndarray, costs: np.ndarray, budget: float, clock: Clock):
        self.losses = losses
        self.costs = costs
        self.budget = budget
        self.slack = REL_TOL * max(1.0, abs(budget)) if math.isfinite(budget) else 0.0
        self.clock = clock
        finite = np.where(np.isfinite(losses), losses, -np.inf)
        # an unserved task counts as this bad when ranking improvements
        self.ceiling = finite.max(axis=0) + 1.0
        self.best: Rank | None = None
        self.nodes = 0

    def visit(self, chosen: list[int], current: np.ndarray, spent: float, pool: np.ndarray) -> None:
        self.nodes += 1
        if self.nodes % _CHECK_EVERY == 0:
            self.clock.check()
        if np.isfinite(current).all():
            rank = Rank(float(sum(current.tolist())), self._cost(chosen), len(chosen),
                        tuple(sorted(chosen)))
            if rank.better_than(self.best):
                self.best = rank
        pool = pool[self.costs[pool] <= self.budget - spent + self.slack]
        if pool.size:
            pool = pool[(self.losses[pool] < current).any(axis=1)]
        if not pool.size or self._hopeless(current, spent, pool):
            return
        reference = np.where(np.isfinite(current), current, self.ceiling)
        improvement = (reference - self.losses[pool]).max(axis=1)
        pool = pool[np.argsort(-improvement, kind="stable")]
        for k, network in enumerate(pool):
            self.visit(chosen + [int(network)], np.minimum(current, self.losses[network]),
                       spent + float(self.costs[network]), pool[k + 1:])

    def _hopeless(self, current: np.ndarray, spent: float, pool: np.ndarray) -> bool:
        """No set reachable from this node can beat the incumbent."""
        bound_per_task = np.minimum(current, self.losses[pool].min(axis=0))
        if not np.isfinite(bound_per_task).all():
            return True
        if self.best is None:
            return False
        bound = float(sum(bound_per_task.tolist()))
        if not close(bound, self.best.objective):
            return bound > self.best.objective
        # the objective can at best tie: only a cheaper set would still win
        least = spent + float(self.costs[pool].min())
        return least > self.best.cost and not close(least, self.best.cost)

    def _cost(self, chosen: list[int]) -> float:
        return float(sum(self.costs[sorted(chosen)].tolist()))
