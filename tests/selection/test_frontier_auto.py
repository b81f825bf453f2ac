"""The frontier solver, budget sweeps (``solve_budgets``) and the ``auto`` default."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selection_strategies import all_subsets_problem, problems, same_signature, signature

from mtlgroup.selection import (
    Candidate,
    InfeasibleError,
    SelectionError,
    SelectionProblem,
    min_cover_cost,
    problem_from_table,
    read_loss_table,
    solve,
    solve_brute_force,
    solve_budgets,
)
from mtlgroup.selection.ranking import close
from mtlgroup.selection.solvers import auto
from mtlgroup.selection.solvers.auto import choose_solver
from mtlgroup.selection.solvers.frontier import CoverFrontier

SMALL = settings(max_examples=15, deadline=None)
DATA = Path(__file__).resolve().parents[1] / "data" / "standley2020"


def _sweep_budgets(problem: SelectionProblem) -> list[float]:
    """Budgets below, at and above the least cover cost, unsorted."""
    least = min_cover_cost(problem)
    return [least + 1.0, least * 0.5, least, 100.0, least + 0.5, max(0.0, least - 0.25)]


@SMALL
@given(st.one_of(problems(max_tasks=5, max_candidates=7),
                 problems(max_tasks=5, max_candidates=7, ties=True),
                 problems(max_tasks=4, max_candidates=6, sense="max")))
def test_a_sweep_is_each_budget_solved_alone(problem: SelectionProblem) -> None:
    budgets = _sweep_budgets(problem)
    found = solve_budgets(problem, budgets)
    assert len(found) == len(budgets)
    for budget, result in zip(budgets, found, strict=True):
        alone = problem.with_budget(budget)
        try:
            oracle = solve_brute_force(alone)
        except InfeasibleError as error:
            assert isinstance(result, InfeasibleError), (budget, result)
            assert close(result.required, error.required) and result.budget == budget
            continue
        assert not isinstance(result, InfeasibleError), (budget, result)
        assert same_signature(result, oracle), (budget, signature(result), signature(oracle))
        assert result.budget == budget and result.cost <= budget + 1e-9


@settings(max_examples=8, deadline=None)
@given(problems(max_tasks=5, max_candidates=7, ties=True))
def test_the_frontier_and_milp_sweeps_agree(problem: SelectionProblem) -> None:
    budgets = _sweep_budgets(problem)
    for frontier, milp in zip(solve_budgets(problem, budgets, "frontier"),
                              solve_budgets(problem, budgets, "milp"), strict=True):
        assert type(frontier) is type(milp)
        if not isinstance(frontier, InfeasibleError):
            assert not isinstance(milp, InfeasibleError)
            assert same_signature(frontier, milp)
            assert frontier.solver == "frontier" and milp.solver == "milp"


@SMALL
@given(problems(max_tasks=6, max_candidates=8))
def test_the_frontier_knows_the_least_cover_cost(problem: SelectionProblem) -> None:
    assert close(CoverFrontier.of(problem).min_cost, min_cover_cost(problem))


@settings(max_examples=12, deadline=None)
@given(st.one_of(problems(max_tasks=6, max_candidates=9),
                 problems(max_tasks=5, max_candidates=8, sense="max")))
def test_auto_is_exact(problem: SelectionProblem) -> None:
    assert same_signature(solve(problem), solve(problem, "milp"))


def test_auto_is_the_default_and_names_the_method_it_used() -> None:
    problem = all_subsets_problem(lambda subset, t: 0.1 * len(subset), 4, budget=2.0)
    assert solve(problem).solver == choose_solver(problem) == "frontier"


def test_the_rule_prefers_the_frontier_for_few_tasks_and_long_sweeps() -> None:
    def problem(n: int) -> SelectionProblem:
        tasks = tuple(f"t{i}" for i in range(n))
        return SelectionProblem(tasks, tuple(Candidate(t, 1, {t: 0.5}) for t in tasks), n)

    picks = {(n, k): choose_solver(problem(n), k) for n in range(1, 14) for k in (1, 2, 9)}
    assert picks[(5, 1)] == "frontier" and picks[(13, 9)] == "milp"
    for (n, k), pick in picks.items():  # monotone: fewer tasks or more budgets never undo it
        if pick == "frontier":
            assert all(picks[(m, j)] == "frontier" for (m, j) in picks if m <= n and j >= k)


def test_auto_falls_back_to_milp_when_the_frontier_grows(monkeypatch) -> None:
    problem = all_subsets_problem(lambda subset, t: 1.0 / len(subset) + 0.01 * len(t), 4, 2.5)
    monkeypatch.setattr(auto, "MAX_ENTRIES", 1)
    found = solve(problem, "auto")
    assert found.solver == "milp"
    assert same_signature(found, solve(problem, "frontier"))
    swept = solve_budgets(problem, [2.5], "auto")[0]
    assert not isinstance(swept, InfeasibleError) and swept.solver == "milp"


def test_too_many_tasks_are_refused_with_a_message() -> None:
    tasks = tuple(f"t{i}" for i in range(17))
    problem = SelectionProblem(tasks, tuple(Candidate(t, 1, {t: 0.5}) for t in tasks), 17)
    with pytest.raises(SelectionError, match="at most 16 tasks, got 17"):
        solve(problem, "frontier")
    assert solve(problem).solver == "milp"  # auto does not ask the frontier


def test_a_frontier_too_large_for_memory_is_refused(monkeypatch) -> None:
    from mtlgroup.selection.solvers import frontier

    problem = all_subsets_problem(lambda subset, t: 0.5, 3, budget=2.0)
    monkeypatch.setattr(frontier, "MAX_CELLS", 10 * 8 - 1)  # 10 candidates x 2^3 blocks
    with pytest.raises(SelectionError, match="would tabulate 10 candidates x 2\\^3 task blocks"):
        solve(problem, "frontier")
    assert choose_solver(problem) == "milp" and solve(problem).solver == "milp"


def test_the_27_standley_selections_in_three_sweeps() -> None:
    tables = {s: read_loss_table(DATA / f"setting1_{s}.csv") for s in ("val", "early")}
    expected = list(csv.DictReader((DATA / "setting1_expected.csv").open()))
    approx = {"optimal": None, "hoa": "hoa", "esa": "esa"}
    for method, name in approx.items():
        rows = [r for r in expected if r["method"] == method]
        problem = problem_from_table(tables["val"], budget=1.0, approx=name,
                                     early=tables["early"])
        found = solve_budgets(problem, [float(r["budget"]) for r in rows])
        for row, solution in zip(rows, found, strict=True):
            assert not isinstance(solution, InfeasibleError)
            assert solution.solver == "frontier"
            assert solution.objective == pytest.approx(float(row["selection_score"]), abs=1e-6)


def test_the_select_stage_sweeps_problems_that_differ_only_in_the_budget() -> None:
    from mtlgroup.config import PipelineConfig
    from mtlgroup.pipeline.stages import select_row, select_rows

    assert PipelineConfig().solver == "auto"
    base = all_subsets_problem(lambda subset, t: 0.3 - 0.02 * len(subset), 3, budget=1.0)
    other = all_subsets_problem(lambda subset, t: 0.2 + 0.01 * len(subset), 3, budget=2.0)
    problems = [base.with_budget(b) for b in (0.25, 1.0, 2.5)] + [other, base]
    rows = select_rows(problems, "auto")
    assert [r.to_dict() for r in rows] == [select_row(p, "milp").to_dict() for p in problems]
    assert not rows[0].feasible and "covering all tasks costs at least" in rows[0].note


@pytest.mark.parametrize("shape", [(3, 5), (4, 2), (30, 10), (12, 20)])
def test_the_redundancy_check_matches_its_definition(shape: tuple[int, int]) -> None:
    # make_solution's fast path: small arrays in Python, large ones with numpy
    import numpy as np

    from mtlgroup.selection.ranking import _any_redundant

    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        losses = rng.choice([0.1, 0.2, 0.3], size=shape)
        losses[rng.random(shape) < 0.6] = np.inf
        losses[np.arange(shape[0]), rng.integers(0, shape[1], shape[0])] = 0.2  # carries one
        expected = any(
            np.all(np.delete(losses, i, axis=0).min(axis=0) <= losses[i]) for i in range(shape[0]))
        assert _any_redundant(losses) == expected


def test_select_sweeps_with_auto_by_default_and_keeps_infeasible_rows() -> None:
    import json

    from typer.testing import CliRunner

    import mtlgroup.cli.select  # noqa: F401  (registers the command)
    from mtlgroup.cli.app import app

    val = str(DATA / "setting1_val.csv")
    result = CliRunner().invoke(app, ["select", val, "--budgets", "0.25,2,1", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["budget"] for r in rows] == [0.25, 2.0, 1.0]
    assert rows[0]["feasible"] is False and "covering all tasks costs at least" in rows[0]["error"]
    assert {r["solver"] for r in rows[1:]} == {"frontier"}
    milp = CliRunner().invoke(app, ["select", val, "--budget", "2", "--solver", "milp", "--json"])
    assert json.loads(milp.stdout)["objective"] == pytest.approx(rows[1]["objective"])
