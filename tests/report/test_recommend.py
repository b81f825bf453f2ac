"""The recommendation on constructed rows: the knee rule (on validation, never on test), the
baselines it compares with, and the per-task percentages."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtlgroup.report import Option, change_percent, knee, recommend
from mtlgroup.report.recommend import ASKED, KNEE, OptionKind

TASKS = ("a", "b", "c")


@dataclass
class Row:
    budget: float
    feasible: bool = True
    note: str = ""
    cost: float | None = None


def option(kind: OptionKind, budget: float, served_by: dict[str, str],
           losses: dict[str, float]) -> Option:
    members = {n: tuple(n.split("+")) for n in served_by.values()}
    return Option(kind, budget, served_by, members,
                  {t: {"loss": v, "accuracy": 1 - v} for t, v in losses.items()})


def baselines(budget: float, losses: dict[str, float]) -> dict[OptionKind, Option]:
    return {"all-task": option("all-task", budget, dict.fromkeys(TASKS, "a+b+c"), losses),
            "independent": option("independent", budget, {t: t for t in TASKS},
                                  {t: 2 * v for t, v in losses.items()})}


CHOSEN = {"a": "a+b", "b": "a+b", "c": "b+c"}


def chosen(budget: float, losses: dict[str, float]) -> dict[OptionKind, Option]:
    return {"chosen": option("chosen", budget, CHOSEN, losses)}


# On grids, so that equal distances to the chord are exact ties (broken by the rule, not by
# rounding).
points = st.lists(st.tuples(st.integers(1, 40).map(lambda b: b / 4),
                            st.integers(1, 400).map(lambda v: v / 8)),
                  min_size=1, max_size=8, unique_by=lambda p: p[0])


@given(points)
def test_the_knee_is_a_budget_no_cheaper_one_matches(curve):
    found = knee(curve)
    total = dict(curve)[found]
    assert all(v > total for b, v in curve if b < found)


@given(points, st.sampled_from([0.5, 2.0, 10.0]), st.sampled_from([-3.0, 0.0, 7.5]),
       st.sampled_from([0.5, 2.0, 4.0]))
def test_the_knee_ignores_the_units_of_either_axis(curve, scale, shift, stretch):
    moved = [(b * stretch, v * scale + shift) for b, v in curve]
    found = knee(curve)
    assert found is not None and knee(moved) == pytest.approx(found * stretch)


@given(points)
def test_a_budget_that_buys_nothing_never_moves_the_knee(curve):
    found = knee(curve)
    dearest = max(b for b, _ in curve)
    worst = max(v for _, v in curve)
    assert knee([*curve, (dearest + 1.0, worst + 1.0)]) == found


def test_the_knee_is_where_more_budget_stops_paying():
    # Big gains up to 2, then small ones: 2 is the knee, not the lowest point (4).
    curve = [(1.0, 10.0), (1.5, 7.0), (2.0, 5.0), (3.0, 4.8), (4.0, 4.7)]
    assert knee(curve) == 2.0
    # A straight line (or two points) has no knee: the lowest total wins.
    assert knee([(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]) == 3.0
    assert knee([(1.0, 3.0), (2.0, 2.5)]) == 2.0
    assert knee([]) is None


def test_the_recommendation_follows_validation_not_test():
    rows = [Row(b, cost=b - 0.1) for b in (1.0, 2.0, 3.0, 4.0)]
    val = {1.0: 10.0, 2.0: 5.0, 3.0: 4.9, 4.0: 4.8}
    # On test, budget 4 is far better: the knee must not look at it.
    test = {1.0: 1.0, 2.0: 0.9, 3.0: 0.8, 4.0: 0.1}
    options = {b: {**chosen(b, dict.fromkeys(TASKS, test[b] / 3)),
                   **baselines(b, dict.fromkeys(TASKS, 0.5))} for b in val}
    found = recommend(rows, val, options)
    assert found.budget == knee(list(val.items())) == 2.0 and found.reason == KNEE
    assert found.chosen is options[2.0]["chosen"] and found.cost == rows[1].cost
    assert [c.baseline.budget for c in found.comparisons] == [2.0, 2.0] and not found.note


def test_percentages_are_per_task_changes_of_the_test_loss():
    mine, theirs = {"a": 0.45, "b": 0.5, "c": 0.8}, {"a": 0.5, "b": 0.5, "c": 0.4}
    options = {2.0: {**chosen(2.0, mine), **baselines(2.0, theirs)}}
    found = recommend([Row(2.0)], {2.0: 1.0}, options)
    all_task, independent = found.comparisons
    assert all_task.baseline.kind == "all-task" and independent.baseline.kind == "independent"
    for comparison in found.comparisons:
        base = comparison.baseline.losses
        for task, change in comparison.change.items():
            assert change is not None
            # chosen = baseline × (1 + change / 100); negative exactly when chosen is lower
            assert mine[task] == pytest.approx(base[task] * (1 + change / 100))
            assert (change < 0) == (mine[task] < base[task])
        assert comparison.total_change == pytest.approx(
            change_percent(sum(mine.values()), sum(base.values())))
    assert all_task.change["b"] == 0.0
    assert change_percent(1.0, 0.0) is None and change_percent(math.inf, 1.0) is None


def test_the_sentence_names_the_networks_their_roles_and_the_changes():
    options = {2.0: {**chosen(2.0, {"a": 0.45, "b": 0.5, "c": 0.8}),
                     **baselines(2.0, {"a": 0.5, "b": 0.5, "c": 0.4})}}
    found = recommend([Row(2.0, cost=1.9)], {2.0: 1.0}, options)
    text = found.sentence
    assert "a+b (serves a, b)" in text and "b+c (serves c; b auxiliary)" in text
    assert "budget 2" in text and "lower is better" in text and "1.90" in text
    assert "a -10.0%" in text and "c +100.0%" in text  # against the all-task network
    assert found.to_dict()["networks"] == ["a+b", "b+c"]


@pytest.mark.parametrize("budget,nearest", [(2.5, 2.0), (3.0, 4.0), (5.0, 4.0)])
def test_a_budget_without_baselines_is_compared_with_the_nearest(budget, nearest):
    # Of two equally near baseline budgets (3 between 2 and 4), the larger.
    losses = dict.fromkeys(TASKS, 0.3)
    options = {budget: chosen(budget, losses), 2.0: baselines(2.0, losses),
               4.0: baselines(4.0, losses)}
    found = recommend([Row(budget)], {budget: 1.0}, options)
    assert {c.baseline.budget for c in found.comparisons} == {nearest}
    assert f"budget {budget:g} has no baselines" in found.note
    assert f"budget {nearest:g}, the nearest baseline budget" in found.sentence


def test_no_baselines_at_all_is_said():
    found = recommend([Row(2.0)], {2.0: 1.0}, {2.0: chosen(2.0, dict.fromkeys(TASKS, 0.3))})
    assert not found.comparisons and "no baselines" in found.sentence


def test_the_budget_asked_for_wins_over_the_knee():
    rows = [Row(1.0, feasible=False, note="covering all tasks costs at least 1.4"),
            Row(2.0), Row(3.0)]
    val = {2.0: 5.0, 3.0: 4.0}
    options = {b: chosen(b, dict.fromkeys(TASKS, 0.3)) for b in val}
    asked = recommend(rows, val, options, asked=2.0)
    assert asked.budget == 2.0 and asked.reason == ASKED and asked.chosen is not None
    assert recommend(rows, val, options).budget == 3.0
    infeasible = recommend(rows, val, options, asked=1.0)
    assert infeasible.chosen is None and "infeasible" in infeasible.sentence
    assert "costs at least 1.4" in infeasible.sentence and "cheapest feasible budget is 2" in \
        infeasible.sentence
    with pytest.raises(ValueError, match="not one of the budgets"):
        recommend(rows, val, options, asked=2.5)


def test_nothing_feasible_recommends_nothing():
    found = recommend([Row(1.0, feasible=False)], {}, {})
    assert found.budget is None and found.chosen is None and "Nothing to recommend" in \
        found.sentence
    assert found.to_dict()["feasible"] is False


def test_a_task_whose_network_failed_is_said_not_scored():
    options = {2.0: {**chosen(2.0, {"a": 0.45, "b": 0.5}),
                     **baselines(2.0, dict.fromkeys(TASKS, 0.5))}}
    found = recommend([Row(2.0)], {2.0: 1.0}, options, asked=2.0)
    assert set(found.comparisons[0].change) == {"a", "b"} and found.chosen is not None
    assert found.chosen.total is None and "no test loss for c" in found.sentence
