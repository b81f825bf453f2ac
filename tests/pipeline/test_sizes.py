"""Candidates at several encoder sizes (``pipeline.sizes``, ALGORITHMS §1.4): the plan at each
size, HOA within each size, an extrapolation said, bad sizes refused."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from pipeline_helpers import DATA, quiet, tiny_settings

from mtlgroup.pipeline import open_context, run_stages
from mtlgroup.pipeline.sized_hoa import hoa_by_size
from mtlgroup.selection import LossTable, hoa_table, read_loss_table
from mtlgroup.study.plans import Candidate, parse_candidate, plan_candidates, with_sizes

TASKS = ("a", "b", "c", "d")


def pair_rows(size: float, seed: int) -> list[tuple[str, float, str, float]]:
    """Singles and pairs of TASKS at ``size`` with random losses, costed ``size · (1 + m/4)``."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in (1, 2):
        for tasks in itertools.combinations(TASKS, m):
            name = Candidate(tasks, size).name
            rows += [(name, size * (1 + m / 4), t, float(rng.uniform(0.1, 1))) for t in tasks]
    return rows


def cost(tasks: tuple[str, ...], size: float) -> float:
    return size * (1 + len(tasks) / 4)


def test_a_plan_at_several_sizes_is_each_task_set_at_each_size():
    for plan in ("pairs", "all", "esa"):
        paper = plan_candidates(plan, TASKS)
        sized = plan_candidates(plan, TASKS, [0.25, 1, 2])
        task_sets = {(c.tasks, c.budget_fraction) for c in paper}
        assert {(c.tasks, c.budget_fraction, c.size) for c in sized} == {
            (t, f, s) for t, f in task_sets for s in (0.25, 1.0, 2.0)}
        assert all(parse_candidate(c.name) == Candidate(c.tasks, c.size) for c in sized)
    once = with_sizes(paper, [1.0])  # a task set the plan lists at two sizes appears once
    assert len(once) == len(set(once)) == len({c.tasks for c in paper})


def test_each_size_is_predicted_from_its_own_pairs_only():
    half, full = pair_rows(0.5, seed=1), pair_rows(1.0, seed=2)
    sized = hoa_by_size(LossTable.from_rows(half + full), [0.5, 1.0], cost)
    assert sized.extrapolated == []
    for size, rows in ((0.5, half), (1.0, full)):
        stripped = LossTable.from_rows(
            [("+".join(parse_candidate(n).tasks), c, t, v) for n, c, t, v in rows])
        alone = hoa_table(stripped, cost=lambda names, s=size: cost(names, s)).by_network()
        for name, (_, losses) in alone.items():
            tasks = tuple(name.split("+"))
            sized_name = Candidate(tasks, size).name
            assert sized.table.losses(sized_name) == losses  # the other size changes nothing
            assert sized.table.cost(sized_name) == pytest.approx(cost(tasks, size))


def test_a_size_without_its_pairs_is_extrapolated_from_size_one_and_says_so():
    full = pair_rows(1.0, seed=3)
    singles = [r for r in pair_rows(0.5, seed=4) if "+" not in r[0]]
    sized = hoa_by_size(LossTable.from_rows(full + singles), [0.5, 1.0], cost)
    assert sized.extrapolated == [0.5]
    from_full = hoa_table(LossTable.from_rows(full), cost=lambda names: cost(names, 1.0))
    for name in from_full.networks:
        if name.count("+") >= 2:
            tasks = tuple(name.split("+"))
            assert sized.table.losses(Candidate(tasks, 0.5).name) == from_full.losses(name)
            assert sized.table.cost(Candidate(tasks, 0.5).name) == cost(tasks, 0.5)
    for name, _, task, loss in singles:  # its own trained networks keep their real losses
        assert sized.table.losses(name)[task] == loss


def test_without_pairs_at_the_size_or_at_size_one_hoa_refuses():
    singles = [r for r in pair_rows(0.5, seed=5) if "+" not in r[0]]
    with pytest.raises(ValueError, match="HOA at size 0.5 needs its pairs or the size-1 pairs"):
        hoa_by_size(LossTable.from_rows(singles), [0.5], cost)


@pytest.mark.parametrize("sizes,message", [([0.0, 1.0], "positive"), ([1.0, 0.5, 1.0],
                                           "listed twice"), ([], "no sizes")])
def test_bad_sizes_are_refused_with_a_clear_message(sizes, message):
    with pytest.raises(ValueError, match=message):
        tiny_settings(sizes=sizes)


def test_default_is_the_papers_pool():
    assert tiny_settings().pipeline.sizes is None


def test_a_run_trains_the_plan_at_each_size_and_predicts_within_each(tmp_path):
    settings = tiny_settings(data={"dataset": "synthetic", **DATA,
                                   "tasks": ["bright", "parity", "moments"]},
                             sizes=[0.5, 1.0], baseline_budgets=[])
    with open_context(settings, tmp_path, echo=quiet) as context:
        (estimate,) = run_stages(context, ["estimate"])
        trained = {r.candidate for r in context.study.store.jobs("done")}
    tasks = ("bright", "parity", "moments")
    assert trained == set(plan_candidates("pairs", tasks, [0.5, 1.0]))
    assert estimate["extrapolated"] == {}
    table = read_loss_table(tmp_path / "selection_table.csv")
    assert {parse_candidate(n).size for n in table.networks} == {0.5, 1.0}
    assert {"bright+parity+moments", "bright+parity+moments@0.5"} <= set(table.networks)
    saved = json.loads((tmp_path / "stages" / "estimate.json").read_text())
    assert saved["extrapolated"] == {}
