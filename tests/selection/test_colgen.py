"""Column generation and implicit problems (ALGORITHMS §1.6): exact against the listed
problem, refusals with a message, never listing a large problem."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from selection_strategies import problems

from mtlgroup.selection import (
    Candidate,
    InfeasibleError,
    LossTable,
    SelectionError,
    SelectionProblem,
    TableError,
    hoa_table,
    problem_from_affinity,
    problem_from_table,
    read_loss_table,
    solve,
    solve_milp,
)
from mtlgroup.selection import implicit as implicit_module
from mtlgroup.selection.approx import hoa_problem
from mtlgroup.selection.implicit import ImplicitProblem, PairFamily
from mtlgroup.selection.solvers import colgen, pricing
from mtlgroup.selection.solvers.colgen import solve_colgen


def pair_table(n: int, rng: np.random.Generator, order: list[int] | None = None) -> LossTable:
    """Singles, half-size singles and pairs of ``n`` tasks with random losses (tasks listed in
    ``order``)."""
    order = order if order is not None else list(range(n))
    base = rng.uniform(0.5, 1.5, n)
    pair = base[:, None] * (1 - rng.normal(0, 0.1, (n, n)))
    rows = []
    for i in order:
        rows += [(f"t{i}/2", 0.5, f"t{i}", base[i] * 1.05), (f"t{i}", 1.0, f"t{i}", base[i])]
    for i, j in itertools.combinations(order, 2):
        rows += [(f"t{i}+t{j}", 1.0, f"t{i}", pair[i, j]), (f"t{i}+t{j}", 1.0, f"t{j}", pair[j, i])]
    return LossTable.from_rows(rows)


def affinity_problem(n: int, k: int, rng: np.random.Generator) -> ImplicitProblem:
    return ImplicitProblem(tuple(f"t{i}" for i in range(n)), (),
                           (PairFamily(rng.normal(size=(n, n)), min_size=2),), k, "max")


def test_colgen_equals_milp_on_hoa_problems() -> None:
    rng = np.random.default_rng(0)
    for _ in range(8):
        n = int(rng.integers(3, 7))
        problem = hoa_problem(pair_table(n, rng), budget=float(rng.choice([1.0, n / 3, n / 2])))
        mine, exact = solve_colgen(problem), solve_milp(problem.expand())
        assert mine.objective == pytest.approx(exact.objective, abs=1e-9)
        assert mine.names == exact.names and mine.gap == 0.0


def test_colgen_equals_milp_on_affinity_problems_implicit_and_listed() -> None:
    rng = np.random.default_rng(1)
    for _ in range(8):
        n = int(rng.integers(2, 7))
        problem = affinity_problem(n, int(rng.integers(1, n + 1)), rng)
        listed = problem.expand()
        exact = solve_milp(listed)
        for mine in (solve_colgen(problem), solve_colgen(listed)):  # families, then a list
            assert mine.objective == pytest.approx(exact.objective, abs=1e-9)
            assert mine.names == exact.names and mine.gap == 0.0


def test_pricing_by_binary_program_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricing, "ENUMERATE_UP_TO", 0)  # every size by its binary program
    rng = np.random.default_rng(2)
    for problem in (hoa_problem(pair_table(5, rng), budget=2.0), affinity_problem(5, 2, rng)):
        assert solve_colgen(problem).objective == pytest.approx(
            solve_milp(problem.expand()).objective, abs=1e-9)


def test_listed_networks_override_their_members() -> None:
    rng = np.random.default_rng(3)
    table = pair_table(4, rng)
    listed = LossTable.from_rows([*table.rows, ("t2+t0+t1", 0.25, "t0", 5.0),
                                  ("t2+t0+t1", 0.25, "t1", 5.0), ("t2+t0+t1", 0.25, "t2", 5.0)])
    problem = hoa_problem(listed, budget=1.0)
    expanded = problem.expand()
    names = [c.name for c in expanded.candidates]
    assert "t2+t0+t1" in names and "t0+t1+t2" not in names
    assert expanded.candidate("t2+t0+t1").cost == 0.25  # listed cost, predicted losses
    exact = solve_milp(expanded)
    assert solve_colgen(problem).names == exact.names


def test_expand_refuses_past_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = affinity_problem(8, 3, np.random.default_rng(4))
    with pytest.raises(SelectionError, match=r"247 subsets.*GB.*colgen"):
        problem.expand(max_bytes=1000)
    monkeypatch.setattr(implicit_module, "expand_limit", lambda: 1000)
    with pytest.raises(SelectionError, match="colgen"):
        solve(problem, "milp")
    assert solve(problem).solver == "colgen"  # auto never lists it


def test_other_solvers_get_the_problem_expanded() -> None:
    problem = affinity_problem(5, 2, np.random.default_rng(5))
    assert solve(problem, "dp").objective == pytest.approx(solve(problem, "colgen").objective)


def test_permuting_tasks_keeps_the_objective() -> None:
    rng = np.random.default_rng(6)
    table = pair_table(6, np.random.default_rng(7))
    order = list(rng.permutation(6))
    permuted = pair_table(6, np.random.default_rng(7), order=order)
    assert permuted.tasks != table.tasks
    first, second = (solve_colgen(hoa_problem(t, budget=2.5)) for t in (table, permuted))
    assert first.objective == pytest.approx(second.objective, abs=1e-9)


def test_infeasible_budget_says_what_a_cover_costs() -> None:
    problem = SelectionProblem(("a", "b"), (Candidate("a", 1, {"a": 0.1}),
                                            Candidate("b", 1, {"b": 0.2})), budget=1.5)
    with pytest.raises(InfeasibleError) as raised:
        solve_colgen(problem)
    assert raised.value.required == pytest.approx(2.0)


def test_twenty_tasks_solve_without_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ImplicitProblem, max_bytes: int | None = None) -> SelectionProblem:
        raise AssertionError("expanded")

    monkeypatch.setattr(ImplicitProblem, "expand", refuse)
    # a fast run, not a tight gap: short pricing programs, no gap closing
    monkeypatch.setattr(colgen, "PRICE_SECONDS", 0.05)
    monkeypatch.setattr(colgen, "CLOSE_AT_MOST", 0)
    monkeypatch.setattr(pricing, "ENUMERATE_UP_TO", 2000)
    rng = np.random.default_rng(8)
    tasks = tuple(f"t{i}" for i in range(20))
    problem = problem_from_affinity(tasks, rng.normal(size=(20, 20)), max_groups=3)
    assert isinstance(problem, ImplicitProblem)
    solution = solve(problem)
    assert solution.cost <= 3 and set(solution.served_by) == set(tasks)
    assert solution.gap >= 0 and solution.to_dict()["gap"] == solution.gap
    hoa = problem_from_table(pair_table(20, rng), budget=10.0, approx="hoa")
    assert isinstance(hoa, ImplicitProblem)


def test_expanded_hoa_problem_is_the_hoa_table() -> None:
    table = pair_table(5, np.random.default_rng(9))
    listed = hoa_problem(table, budget=2.0).expand()
    from_table = problem_from_table(hoa_table(table), budget=2.0)
    assert [c.name for c in listed.candidates] == [c.name for c in from_table.candidates]
    for mine, theirs in zip(listed.candidates, from_table.candidates, strict=True):
        assert mine.cost == pytest.approx(theirs.cost)
        assert dict(mine.values) == pytest.approx(dict(theirs.values))


def test_hoa_refuses_a_cost_that_is_not_encoder_plus_heads() -> None:
    table = pair_table(4, np.random.default_rng(10))
    with pytest.raises(TableError, match="encoder"):
        hoa_problem(table, budget=2.0, cost=lambda names: len(names) ** 2)


def test_select_cli_stays_implicit_and_reports_the_gap(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from typer.testing import CliRunner

    import mtlgroup.cli.select  # noqa: F401  (registers the command)
    from mtlgroup.cli.app import app

    monkeypatch.setattr(implicit_module, "IMPLICIT_FROM", 4)  # a small table counts as large
    monkeypatch.setattr(ImplicitProblem, "expand", lambda self, max_bytes=None: 1 / 0)
    import mtlgroup.selection.solvers as solvers

    called = []
    monkeypatch.setattr(solvers, "solve_colgen",
                        lambda problem, **kw: called.append(problem) or solve_colgen(problem, **kw))
    path = pair_table(5, np.random.default_rng(11)).write_csv(tmp_path / "pairs.csv")
    result = CliRunner().invoke(app, ["select", str(path), "--approx", "hoa", "--budget", "2",
                                      "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["gap"] == 0.0 and isinstance(called[0], ImplicitProblem)
    listed = problem_from_table(hoa_table(read_loss_table(path)), budget=2.0)
    assert payload["objective"] == pytest.approx(solve_milp(listed).objective)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_tasks=5, max_candidates=8, ties=True))
def test_colgen_on_random_listed_problems_matches_brute_force(problem: SelectionProblem) -> None:
    exact = solve(problem, "brute")
    mine = solve_colgen(problem)
    assert mine.gap == 0.0 and mine.objective == pytest.approx(exact.objective, abs=1e-9)
    assert mine.cost <= problem.budget + 1e-9
