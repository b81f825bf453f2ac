"""Objectives (ALGORITHMS §1.5): raw, relative, weighted and metric selection as transforms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlgroup.selection import (
    LossTable,
    SelectionError,
    hoa_table,
    problem_from_table,
    solve,
)
from mtlgroup.selection.objectives import Objective, parse_weights

TASKS = ("s", "d", "n", "k")


def every_subset_table(seed: int, n: int = 4, scales: tuple[float, ...] = (1, 1, 1, 1),
                       halves: bool = True) -> LossTable:
    """Every subset of ``n`` tasks at cost 1 (and half-size singles at 0.5), random losses
    with each task's own scale."""
    rng = np.random.default_rng(seed)
    tasks = TASKS[:n]
    rows = [(f"{t}/2", 0.5, t, scales[i] * rng.uniform(0.9, 1.4))
            for i, t in enumerate(tasks)] if halves else []
    for size in range(1, n + 1):
        for group in itertools.combinations(range(n), size):
            name = "+".join(tasks[i] for i in group)
            rows += [(name, 1.0, tasks[i], scales[i] * rng.uniform(0.7, 1.3)) for i in group]
    return LossTable.from_rows(rows, source=f"seed {seed}")


def scaled(table: LossTable, task: str, factor: float) -> LossTable:
    return LossTable.from_rows([(r.network, r.cost, r.task, r.loss * (factor if r.task == task
                                                                     else 1.0))
                                for r in table.rows])


def chosen(table: LossTable, objective: Objective, budget: float) -> tuple[str, ...]:
    return tuple(sorted(solve(problem_from_table(objective.transform(table),
                                                 budget=budget)).names))


def brute_force(table: LossTable, budget: float, value) -> float:
    """The least ``Σ_t min_{G ∋ t} value(G, t)`` over every affordable set of networks."""
    networks = table.by_network()
    best = math.inf
    for k in range(1, len(networks) + 1):
        for names in itertools.combinations(networks, k):
            if sum(networks[n][0] for n in names) > budget + 1e-9:
                continue
            served = [min((value(n, t) for n in names if t in networks[n][1]), default=math.inf)
                      for t in table.tasks]
            best = min(best, sum(served))
    return best


@pytest.mark.parametrize("seed", range(3))
def test_relative_is_optimal_against_brute_force(seed: int) -> None:
    table = every_subset_table(seed, n=3, halves=False)
    networks = table.by_network()

    def relative(network: str, task: str) -> float:
        return networks[network][1][task] / networks[task][1][task]

    for budget in (1, 2, 3):
        solution = solve(problem_from_table(Objective("relative").transform(table),
                                            budget=budget))
        assert solution.objective == pytest.approx(brute_force(table, budget, relative))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), task=st.sampled_from(TASKS),
       factor=st.sampled_from([1e-3, 0.37, 8.0, 250.0]), budget=st.sampled_from([1.5, 2, 3]))
def test_relative_choice_is_invariant_to_a_task_s_loss_scale(seed, task, factor, budget) -> None:
    table = every_subset_table(seed)
    relative = Objective("relative")
    assert chosen(scaled(table, task, factor), relative, budget) == chosen(table, relative, budget)


def test_raw_choice_follows_the_largest_loss_scale_and_relative_does_not() -> None:
    flips = []
    for seed in range(20):
        table = every_subset_table(seed)
        big = scaled(table, "s", 100.0)  # s in centimetres instead of metres
        raw, relative = Objective("raw"), Objective("relative")
        assert chosen(big, relative, 2) == chosen(table, relative, 2)
        flips.append(chosen(big, raw, 2) != chosen(table, raw, 2))
    assert any(flips)  # raw's choice changed with the unit of one task


def test_weights_of_one_are_the_raw_objective() -> None:
    table = every_subset_table(0)
    ones = dict.fromkeys(table.tasks, 1.0)
    assert Objective("raw", ones).transform(table) is table  # nothing to do
    assert Objective("relative", ones).transform(table).rows == \
        Objective("relative").transform(table).rows


def test_a_weight_multiplies_the_task_s_losses() -> None:
    table = every_subset_table(1)
    weighted = Objective("raw", {"d": 3.0}).transform(table)
    assert [r.loss for r in weighted.rows] == pytest.approx(
        [r.loss for r in scaled(table, "d", 3.0).rows])
    relative = Objective("relative", {"d": 3.0}).transform(table)
    assert relative.losses("d")["d"] == pytest.approx(3.0)  # the reference, weighted


def test_relative_falls_back_on_the_half_size_single() -> None:
    table = LossTable.from_rows([("a/2", 0.5, "a", 0.4), ("b", 1, "b", 2.0),
                                 ("a+b", 1, "a", 0.2), ("a+b", 1, "b", 3.0)])
    relative = Objective("relative")
    assert relative.references(table) == {"a": "a/2", "b": "b"}
    assert relative.transform(table).losses("a+b") == pytest.approx({"a": 0.5, "b": 1.5})
    assert "(a/2, b)" in relative.describe(table)


@pytest.mark.parametrize("seed", range(3))
def test_hoa_then_relative_equals_relative_then_hoa(seed: int) -> None:
    pairs = LossTable.from_rows([r for r in every_subset_table(seed).rows
                                 if r.network.count("+") <= 1], source="pairs")
    relative = Objective("relative", {"n": 2.0})
    one = relative.transform(hoa_table(pairs)).by_network()
    other = hoa_table(relative.transform(pairs)).by_network()
    assert one.keys() == other.keys()
    for name, (cost, losses) in one.items():
        assert other[name][0] == cost
        assert other[name][1] == pytest.approx(losses)


def test_scoring_another_split_divides_by_the_same_reference_networks() -> None:
    val = every_subset_table(0)
    test = every_subset_table(1)
    relative = Objective("relative")
    references = relative.references(val)
    on_test = relative.transform(test, references)
    for t, network in references.items():
        assert on_test.losses(network)[t] == pytest.approx(1.0)
    # the test table's own reference would be the same networks here; a table lacking the full
    # singles would fall back on t/2, so the validation's references are passed explicitly
    no_singles = LossTable.from_rows([r for r in test.rows if r.network not in TASKS])
    with pytest.raises(SelectionError, match="task 's'.* reference network 's'"):
        relative.transform(no_singles, references)


def test_metric_higher_is_better_enters_as_one_minus_a_rate_or_minus_the_value() -> None:
    accuracy = LossTable.from_rows([("a", 1, "a", 0.9), ("b", 1, "b", 4.0),
                                    ("a+b", 1, "a", 0.8), ("a+b", 1, "b", 5.0)])
    metric = Objective("metric", higher_is_better=("a", "b"))
    table = metric.transform(accuracy)
    assert table.losses("a+b") == pytest.approx({"a": 0.2, "b": -5.0})  # a is a rate, b not
    # higher is better: a is served alone (0.9 > 0.8), b by the pair (5 > 4)
    assert solve(problem_from_table(table, budget=2)).served_by == {"a": "a", "b": "a+b"}
    lower = Objective("metric")  # the values as they are: lower is better
    assert lower.transform(accuracy).rows == accuracy.rows
    weighted = Objective("metric", {"a": 10.0}, ("a",)).transform(accuracy)
    assert weighted.losses("a") == pytest.approx({"a": 1.0})  # 10 × (1 − 0.9)


@pytest.mark.parametrize("weight", [0, -1, math.inf, math.nan, "x"])
def test_a_weight_that_is_not_positive_and_finite_is_an_error_naming_its_task(weight) -> None:
    with pytest.raises(SelectionError, match="weight of task 'depth'"):
        Objective("relative", {"depth": weight})


def test_errors_name_the_task_or_the_weight() -> None:
    table = every_subset_table(0, halves=False)
    with pytest.raises(SelectionError, match="unknown task.*depth"):
        Objective("raw", {"depth": 2.0}).transform(table)
    without = LossTable.from_rows([r for r in table.rows if r.network != "k"])
    with pytest.raises(SelectionError, match="task 'k'.*'k' or 'k/2'"):
        Objective("relative").transform(without)
    negative = LossTable.from_rows([("a", 1, "a", -0.5), ("a+b", 1, "a", 0.1),
                                    ("b", 1, "b", 1.0), ("a+b", 1, "b", 1.0)])
    with pytest.raises(SelectionError, match="task 'a'.*positive loss"):
        Objective("relative").transform(negative)
    with pytest.raises(SelectionError, match="unknown objective 'ratio'"):
        Objective("ratio")
    with pytest.raises(SelectionError, match="metric"):
        Objective("relative", higher_is_better=("a",))
    with pytest.raises(SelectionError, match="unknown key.*weight\\b"):
        Objective.parse({"kind": "raw", "weight": {"a": 1}})
    with pytest.raises(SelectionError, match="'b=x'|task 'b'"):
        parse_weights("a=2,b=x")
    with pytest.raises(SelectionError, match="TASK=WEIGHT"):
        parse_weights("a")


def test_parse_reads_back_to_dict() -> None:
    for objective in (Objective(), Objective("relative", {"a": 2.0}),
                      Objective("metric", higher_is_better=("a",))):
        assert Objective.parse(objective.to_dict()) == objective
    assert Objective.parse("relative") == Objective("relative")
    assert Objective.parse(None).is_raw
