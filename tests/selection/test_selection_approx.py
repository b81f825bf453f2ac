"""HOA (predicted higher-order networks) and ESA (early-stopped losses) as table transforms."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlgroup.selection import (
    LossTable,
    SelectionError,
    TableError,
    esa_table,
    hoa_table,
    problem_from_table,
    solve,
)

TASKS = ("s", "d", "n", "k", "e")


@st.composite
def pair_tables(draw):
    """Half-size and full singles and all pairs of 3 to 5 tasks, random losses."""
    n = draw(st.integers(3, 5))
    tasks = TASKS[:n]
    loss = st.floats(0.01, 2.0, allow_nan=False)
    rows = [(f"{t}/2", 0.5, t, draw(loss)) for t in tasks]
    rows += [(t, 1.0, t, draw(loss)) for t in tasks]
    for t, u in itertools.combinations(tasks, 2):
        rows += [(f"{t}+{u}", 1.0, t, draw(loss)), (f"{t}+{u}", 1.0, u, draw(loss))]
    return LossTable.from_rows(rows)


@settings(max_examples=30, deadline=None)
@given(pair_tables())
def test_hoa_predicts_every_larger_network_as_the_mean_over_pairs(table: LossTable) -> None:
    predicted = hoa_table(table)
    tasks = table.tasks
    pair = {(t, u): table.losses("+".join(sorted((t, u), key=tasks.index)))[t]
            for t, u in itertools.permutations(tasks, 2)}
    expected_networks = len(tasks) + 2 ** len(tasks) - 1  # halves + every subset
    assert len(predicted.networks) == expected_networks
    for size in range(3, len(tasks) + 1):
        for group in itertools.combinations(tasks, size):
            losses = predicted.losses("+".join(group))
            for t in group:
                mean = sum(pair[t, u] for u in group if u != t) / (size - 1)
                assert losses[t] == pytest.approx(mean, rel=1e-12)
            assert predicted.cost("+".join(group)) == 1.0


@settings(max_examples=20, deadline=None)
@given(pair_tables())
def test_hoa_keeps_networks_of_one_or_two_tasks(table: LossTable) -> None:
    predicted = hoa_table(table)
    for name in table.networks:
        assert predicted.losses(name) == table.losses(name)
        assert predicted.cost(name) == table.cost(name)


def test_hoa_replaces_listed_larger_networks_and_keeps_their_names_and_costs() -> None:
    rows = [("a+b", 1, "a", 0.2), ("a+b", 1, "b", 0.4), ("a+c", 1, "a", 0.3),
            ("a+c", 1, "c", 0.6), ("b+c", 1, "b", 0.5), ("b+c", 1, "c", 0.8),
            ("c+b+a", 1.2, "a", 9.0), ("c+b+a", 1.2, "b", 9.0), ("c+b+a", 1.2, "c", 9.0)]
    predicted = hoa_table(LossTable.from_rows(rows))
    assert predicted.losses("c+b+a") == pytest.approx({"a": 0.25, "b": 0.45, "c": 0.7})
    assert predicted.cost("c+b+a") == 1.2
    assert "a+b+c" not in predicted.networks


def test_hoa_needs_every_pair() -> None:
    table = LossTable.from_rows([("a+b", 1, "a", 0.2), ("a+b", 1, "b", 0.4), ("c", 1, "c", 0.1)])
    with pytest.raises(TableError, match="missing a\\+c, b\\+c"):
        hoa_table(table)


def test_esa_selects_on_early_losses_with_the_tables_costs() -> None:
    val = LossTable.from_rows([("a", 1, "a", 0.3), ("b", 1, "b", 0.5),
                               ("a+b", 1, "a", 0.35), ("a+b", 1, "b", 0.4)])
    early = LossTable.from_rows([("a", 9, "a", 0.9), ("b", 9, "b", 0.9),
                                 ("a+b", 9, "a", 0.2), ("a+b", 9, "b", 0.2)])
    table = esa_table(val, early)
    assert table.losses("a") == {"a": 0.9} and table.cost("a") == 1.0
    problem = problem_from_table(val, budget=2, approx="esa", early=early)
    assert solve(problem).names == ("a+b",)


def test_esa_reports_a_network_missing_from_the_early_table() -> None:
    val = LossTable.from_rows([("a", 1, "a", 0.3), ("b", 1, "b", 0.5)])
    early = LossTable.from_rows([("a", 1, "a", 0.3)], source="early.csv")
    with pytest.raises(TableError, match="early.csv: no early-stopped losses for network 'b'"):
        esa_table(val, early)
    with pytest.raises(SelectionError, match="needs the early-stopped table"):
        problem_from_table(val, budget=1, approx="esa")
    with pytest.raises(SelectionError, match="unknown approximation"):
        problem_from_table(val, budget=1, approx="magic")


def test_hoa_prices_predicted_networks_as_encoder_plus_heads() -> None:
    # FLOP costs of a study: encoder 0.8, heads a 0.2, b 0.3, c 0.5 (so a single 'a' costs 1.0).
    heads = {"a": 0.2, "b": 0.3, "c": 0.5, "d": 0.1}
    rows = []
    for size in (1, 2):
        for names in itertools.combinations("abcd", size):
            cost = 0.8 + sum(heads[t] for t in names)
            rows.extend((("+".join(names)), cost, t, 0.5) for t in names)
    predicted = hoa_table(LossTable.from_rows(rows))
    assert predicted.cost("a+b+c") == pytest.approx(0.8 + 1.0)
    assert predicted.cost("a+b+c+d") == pytest.approx(0.8 + 1.1)  # not the largest pair's 1.6


def test_hoa_refuses_costs_that_are_not_encoder_plus_heads() -> None:
    rows = [("a", 1, "a", 0.3), ("b", 1, "b", 0.3), ("c", 1, "c", 0.3),
            ("a+b", 1.2, "a", 0.2), ("a+b", 1.2, "b", 0.2), ("a+c", 1.9, "a", 0.2),
            ("a+c", 1.9, "c", 0.2), ("b+c", 1.2, "b", 0.2), ("b+c", 1.2, "c", 0.2)]
    with pytest.raises(TableError, match="not an encoder plus one head per task"):
        hoa_table(LossTable.from_rows(rows))
    assert hoa_table(LossTable.from_rows(rows), cost=2.0).cost("a+b+c") == 2.0


def test_hoa_ignores_networks_scaled_to_a_budget_when_pricing_and_naming() -> None:
    # A pipeline's table also holds baselines scaled to a budget ("a@1.2", "a+b+c@2"): they
    # neither price the encoder nor stand in for the full-size network HOA predicts.
    heads = {"a": 0.2, "b": 0.3, "c": 0.5}
    rows = []
    for size in (1, 2):
        for names in itertools.combinations("abc", size):
            rows.extend((("+".join(names)), 0.8 + sum(heads[t] for t in names), t, 0.5)
                        for t in names)
    rows += [("a@1.2", 1.25, "a", 0.4), ("a+b+c@2", 3.9, "a", 0.1), ("a+b+c@2", 3.9, "b", 0.1),
             ("a+b+c@2", 3.9, "c", 0.1)]
    predicted = hoa_table(LossTable.from_rows(rows))
    assert predicted.cost("a+b+c") == pytest.approx(1.8)
    assert predicted.losses("a+b+c") == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.5})
    assert predicted.cost("a@1.2") == 1.25  # still a candidate of its own
