"""One scoring function: the honest and min rules agree wherever they are computed."""

from __future__ import annotations

import itertools

import pytest

from mtlgroup.selection import LossTable, evaluate, problem_from_table, solve
from mtlgroup.selection.evaluate import score_served
from mtlgroup.selection.table import TableError

TEST = {"a": {"a": 0.4}, "b": {"b": 0.7}, "a+b": {"a": 0.3, "b": 0.8}}


@pytest.mark.parametrize("served_a,served_b", list(itertools.product(["a", "a+b"], ["b", "a+b"])))
def test_min_rule_never_exceeds_the_honest_rule(served_a, served_b):
    served = {"a": served_a, "b": served_b}
    result = score_served(served, TEST, networks=["a", "b", "a+b"])
    assert result.total == pytest.approx(TEST[served_a]["a"] + TEST[served_b]["b"])
    assert result.total_min_rule == pytest.approx(0.3 + 0.7)
    assert result.total_min_rule <= result.total + 1e-12


def test_a_missing_network_or_task_is_a_table_error():
    with pytest.raises(TableError, match="no network 'c'"):
        score_served({"a": "c"}, TEST)
    with pytest.raises(TableError, match="no loss for task 'b'"):
        score_served({"b": "a"}, TEST)


def test_evaluate_of_a_solution_is_score_served():
    rows = [(n, float(len(n.split("+"))), t, v) for n, losses in TEST.items()
            for t, v in losses.items()]
    solution = solve(problem_from_table(LossTable.from_rows(rows), budget=3))
    table = LossTable.from_rows(rows)
    expected = score_served(dict(solution.served_by), TEST, solution.names)
    assert evaluate(solution, table) == expected
