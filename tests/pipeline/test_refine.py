"""Refinement (ALGORITHMS §1.7) and serving by validation loss (§1, §2.1): the loop on
fabricated tables with a fake trainer, the config's estimator mapping, and two tiny runs."""

from __future__ import annotations

import itertools
import json
import random

import pytest
from pipeline_helpers import DATA, quiet, served_by_lowest_val, tiny_settings

from mtlgroup.config import ConfigError, PipelineConfig, Settings, parse_config
from mtlgroup.pipeline import BudgetRow, run_pipeline
from mtlgroup.pipeline.refine import refine, replace_losses, serve_by_validation
from mtlgroup.pipeline.stages import select_row
from mtlgroup.selection import LossTable, hoa_table, problem_from_table

TASKS = ("a", "b", "c", "d")
BUDGETS = (1.0, 2.0, 3.0)


def true_table(seed: int) -> LossTable:
    """Every subset of four tasks at cost 1 (plus half-size singles), random real losses."""
    rng = random.Random(seed)
    rows = [(f"{t}/2", 0.5, t, 1.0 + rng.random()) for t in TASKS]
    for k in range(1, len(TASKS) + 1):
        for group in itertools.combinations(TASKS, k):
            rows += [("+".join(group), 1.0, t, rng.random() + 0.2) for t in group]
    return LossTable.from_rows(rows)


def estimate_of(true: LossTable) -> tuple[LossTable, set[str]]:
    """HOA's table from the true table's singles and pairs, and those (real) networks."""
    small = {n for n in true.networks if n.count("+") <= 1}
    seen = LossTable.from_rows([r for r in true.rows if r.network in small])
    return hoa_table(seen, cost=1.0), small


def solve(table: LossTable) -> list[BudgetRow]:
    return [select_row(problem_from_table(table, budget=b), "dp") for b in BUDGETS]


class Trainer:
    """Returns the true table's losses; counts the networks it really trained (a store)."""

    def __init__(self, true: LossTable, fail: frozenset[str] = frozenset(),
                 stop_after: int | None = None):
        self.true, self.fail, self.stop_after = true, fail, stop_after
        self.done: dict[str, dict[str, float]] = {}
        self.trainings = 0
        self.calls: list[list[str]] = []

    def __call__(self, names: list[str]) -> dict[str, dict[str, float]]:
        self.calls.append(list(names))
        for name in names:
            if name not in self.done and name not in self.fail:
                if self.stop_after is not None and self.trainings >= self.stop_after:
                    raise KeyboardInterrupt  # killed in the middle of a round
                self.trainings += 1
                self.done[name] = self.true.losses(name)
        return {n: self.done[n] for n in names if n in self.done}


def chosen(rows: list[BudgetRow]) -> set[str]:
    return {n for row in rows if row.feasible for n in row.networks}


def true_total(row: BudgetRow, true: LossTable) -> float:
    return sum(min(true.losses(n)[t] for n in row.networks if t in true.losses(n))
               for t in TASKS)


@pytest.mark.parametrize("seed", range(4))
def test_every_chosen_network_is_real_at_the_end_and_its_objective_is_true(seed):
    true = true_table(seed)
    estimate, real = estimate_of(true)
    trainer = Trainer(true)
    done = refine(estimate, real, solve, trainer)
    assert chosen(done.rows) <= real | set(done.real)
    assert done.rounds[-1].trained == [] and "every chosen network is trained" in done.stopped
    assert sum(len(r.trained) for r in done.rounds) == trainer.trainings == len(done.real)
    optimum = solve(true)
    for row, best in zip(done.rows, optimum, strict=True):
        # all real: the objective it chose on is what its networks really achieve
        assert row.objective == pytest.approx(true_total(row, true))
        assert row.objective >= best.objective - 1e-9
    # each round trains only networks it had not trained: the loop cannot cycle
    trained = [n for r in done.rounds for n in r.trained]
    assert len(trained) == len(set(trained)) and not set(trained) & real


def test_a_correct_estimate_is_confirmed_in_one_round():
    true = true_table(3)
    estimate, real = estimate_of(true)
    trainer = Trainer(estimate)  # the "real" losses are the predictions
    done = refine(estimate, real, solve, trainer)
    assert len(done.rounds) <= 2
    assert [r.networks for r in done.rows] == [r.networks for r in solve(estimate)]


@pytest.mark.parametrize("cap", [0, 1])
def test_the_cap_is_respected_and_the_last_choice_is_among_trained_networks(cap):
    true = true_table(1)
    estimate, real = estimate_of(true)
    uncapped = refine(estimate, real, solve, Trainer(true))
    assert len(uncapped.real) > cap  # the cap bites in this problem
    trainer = Trainer(true)
    done = refine(estimate, real, solve, trainer, max_trainings=cap)
    assert trainer.trainings <= cap and len(done.real) <= cap
    assert chosen(done.rows) <= real | set(done.real)
    if cap == 0 or f"cap of {cap} training" in done.stopped:  # else: done within the cap
        assert f"cap of {cap} training" in done.stopped
        assert all(done.stopped in row.note for row in done.rows)
    else:
        assert "every chosen network is trained" in done.stopped


def test_a_failed_training_leaves_the_table_and_the_loop_ends():
    true = true_table(2)
    estimate, real = estimate_of(true)
    first = refine(estimate, real, solve, Trainer(true)).rounds[0].chosen
    broken = frozenset(n for n in first if n not in real)
    assert broken
    done = refine(estimate, real, solve, Trainer(true, fail=broken))
    assert not chosen(done.rows) & broken
    assert set(done.rounds[0].failed) == broken


def test_a_rerun_or_a_killed_run_resumed_trains_nothing_twice():
    true = true_table(4)
    estimate, real = estimate_of(true)
    trainer = Trainer(true, stop_after=1)
    with pytest.raises(KeyboardInterrupt):
        refine(estimate, real, solve, trainer)
    trainer.stop_after = None  # the same store, resumed
    resumed = refine(estimate, real, solve, trainer)
    fresh_trainer = Trainer(true)
    fresh = refine(estimate, real, solve, fresh_trainer)
    assert trainer.trainings == fresh_trainer.trainings
    assert resumed.rows == fresh.rows
    before = trainer.trainings
    again = refine(estimate, real, solve, trainer)  # idempotent
    assert trainer.trainings == before and again.rows == fresh.rows


def test_replace_losses_keeps_costs_and_changes_only_the_named_networks():
    true = true_table(5)
    estimate, _ = estimate_of(true)
    refined = replace_losses(estimate, {"a+b+c": true.losses("a+b+c")}, drop={"b+c+d"})
    assert refined.losses("a+b+c") == true.losses("a+b+c")
    assert "b+c+d" not in refined.networks
    for network in refined.networks:
        assert refined.cost(network) == estimate.cost(network)
        if network != "a+b+c":
            assert refined.losses(network) == estimate.losses(network)


@pytest.mark.parametrize("seed", range(20))
def test_each_task_is_served_by_its_lowest_validation_loss_among_the_chosen(seed):
    rng = random.Random(seed)
    networks = ["+".join(g) for g in rng.sample(list(itertools.combinations(TASKS, 2)), 3)]
    networks += [t for t in TASKS if not any(t in n.split("+") for n in networks)]
    served = {t: next(n for n in networks if t in n.split("+")) for t in TASKS}
    val = {n: {t: rng.choice([0.1, 0.2, 0.3]) for t in n.split("+")} for n in networks}
    row = serve_by_validation(BudgetRow(3.0, True, networks=list(networks),
                                        served_by=dict(served)), val)
    for task, network in row.served_by.items():
        best = min(val[n][task] for n in networks if task in val[n])
        assert val[network][task] == best
        if val[served[task]][task] == best:  # a tie keeps the choice made on the estimate
            assert network == served[task]
    assert ("served by the validation losses" in row.note) == (row.served_by != served)


def test_a_task_whose_networks_were_not_trained_keeps_its_server():
    row = BudgetRow(2.0, True, networks=["a+b", "b"], served_by={"a": "a+b", "b": "a+b"})
    assert serve_by_validation(row, {"b": {"b": 0.1}}).served_by == {"a": "a+b", "b": "b"}
    infeasible = BudgetRow(0.5, False, note="no cover")
    assert serve_by_validation(infeasible, {}) == BudgetRow(0.5, False, note="no cover")


# -- the config --------------------------------------------------------------------------------


def test_the_estimator_may_be_a_mapping_and_is_saved_as_a_name():
    mapped = PipelineConfig.model_validate(
        {"estimator": {"name": "esa", "refine": True, "refine_max_trainings": 3}})
    flat = PipelineConfig.model_validate(
        {"estimator": "esa", "refine": True, "refine_max_trainings": 3})
    assert mapped == flat and mapped.estimator == "esa"
    saved = Settings.model_validate({"pipeline": mapped.model_dump(mode="json")}).pipeline
    assert (saved.estimator, saved.refine, saved.refine_max_trainings) == ("esa", True, 3)
    assert PipelineConfig.model_validate({"estimator": "hoa"}).refine is False


@pytest.mark.parametrize(("pipeline", "words"), [
    ({"estimator": {"name": "tag", "refine": True}}, "refine needs a loss-table estimator"),
    ({"estimator": "proximal", "refine": True}, "proximal chooses groupings"),
    ({"estimator": {"name": "hoa", "max": 2}}, "unknown key(s) max"),
    ({"estimator": {"refine": True}}, "no name"),
    ({"estimator": {"name": "hoa", "refine": True}, "refine": False}, "given twice"),
    ({"estimator": {"name": "nope"}}, "nope"),
    ({"refine_max_trainings": -1}, "refine_max_trainings"),
])
def test_a_bad_estimator_mapping_is_one_clear_error(pipeline, words):
    with pytest.raises(ConfigError, match="pipeline") as error:
        parse_config({"pipeline": pipeline}, Settings, "run.yaml")
    assert words in str(error.value)


# -- two tiny runs -----------------------------------------------------------------------------


def test_a_refined_hoa_run_trains_every_chosen_network_and_reports_its_error(tmp_path):
    out = tmp_path / "hoa"
    data = {"dataset": "synthetic", "tasks": ["bright", "parity", "moments"], **DATA}
    report = run_pipeline(tiny_settings(data, estimator={"name": "hoa", "refine": True},
                                        budgets=[1.5, 2.5], baseline_budgets=[2.5]),
                          out, echo=quiet)
    finalize = json.loads((out / "stages" / "finalize.json").read_text())
    refinement = finalize["refinement"]
    assert "every chosen network is trained" in refinement["stopped"]
    assert all(row.test_total is not None for row in report.rows if row.feasible)
    served_by_lowest_val(out)
    trained = set(refinement["trained"])
    baselines = json.loads((out / "stages" / "baselines.json").read_text())["keys"]
    assert not trained & {r["network"] for r in _records(out, baselines)}  # trained already
    assert {p["network"] for p in report.predictions} == trained
    assert set(report.prediction_errors) <= set(report.tasks)
    assert report.refinement == refinement and "refined_table.csv" in report.files


def test_the_refine_flag_sets_pipeline_refine_and_names_itself_in_errors():
    from typer.testing import CliRunner

    from mtlgroup.cli import app
    from mtlgroup.cli.options import load_settings, overrides

    assert load_settings(None, overrides({"refine": True})).pipeline.refine is True
    refused = CliRunner().invoke(app, ["demo", "--refine", "--estimator", "tag"])
    assert refused.exit_code != 0
    assert "--refine" in refused.output and "refine needs a loss-table estimator" in \
        refused.output


def _records(out, keys):
    from mtlgroup.study import StudyStore

    with StudyStore(out / "study.sqlite") as store:
        return [{"network": r.network} for r in store.jobs("done", keys=keys)]


def test_prune_keeps_the_networks_a_refinement_chose(tmp_path):
    from mtlgroup.study.status import run_networks

    stages = tmp_path / "stages"
    stages.mkdir()
    select = [BudgetRow(2.0, True, networks=["a+b+c"], served_by={"a": "a+b+c"}).to_dict()]
    final = [BudgetRow(2.0, True, networks=["b+a", "c"], served_by={"a": "a+b"}).to_dict()]
    for stage, value in (("select", {"rows": select}),
                         ("baselines", {"budgets": [], "keys": []}),
                         ("finalize", {"rows": final, "keys": ["k1"]})):
        (stages / f"{stage}.json").write_text(json.dumps(value))
    names, keys = run_networks(tmp_path)
    assert names >= {"a+b+c", "a+b", "c"} and "k1" in keys


def test_refine_refuses_hoa_whose_predictions_are_never_listed():
    from types import SimpleNamespace

    from mtlgroup.errors import RunFailure
    from mtlgroup.pipeline.estimators import EsaEstimator, HoaEstimator
    from mtlgroup.pipeline.refine import _check_listed
    from mtlgroup.selection.implicit import IMPLICIT_FROM

    tasks = [f"t{i}" for i in range(IMPLICIT_FROM)]
    table = LossTable.from_rows([(t, 1.0, t, 0.5) for t in tasks])
    with pytest.raises(RunFailure, match=f"refine with hoa on {IMPLICIT_FROM} tasks"):
        _check_listed(SimpleNamespace(estimator=HoaEstimator(), sizes=None), table)
    _check_listed(SimpleNamespace(estimator=EsaEstimator(), sizes=None), table)  # listed
    small = LossTable.from_rows([(t, 1.0, t, 0.5) for t in tasks[:4]])
    _check_listed(SimpleNamespace(estimator=HoaEstimator(), sizes=None), small)
