"""The default solver: the fastest exact method for the problem's size.

All exact solvers return the same objective, cost and number of networks, so only speed
decides. Measured on a shared core (``bench/selection.py --only crossover``: all subsets plus
half-size singles with HOA scores; CPU seconds for one budget, n/2, and for a sweep of nine,
1..5 by 0.5; docs/RESULTS.md):

=====  ==========  ===========  =======  ===========  =======
tasks  candidates  frontier, 1  milp, 1  frontier, 9  milp, 9
=====  ==========  ===========  =======  ===========  =======
6      69          0.002        0.03     0.003        0.40
8      263         0.06         0.11     0.05         1.6
9      520         0.14         0.13     0.13         1.4
10     1033        0.49         0.17     0.36         2.1
11     2058        1.3          0.49     1.5          32
=====  ==========  ===========  =======  ===========  =======

The frontier (:mod:`~mtlgroup.selection.solvers.frontier`) costs about ``3^n`` steps once and
then answers every budget by a lookup; the MILP pays at every budget (and much more at tight
ones). Rule (:data:`FRONTIER_MAX_TASKS`): the frontier up to 8 tasks, up to 9 for a sweep of 2
budgets or more, up to 11 for 3 or more; the MILP beyond, and for a problem whose candidates
times ``2^n`` exceed the frontier's :data:`~mtlgroup.selection.solvers.frontier.MAX_CELLS`. A
frontier that grows past :data:`MAX_ENTRIES` entries (many distinct costs) is abandoned for
the MILP.

Example:
    >>> from mtlgroup.selection import Candidate, SelectionProblem
    >>> problem = SelectionProblem(("a", "b"), (
    ...     Candidate("a", 1, {"a": 0.3}), Candidate("b", 1, {"b": 0.5}),
    ...     Candidate("a+b", 1, {"a": 0.35, "b": 0.4})), budget=2)
    >>> choose_solver(problem), solve_auto(problem).names
    ('frontier', ('a', 'a+b'))
"""

from __future__ import annotations

from mtlgroup.selection.problem import SelectionProblem, Solution
from mtlgroup.selection.solvers import frontier
from mtlgroup.selection.solvers.clock import Clock
from mtlgroup.selection.solvers.frontier import FrontierTooLarge, solve_frontier
from mtlgroup.selection.solvers.milp import solve_milp

FRONTIER_MAX_TASKS: tuple[tuple[int, int], ...] = ((3, 11), (2, 9), (1, 8))
"""``(budgets, tasks)``: with at least this many budgets in one sweep, the frontier up to this
many tasks (the crossovers of the table above)."""

MAX_ENTRIES = 50_000
"""Entries the frontier may hold over all its states before auto switches to the MILP (a few
tenths of a second of work)."""


def choose_solver(problem: SelectionProblem, budgets: int = 1) -> str:
    """``"frontier"`` or ``"milp"``: the faster for ``problem`` solved at ``budgets`` budgets."""
    n = len(problem.tasks)
    if len(problem.candidates) << n > frontier.MAX_CELLS:
        return "milp"  # the frontier would refuse it (memory)
    for least_budgets, tasks in FRONTIER_MAX_TASKS:
        if budgets >= least_budgets and n <= tasks:
            return "frontier"
    return "milp"


def solve_auto(problem: SelectionProblem, *, time_limit: float | None = None) -> Solution:
    """Exact best selection with the method :func:`choose_solver` picks; the solution's
    ``solver`` names the method that found it."""
    clock = Clock(time_limit)
    if choose_solver(problem) == "frontier":
        try:
            return solve_frontier(problem, time_limit=time_limit, max_entries=MAX_ENTRIES)
        except FrontierTooLarge:
            pass
    remaining = None if time_limit is None else clock.remaining()
    return solve_milp(problem, time_limit=remaining)
