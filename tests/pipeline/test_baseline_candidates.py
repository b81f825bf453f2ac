"""The trained baselines are candidates of every budget (ALGORITHMS §1.4), and in nominal mode
they are nominal (§7)."""

from __future__ import annotations

import pytest
from pipeline_helpers import DATA, quiet, tiny_settings

from mtlgroup.pipeline import open_context, run_stages
from mtlgroup.pipeline.baseline_candidates import add_networks, baseline_networks
from mtlgroup.pipeline.stages import baseline_plan, rows_of
from mtlgroup.selection import LossTable, read_loss_table
from mtlgroup.study.plans import parse_candidate

TASKS = ["bright", "parity", "moments"]
"""Three of the synthetic tasks: a smaller study, the same properties."""


@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    """estimate → baselines → select of a tiny HOA run (finalize and evaluate add nothing to
    what is checked here)."""
    out = tmp_path_factory.mktemp("run")
    settings = tiny_settings(data={"dataset": "synthetic", **DATA, "tasks": TASKS},
                             budgets=[1.0, 1.5, 2.0, 3.0], baseline_budgets=[2.0])
    with open_context(settings, out, echo=quiet) as context:
        _, baselines, select = run_stages(context, ["estimate", "baselines", "select"])
        val = context.study.store.losses("val", keys=baselines["keys"])
    return out, baselines["budgets"], rows_of(select), val


def test_at_every_baseline_budget_the_choice_is_never_worse_than_either_baseline(selected):
    _, plans, rows, val = selected
    by_budget = {row.budget: row for row in rows}
    for plan in plans:
        row = by_budget[plan["budget"]]
        all_task = sum(val[plan["all_task"]].values())
        independent = sum(val[n][t] for t, n in plan["independent"].items())
        assert row.feasible, row.note
        assert row.cost <= plan["budget"] + 1e-9
        assert row.objective <= min(all_task, independent) + 1e-9


def test_the_baselines_are_candidates_of_every_budget_but_not_of_the_estimate(selected):
    out, plans, rows, _ = selected
    estimate = read_loss_table(out / "selection_table.csv")
    assert not any("@" in name for name in estimate.networks)  # HOA never saw them
    baselines = set(baseline_networks(plans))
    chosen = {n for row in rows if row.feasible for n in row.networks}
    cheapest_cover = min(plan["independent_cost"] for plan in plans)
    # Every budget that a baseline fits is feasible, below the first baseline budget too.
    assert all(row.feasible for row in rows if row.budget >= cheapest_cover)
    assert chosen <= set(estimate.networks) | baselines


def test_a_listed_network_gets_its_real_losses_and_other_tasks_are_dropped():
    table = LossTable.from_rows([("a", 1, "a", 0.3), ("b", 1, "b", 0.5),
                                 ("a+b", 1, "a", 0.1), ("a+b", 1, "b", 0.1)])
    real = add_networks(table, {"a+b": {"a": 0.4, "b": 0.6, "c": 9.0}}, {"a+b": 1.2})
    assert real.losses("a+b") == {"a": 0.4, "b": 0.6} and real.cost("a+b") == 1.2
    assert real.losses("a") == table.losses("a") and len(real.rows) == len(table.rows)


@pytest.mark.parametrize("budget", [1.0, 3.0])
def test_nominal_baselines_cost_their_budget_exactly(tmp_path, budget):
    settings = tiny_settings(budgets=[budget], baseline_budgets=[budget])
    settings.study.cost = "nominal"
    with open_context(settings, tmp_path, echo=quiet) as context:
        plan = baseline_plan(context, budget)
        n = len(context.tasks)
        assert parse_candidate(plan["all_task"]).size == budget
        assert all(parse_candidate(s).size == budget / n for s in plan["independent"].values())
    assert plan["all_task_cost"] == budget
    assert plan["independent_cost"] == pytest.approx(budget)
    assert not plan["note"]
