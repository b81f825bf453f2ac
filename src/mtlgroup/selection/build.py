"""Building a :class:`SelectionProblem` from loss tables (ALGORITHMS §1).

This is the entry point for every source of losses: a CSV (:func:`read_loss_table`), rows or a
``{network: {task: loss}}`` mapping exported from a study's store (:class:`LossTable`'s
``from_rows`` / ``from_losses``), or a paper's table.

Example:
    >>> from mtlgroup.selection import solve
    >>> problem = problem_from_rows([("a", 1, "a", 0.3), ("b", 1, "b", 0.5),
    ...                              ("a+b", 1, "a", 0.35), ("a+b", 1, "b", 0.4)], budget=1)
    >>> solve(problem).names
    ('a+b',)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, overload

from mtlgroup.selection.approx import esa_table, hoa_problem, hoa_table
from mtlgroup.selection.implicit import ImplicitProblem, listed_if_small
from mtlgroup.selection.problem import Candidate, SelectionError, SelectionProblem
from mtlgroup.selection.table import LossRow, LossTable

Approximation = Literal["hoa", "esa"]
APPROXIMATIONS: tuple[str, ...] = ("hoa", "esa")


def selection_table(
    table: LossTable, approx: str | None = None, early: LossTable | None = None
) -> LossTable:
    """The table the selection runs on: ``table`` itself, its HOA prediction (``"hoa"``), or
    its networks' losses in ``early`` (``"esa"``)."""
    if approx is None:
        return table
    if approx == "hoa":
        return hoa_table(table)
    if approx == "esa":
        if early is None:
            raise SelectionError("approx='esa' needs the early-stopped table (early=...)")
        return esa_table(table, early)
    raise SelectionError(f"unknown approximation {approx!r}; expected one of {APPROXIMATIONS}")


@overload
def problem_from_table(table: LossTable, *, budget: float, approx: Literal["esa"] | None = None,
                       early: LossTable | None = None) -> SelectionProblem: ...


@overload
def problem_from_table(table: LossTable, *, budget: float, approx: str | None = None,
                       early: LossTable | None = None) -> SelectionProblem | ImplicitProblem: ...


def problem_from_table(
    table: LossTable,
    *,
    budget: float,
    approx: str | None = None,
    early: LossTable | None = None,
) -> SelectionProblem | ImplicitProblem:
    """A loss-minimisation problem: every network of the (approximated) table is a candidate,
    every task of the table must be served. With ``"hoa"`` from
    :data:`~mtlgroup.selection.implicit.IMPLICIT_FROM` tasks on, the predicted networks are not
    listed: an :class:`~mtlgroup.selection.implicit.ImplicitProblem` (ALGORITHMS §1.6), which
    :func:`~mtlgroup.selection.solve` hands to column generation.

    Args:
        table: losses on the selection split (validation).
        budget: largest total cost.
        approx: ``None``, ``"hoa"`` (predict networks of ≥ 3 tasks from pairs, §1.1) or
            ``"esa"`` (select on ``early``'s losses, §1.2).
        early: the early-stopped table, for ``"esa"``.
    """
    if approx == "hoa":
        return listed_if_small(hoa_problem(table, budget=budget))
    chosen = selection_table(table, approx, early)
    candidates = tuple(Candidate(name, cost, losses)
                       for name, (cost, losses) in chosen.by_network().items())
    return SelectionProblem(chosen.tasks, candidates, budget, "min")


def problem_from_rows(
    rows: Iterable[LossRow | Sequence[Any] | Mapping[str, Any]],
    *,
    budget: float,
    approx: str | None = None,
    early: LossTable | None = None,
) -> SelectionProblem | ImplicitProblem:
    """:func:`problem_from_table` on ``(network, cost, task, loss)`` rows (no pandas needed)."""
    return problem_from_table(LossTable.from_rows(rows), budget=budget, approx=approx, early=early)
