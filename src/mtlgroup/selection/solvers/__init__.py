"""Solvers of :class:`~mtlgroup.selection.SelectionProblem`, by name.

- ``milp`` (default): exact mixed-integer program with HiGHS, with presolve and reduced-cost
  fixing; scales to all subsets of 15 tasks.
- ``bnb``: Standley et al.'s branch and bound with an added lower bound.
- ``dp``: dynamic programming over set partitions, ``O(3^n)`` (ALGORITHMS §2.1).
- ``brute``: every set of candidates; the oracle of the tests.

All are exact and return a minimal solution. They agree on the objective, then the cost, then the
number of networks; ``bnb`` without presolve and ``brute`` also agree on the final tie-break
(the earliest candidates).

Example:
    >>> from mtlgroup.selection import Candidate, SelectionProblem
    >>> problem = SelectionProblem(("a", "b"), (
    ...     Candidate("a", 1, {"a": 0.3}), Candidate("b", 1, {"b": 0.5}),
    ...     Candidate("a+b", 1, {"a": 0.35, "b": 0.4})), budget=1)
    >>> [solve(problem, s).names for s in available_solvers()]
    [('a+b',), ('a+b',), ('a+b',), ('a+b',)]
"""

from __future__ import annotations

from collections.abc import Callable

from mtlgroup.selection.problem import SelectionProblem, Solution
from mtlgroup.selection.solvers.bnb import solve_bnb
from mtlgroup.selection.solvers.brute import solve_brute_force
from mtlgroup.selection.solvers.clock import SolverTimeLimit
from mtlgroup.selection.solvers.milp import solve_milp
from mtlgroup.selection.solvers.partition_dp import solve_partition_dp

SolverFn = Callable[..., Solution]
"""``solver(problem, *, time_limit=None, **options) -> Solution``."""

_SOLVERS: dict[str, SolverFn] = {
    "milp": solve_milp,
    "bnb": solve_bnb,
    "dp": solve_partition_dp,
    "brute": solve_brute_force,
}


def register_solver(name: str, solver: SolverFn) -> None:
    """Make ``solver`` available to :func:`solve` (and ``--solver``) as ``name``."""
    _SOLVERS[name] = solver


def available_solvers() -> list[str]:
    return list(_SOLVERS)


def get_solver(name: str) -> SolverFn:
    try:
        return _SOLVERS[name]
    except KeyError:
        raise KeyError(f"unknown solver {name!r}; available: {', '.join(_SOLVERS)}") from None


def solve(
    problem: SelectionProblem, solver: str = "milp", *, time_limit: float | None = None
) -> Solution:
    """Solve ``problem`` with the solver called ``solver``.

    Raises:
        InfeasibleError: no choice within the budget serves every task.
        SolverTimeLimit: ``time_limit`` seconds passed first.
    """
    return get_solver(solver)(problem, time_limit=time_limit)


__all__ = [
    "SolverFn",
    "SolverTimeLimit",
    "available_solvers",
    "get_solver",
    "register_solver",
    "solve",
    "solve_bnb",
    "solve_brute_force",
    "solve_milp",
    "solve_partition_dp",
]
