"""One problem at several budgets, sharing the work (a budget curve, ``select --budgets``).

With the frontier method (chosen by ``auto`` for few tasks, or asked for) the cover frontier is
computed once and each budget is a lookup; with any other solver each budget is its own solve.
An infeasible budget is an :class:`~mtlgroup.selection.InfeasibleError` in its place of the
result, so one budget below the cheapest cover does not lose the others.

Example:
    >>> from mtlgroup.selection import Candidate, SelectionProblem
    >>> problem = SelectionProblem(("a", "b"), (
    ...     Candidate("a", 1, {"a": 0.3}), Candidate("b", 1, {"b": 0.5}),
    ...     Candidate("a+b", 1, {"a": 0.35, "b": 0.4})), budget=1)
    >>> [getattr(r, "names", type(r).__name__) for r in solve_budgets(problem, [0.5, 1, 2])]
    ['InfeasibleError', ('a+b',), ('a', 'a+b')]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mtlgroup.selection.implicit import ImplicitProblem
from mtlgroup.selection.problem import InfeasibleError, SelectionProblem, Solution
from mtlgroup.selection.solvers import auto
from mtlgroup.selection.solvers.frontier import CoverFrontier, FrontierTooLarge


def solve_budgets(
    problem: SelectionProblem | ImplicitProblem, budgets: Iterable[float],
    solver: str = "auto", *,
    time_limit: float | None = None,
) -> list[Solution | InfeasibleError]:
    """The best solution of ``problem`` at each of ``budgets`` (its own budget is ignored).

    Args:
        problem: the problem; anything with ``with_budget`` that :func:`solve` accepts.
        budgets: the budgets, in any order; the results follow it.
        solver: a registered solver name; ``"auto"`` picks by size and number of budgets
            (:func:`~mtlgroup.selection.solvers.auto.choose_solver`).
        time_limit: seconds for the frontier pass, or for each budget's solve.

    Raises:
        SolverTimeLimit: ``time_limit`` seconds passed first.
    """
    from mtlgroup.selection.solvers import solve  # the package routes every kind of problem

    budgets = [float(b) for b in budgets]
    method = solver
    if solver == "auto" and isinstance(problem, SelectionProblem):
        method = auto.choose_solver(problem, len(budgets))
    if method == "frontier":
        # the frontier lists covers: the candidates must be listed
        listed = problem.expand() if isinstance(problem, ImplicitProblem) else problem
        try:
            frontier = CoverFrontier.of(listed, time_limit=time_limit,
                                        max_entries=auto.MAX_ENTRIES if solver == "auto" else None)
        except FrontierTooLarge:
            method = "milp"
        else:
            return [_attempt(frontier.solution, b) for b in budgets]

    def one(budget: float) -> Solution:
        return solve(problem.with_budget(budget), method, time_limit=time_limit)

    return [_attempt(one, b) for b in budgets]


def _attempt(call: Callable[[float], Solution], budget: float) -> Solution | InfeasibleError:
    try:
        return call(budget)
    except InfeasibleError as error:
        return error
