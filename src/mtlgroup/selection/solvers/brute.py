"""Brute force: every set of candidates, for tests (the oracle the other solvers answer to)."""

from __future__ import annotations

import itertools

from mtlgroup.selection.feasibility import check_feasible
from mtlgroup.selection.problem import SelectionProblem, Solution
from mtlgroup.selection.ranking import Rank, make_solution, within_budget
from mtlgroup.selection.solvers.clock import Clock

_CHECK_EVERY = 4096


def solve_brute_force(problem: SelectionProblem, *, time_limit: float | None = None) -> Solution:
    """The first set in the full order of :class:`~mtlgroup.selection.ranking.Rank` among all
    sets of at most ``n`` candidates (a minimal solution has at most one network per task)."""
    check_feasible(problem)
    matrix = problem.matrix
    clock = Clock(time_limit)
    best: Rank | None = None
    largest = min(matrix.n_candidates, matrix.n_tasks)
    for size in range(1, largest + 1):
        for count, chosen in enumerate(itertools.combinations(range(matrix.n_candidates), size)):
            if count % _CHECK_EVERY == 0:
                clock.check()
            if not within_budget(matrix.cost(chosen), problem.budget):
                continue
            rank = Rank.of(matrix, chosen)
            if rank.objective != float("inf") and rank.better_than(best):
                best = rank
    if best is None:  # pragma: no cover - check_feasible guarantees a cover
        raise RuntimeError("brute force: no feasible selection although the cover fits")
    return make_solution(problem, best.members, "brute")
