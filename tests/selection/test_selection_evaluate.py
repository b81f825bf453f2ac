"""Scoring a selection on another split: honest rule and the paper's min rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selection_strategies import problems

from mtlgroup.selection import (
    LossTable,
    SelectionError,
    TableError,
    evaluate,
    problem_from_affinity,
    problem_from_rows,
    problem_from_table,
    solve,
)


def test_table(problem, shift: float) -> LossTable:
    return LossTable.from_rows(
        [(c.name, c.cost, t, v + shift * (i % 3)) for i, c in enumerate(problem.candidates)
         for t, v in c.values.items()]
    )


test_table.__test__ = False  # a helper, not a test


@settings(max_examples=30, deadline=None)
@given(problems(), st.floats(-0.05, 0.05))
def test_min_rule_never_exceeds_honest_rule_and_both_sum_per_task(problem, shift) -> None:
    solution = solve(problem)
    result = evaluate(solution, test_table(problem, shift))
    assert result.total_min_rule <= result.total + 1e-12
    assert result.total == pytest.approx(sum(result.per_task.values()))
    assert result.total_min_rule == pytest.approx(sum(result.per_task_min_rule.values()))
    for task, loss in result.per_task_min_rule.items():
        assert loss <= result.per_task[task] + 1e-12


@settings(max_examples=20, deadline=None)
@given(problems())
def test_on_the_selection_split_both_rules_give_the_objective(problem) -> None:
    solution = solve(problem)
    result = evaluate(solution, test_table(problem, 0.0))
    assert result.total == pytest.approx(solution.objective)
    assert result.total_min_rule == pytest.approx(solution.objective)


def test_rules_differ_when_another_chosen_network_is_better_on_test() -> None:
    val = LossTable.from_rows([("a", 1, "a", 0.30), ("a+b", 1, "a", 0.35), ("a+b", 1, "b", 0.4)])
    test = LossTable.from_rows([("a", 1, "a", 0.36), ("a+b", 1, "a", 0.34), ("a+b", 1, "b", 0.4)])
    result = evaluate(solve(problem_from_table(val, budget=2)), test)
    assert result.per_task == {"a": 0.36, "b": 0.4}  # a is served by network a, chosen on val
    assert result.per_task_min_rule == {"a": 0.34, "b": 0.4}
    assert result.to_dict() == {"total": pytest.approx(0.76),
                                "total_min_rule": pytest.approx(0.74),
                                "per_task": {"a": 0.36, "b": 0.4}}


def test_a_network_missing_from_the_other_split_is_an_error() -> None:
    solution = solve(problem_from_rows([("a", 1, "a", 0.3)], budget=1))
    with pytest.raises(TableError, match="test.csv: no network 'a'"):
        evaluate(solution, LossTable.from_rows([("z", 2, "a", 0.3)], source="test.csv"))


def test_a_network_is_found_by_task_set_and_cost_when_named_differently() -> None:
    solution = solve(problem_from_rows([("a+b", 1, "a", 0.3), ("a+b", 1, "b", 0.3)], budget=1))
    other = LossTable.from_rows([("b+a", 1, "a", 0.2), ("b+a", 1, "b", 0.1)])
    assert evaluate(solution, other).total == pytest.approx(0.3)


def test_groupings_from_affinity_cannot_be_scored_on_a_loss_table() -> None:
    solution = solve(problem_from_affinity(("a", "b"), [[0, 1], [1, 0]], max_groups=1))
    with pytest.raises(SelectionError, match="only a selection on losses"):
        evaluate(solution, LossTable.from_rows([("a+b", 1, "a", 0.3)]))
