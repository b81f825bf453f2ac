"""Negative losses are legal (docs/selection.md, "Loss table"): a log-likelihood or a loss
measured against a reference can be below zero, and mixed signs across tasks are fine, because
each task is served exactly once: adding a constant to every loss of one task adds it to every
selection's objective, and the choice stays the same. These tests hold every solver (and HOA's
predictions) to that; a solver that bounded the objective by 0 would fail them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtlgroup.selection import (
    LossTable,
    available_solvers,
    problem_from_table,
    read_loss_table,
    selection_table,
    solve,
)

VAL = Path(__file__).resolve().parents[1] / "data" / "standley2020" / "setting1_val.csv"


def shifted(table: LossTable, shift: dict[str, float]) -> LossTable:
    return LossTable.from_rows([(r.network, r.cost, r.task, r.loss + shift[r.task])
                                for r in table.rows])


def _tasks(network: str) -> list[str]:
    return network.split("/")[0].split("@")[0].split("+")


@pytest.fixture(scope="module")
def tables() -> tuple[LossTable, LossTable, float]:
    full = read_loss_table(VAL)
    three = set(full.tasks[:3])  # 10 networks: the brute-force solver stays quick
    val = LossTable.from_rows([r for r in full.rows if set(_tasks(r.network)) <= three])
    # mixed signs: every loss of every other task goes below zero
    shift = {t: -1.0 if i % 2 else 0.5 for i, t in enumerate(val.tasks)}
    negative = shifted(val, shift)
    assert min(r.loss for r in negative.rows) < 0 < max(r.loss for r in negative.rows)
    return val, negative, sum(shift.values())


@pytest.mark.parametrize("solver", available_solvers())
@pytest.mark.parametrize("budget", [1.0, 2.0, 3.5])
def test_a_per_task_shift_below_zero_changes_no_choice(tables, solver, budget) -> None:
    val, negative, total_shift = tables
    plain = solve(problem_from_table(val, budget=budget), solver)
    below = solve(problem_from_table(negative, budget=budget), solver)
    assert below.names == plain.names
    assert below.objective == pytest.approx(plain.objective + total_shift)


def test_hoa_predictions_shift_with_the_losses(tables) -> None:
    val, negative, total_shift = tables
    plain = solve(problem_from_table(selection_table(val, "hoa"), budget=2.0), "milp")
    below = solve(problem_from_table(selection_table(negative, "hoa"), budget=2.0), "milp")
    assert below.names == plain.names
    assert below.objective == pytest.approx(plain.objective + total_shift)
