"""Exact solvers: agreement with brute force, invariances, monotonicity, minimality."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selection_strategies import all_subsets_problem, problems, same_signature, signature

from mtlgroup.selection import (
    Candidate,
    InfeasibleError,
    SelectionProblem,
    Solution,
    min_cover_cost,
    solve,
    solve_bnb,
    solve_brute_force,
    solve_milp,
    solve_partition_dp,
)
from mtlgroup.selection.ranking import close

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_valid(solution: Solution) -> None:
    """Within budget, every task served by its best chosen network, every network serving."""
    problem = solution.problem
    assert solution.cost <= problem.budget + 1e-9
    sign = 1 if problem.sense == "min" else -1
    for task in problem.tasks:
        server = problem.candidate(solution.served_by[task])
        assert server in solution.networks
        best = min(sign * c.values[task] for c in solution.networks if task in c.values)
        assert sign * server.values[task] == best
    for network in solution.networks:
        assert solution.serves(network.name), f"{network.name} serves nothing"
    total = sum(problem.candidate(solution.served_by[t]).values[t] for t in problem.tasks)
    assert close(solution.objective, total)


@FAST
@given(st.one_of(problems(), problems(ties=True)))
def test_exact_solvers_agree_with_brute_force(problem: SelectionProblem) -> None:
    oracle = solve_brute_force(problem)
    assert_valid(oracle)
    for solver in ("milp", "bnb", "dp", "frontier", "auto"):
        found = solve(problem, solver)
        assert_valid(found)
        assert same_signature(found, oracle), (solver, signature(found), signature(oracle))


@FAST
@given(st.one_of(problems(), problems(ties=True)))
def test_branch_and_bound_without_presolve_finds_the_brute_force_set(problem) -> None:
    # same full order (objective, cost, count, earliest candidates), same answer
    assert solve_bnb(problem, presolve=False).names == solve_brute_force(problem).names


@FAST
@given(problems(max_tasks=5, sense="max"))
def test_maximisation_agrees_with_brute_force(problem: SelectionProblem) -> None:
    oracle = solve_brute_force(problem)
    for solver in ("milp", "bnb", "dp", "frontier", "auto"):
        found = solve(problem, solver)
        assert_valid(found)
        assert same_signature(found, oracle), solver


@FAST
@given(problems(), st.randoms(use_true_random=False))
def test_optimum_is_invariant_under_renaming_and_permuting(problem, rnd: random.Random) -> None:
    rename = {t: f"task_{i}" for i, t in enumerate(rnd.sample(problem.tasks, len(problem.tasks)))}
    candidates = [
        Candidate(f"c{rnd.randrange(10**6)}_{i}", c.cost,
                  {rename[t]: c.values[t] for t in rnd.sample(c.tasks, len(c.tasks))})
        for i, c in enumerate(problem.candidates)
    ]
    rnd.shuffle(candidates)
    tasks = [rename[t] for t in problem.tasks]
    rnd.shuffle(tasks)
    permuted = SelectionProblem(tuple(tasks), tuple(candidates), problem.budget, problem.sense)
    for solver in ("milp", "bnb", "dp", "frontier", "auto"):
        assert same_signature(solve(permuted, solver), solve(problem, solver)), solver


@FAST
@given(problems(), st.floats(0.0, 3.0))
def test_raising_the_budget_never_worsens_the_objective(problem, extra: float) -> None:
    for solver in ("milp", "bnb", "frontier"):
        low = solve(problem, solver)
        high = solve(problem.with_budget(problem.budget + extra), solver)
        assert high.objective <= low.objective or close(high.objective, low.objective)


@FAST
@given(problems(), st.floats(0.0, 1.0))
def test_infeasible_budgets_are_reported_with_the_least_cover_cost(problem, fraction) -> None:
    candidates = problem.candidates
    covers = [
        sum(c.cost for c in chosen)
        for size in range(1, len(candidates) + 1)
        for chosen in itertools.combinations(candidates, size)
        if {t for c in chosen for t in c.values} == set(problem.tasks)
    ]
    least = min(covers)
    assert close(min_cover_cost(problem), least)
    budget = least * fraction
    tight = problem.with_budget(budget)
    if budget < least and not close(budget, least):
        for solver in ("milp", "bnb", "dp", "frontier", "auto", "brute"):
            with pytest.raises(InfeasibleError) as error:
                solve(tight, solver)
            assert close(error.value.required, least)
            assert "covering all tasks costs at least" in str(error.value)
    else:
        assert_valid(solve(tight, "milp"))


def _hoa_like_losses(seed: int):
    """Losses with pairwise structure (helpful tasks, noise), predicted upward like HOA."""
    rng = np.random.default_rng(seed)
    base, gain = rng.uniform(0.5, 1.5, 10), rng.normal(0.0, 0.08, (10, 10))
    names: dict[str, int] = {}

    def loss(subset: tuple[str, ...], task: str) -> float:
        ids = [names.setdefault(t, len(names)) for t in subset]
        t = names.setdefault(task, len(names))
        others = [u for u in ids if u != t]
        return float(base[t] * (1 - np.mean(gain[t, others]))) if others else float(base[t])

    return loss


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [6, 7])
def test_reduced_cost_fixing_keeps_the_optimum(n: int, seed: int) -> None:
    # large enough (69 / 134 candidates) for the incumbent-and-fixing loop to run
    problem = all_subsets_problem(_hoa_like_losses(seed), n, budget=n / 2 + 0.5 * (seed % 2))
    reduced, full, dp = (solve_milp(problem), solve_milp(problem, reduce=False),
                         solve_partition_dp(problem))
    assert same_signature(reduced, full) and same_signature(reduced, dp)
    assert_valid(reduced)


def test_ties_prefer_lower_cost_then_fewer_networks() -> None:
    tasks = ("a", "b")
    candidates = (
        Candidate("a+b big", 2.0, {"a": 0.1, "b": 0.1}),
        Candidate("a", 0.5, {"a": 0.1}),
        Candidate("b", 0.5, {"b": 0.1}),
        Candidate("a+b", 1.0, {"a": 0.1, "b": 0.1}),
    )
    problem = SelectionProblem(tasks, candidates, budget=3.0)
    for solver in ("milp", "bnb", "dp", "frontier", "auto", "brute"):
        # a and b (cost 1, two networks) tie with a+b (cost 1, one network) and beat a+b big
        assert solve(problem, solver).names == ("a+b",), solver


def test_solution_is_deterministic() -> None:
    problem = all_subsets_problem(_hoa_like_losses(3), 6, budget=3.0)
    first = solve_milp(problem)
    assert all(solve_milp(problem).names == first.names for _ in range(3))
