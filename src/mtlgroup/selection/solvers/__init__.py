"""Solvers of :class:`~mtlgroup.selection.SelectionProblem`, by name.

- ``auto`` (default): the fastest exact method for the problem's size: ``frontier`` for few
  tasks, ``milp`` beyond (:mod:`~mtlgroup.selection.solvers.auto`).
- ``milp``: exact mixed-integer program with HiGHS, with presolve and reduced-cost
  fixing; scales to all subsets of 15 tasks.
- ``frontier``: the Pareto frontier of covers, every budget at once (:func:`solve_budgets`).
- ``bnb``: Standley et al.'s branch and bound with an added lower bound.
- ``dp``: dynamic programming over set partitions, ``O(3^n)`` (ALGORITHMS §2.1).
- ``brute``: every set of candidates; the oracle of the tests.
- ``colgen``: column generation (ALGORITHMS §1.6), for problems whose candidates are not all
  listed (:class:`~mtlgroup.selection.implicit.ImplicitProblem`); it reports its proven gap.

All are exact and return a minimal solution. They agree on the objective, then the cost, then the
number of networks; ``bnb`` without presolve and ``brute`` also agree on the final tie-break
(the earliest candidates).

Example:
    >>> from mtlgroup.selection import Candidate, SelectionProblem
    >>> problem = SelectionProblem(("a", "b"), (
    ...     Candidate("a", 1, {"a": 0.3}), Candidate("b", 1, {"b": 0.5}),
    ...     Candidate("a+b", 1, {"a": 0.35, "b": 0.4})), budget=1)
    >>> [solve(problem, s).names for s in available_solvers()]
    [('a+b',), ('a+b',), ('a+b',), ('a+b',), ('a+b',), ('a+b',), ('a+b',)]
"""

from __future__ import annotations

from collections.abc import Callable

from mtlgroup.registry import Registry
from mtlgroup.selection.implicit import ImplicitProblem
from mtlgroup.selection.problem import SelectionProblem, Solution
from mtlgroup.selection.solvers.auto import choose_solver, solve_auto
from mtlgroup.selection.solvers.bnb import solve_bnb
from mtlgroup.selection.solvers.brute import solve_brute_force
from mtlgroup.selection.solvers.clock import SolverTimeLimit
from mtlgroup.selection.solvers.colgen import solve_colgen
from mtlgroup.selection.solvers.frontier import CoverFrontier, solve_frontier
from mtlgroup.selection.solvers.milp import solve_milp
from mtlgroup.selection.solvers.partition_dp import solve_partition_dp
from mtlgroup.selection.solvers.sweep import solve_budgets

SolverFn = Callable[..., Solution]
"""``solver(problem, *, time_limit=None, **options) -> Solution``."""

SOLVERS: Registry[SolverFn] = Registry("solver")
"""Solver functions by name (``auto``, ``milp``, ``bnb``, ``dp``, ``frontier``, ``brute``, and
any registered one)."""
SOLVERS.register("auto", solve_auto)
SOLVERS.register("milp", solve_milp)
SOLVERS.register("bnb", solve_bnb)
SOLVERS.register("dp", solve_partition_dp)
SOLVERS.register("frontier", solve_frontier)
SOLVERS.register("brute", solve_brute_force)
SOLVERS.register("colgen", solve_colgen)


def register_solver(name: str, solver: SolverFn, *, replace: bool = False) -> None:
    """Make ``solver`` available to :func:`solve` (and ``--solver``) as ``name``; another solver
    under a taken name is an error unless ``replace`` is set."""
    SOLVERS.register(name, solver, replace=replace)


def available_solvers() -> list[str]:
    """The registered solver names, built-ins first."""
    return SOLVERS.names()


def get_solver(name: str) -> SolverFn:
    """The solver called ``name``; :class:`~mtlgroup.registry.UnknownNameError` (a ``KeyError``)
    lists the valid names."""
    return SOLVERS.get(name)


def solve(
    problem: SelectionProblem | ImplicitProblem, solver: str = "auto", *,
    time_limit: float | None = None
) -> Solution:
    """Solve ``problem`` with the solver called ``solver``.

    An implicit problem goes to ``colgen`` under ``auto`` (its candidates are never listed);
    any other solver gets it expanded (:meth:`ImplicitProblem.expand`, which refuses one too
    large for memory).

    Raises:
        InfeasibleError: no choice within the budget serves every task.
        SolverTimeLimit: ``time_limit`` seconds passed first.
        SelectionError: an implicit problem too large to list for a solver other than colgen.
    """
    if isinstance(problem, ImplicitProblem):
        if solver in ("auto", "colgen"):
            return solve_colgen(problem, time_limit=time_limit)
        function = get_solver(solver)  # an unknown name is reported before expanding
        return function(problem.expand(), time_limit=time_limit)
    return get_solver(solver)(problem, time_limit=time_limit)


__all__ = [
    "SOLVERS",
    "CoverFrontier",
    "SolverFn",
    "SolverTimeLimit",
    "available_solvers",
    "choose_solver",
    "get_solver",
    "register_solver",
    "solve",
    "solve_auto",
    "solve_bnb",
    "solve_brute_force",
    "solve_colgen",
    "solve_budgets",
    "solve_frontier",
    "solve_milp",
    "solve_partition_dp",
]
