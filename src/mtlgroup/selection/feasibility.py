"""Can every task be served within the budget? (set cover, solved exactly with HiGHS)."""

from __future__ import annotations

import numpy as np

from mtlgroup.selection.problem import InfeasibleError, SelectionProblem
from mtlgroup.selection.ranking import within_budget


def min_cover_cost(problem: SelectionProblem) -> float:
    """The least total cost of networks that together carry every task (exact).

    Shortcut: no cover is cheaper than the dearest task's cheapest carrier, so a network that
    carries every task at that cost is optimal without solving a program.
    """
    matrix = problem.matrix
    members = matrix.members
    lower = float(np.where(members, matrix.costs[:, None], np.inf).min(axis=0).max())
    carries_all = members.all(axis=1)
    if carries_all.any() and matrix.costs[carries_all].min() <= lower:
        return lower
    return _solve_set_cover(members, matrix.costs)


def check_feasible(problem: SelectionProblem) -> None:
    """Raise :class:`InfeasibleError` when covering every task costs more than the budget.

    Summing each task's cheapest carrier bounds the cover's cost from above; when that fits
    the budget (the usual case) no program is solved.
    """
    matrix = problem.matrix
    cheapest = np.where(matrix.members, matrix.costs[:, None], np.inf).min(axis=0)
    if within_budget(float(sum(cheapest.tolist())), problem.budget):
        return
    required = min_cover_cost(problem)
    if not within_budget(required, problem.budget):
        raise InfeasibleError(required, problem.budget)


def _solve_set_cover(members: np.ndarray, costs: np.ndarray) -> float:
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    cover = LinearConstraint(csr_matrix(members.T.astype(float)), lb=1.0, ub=np.inf)
    result = milp(costs, constraints=cover, integrality=np.ones(len(costs)),
                  bounds=Bounds(0.0, 1.0), options={"mip_rel_gap": 0.0})
    if result.x is None:  # pragma: no cover - every task has a carrier (problem validation)
        raise RuntimeError(f"set cover failed: {result.message}")
    chosen = result.x > 0.5
    return float(sum(costs[chosen].tolist()))
