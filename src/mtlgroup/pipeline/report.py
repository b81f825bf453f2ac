"""The ``report`` stage: the report a user acts on, from the saved values of the other stages
and the store alone (so it can be rerun on a finished run directory, e.g. after changing the
template).

It writes ``report.html`` and ``report.json`` and, next to them, ``curve.png`` (the trade-off),
``networks.png`` (the recommended networks), ``affinity.png`` (the estimate's affinity or
pairwise matrix), ``predicted.png`` (the estimate's predicted losses against the real ones,
when it predicted networks the run then trained) and the loss tables ``tables/*.csv``.

At the top of the page: the recommendation for ``pipeline.recommend_budget``, or else for the
knee of the curve of validation totals the run chose on (never the test curve), compared task
by task with the baselines of that budget (or of the nearest baseline budget); the rule is in
:mod:`mtlgroup.report.recommend`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlgroup.pipeline.refine import REFINED_TABLE
from mtlgroup.pipeline.rows import BudgetRow, PipelineReport
from mtlgroup.pipeline.stages import STAGES, _canonical_name, rows_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mtlgroup.pipeline.context import RunContext
    from mtlgroup.report.predicted import Prediction
    from mtlgroup.report.recommend import Option, OptionKind, Recommendation
    from mtlgroup.study.store import JobRecord

    Options = dict[float, dict[OptionKind, Option]]
    Scores = dict[str, dict[str, dict[str, dict[str, float]]]]

TRAINING_STAGES = ("estimate", "finalize", "baselines")
"""The stages whose saved values name the jobs the run trained (or reused)."""

OPTIONAL_FIGURES = ("networks.png", "affinity.png", "predicted.png")
"""Figures a report draws only when it has something to draw (a stale one is removed)."""


@dataclass(frozen=True)
class Report:
    """Write the report of a run; returns the :class:`PipelineReport`."""

    name: str = "report"

    def run(self, context: RunContext) -> PipelineReport:
        import time

        from mtlgroup.report import TrainingCosts, recommend, relative_errors, versions

        estimate = context.load("estimate")
        rows = rows_of(context.load("evaluate"))
        saved = {stage: context.load(stage) for stage in TRAINING_STAGES}
        keys = list(dict.fromkeys(k for value in saved.values() for k in value["keys"]))
        records = context.study.store.jobs("done", keys=keys)
        scores = _scores(records)
        name = _canonical_name(context)
        options = _options(context, rows, saved["baselines"]["budgets"], scores, name)
        asked = context.settings.get("pipeline", {}).get("recommend_budget")
        val_totals = _val_totals(rows, scores, name)
        recommendation = recommend(rows, val_totals, options, asked)
        if recommendation.chosen is not None and recommendation.budget is not None:
            recommendation = _with_export(recommendation, context.out)
        wall = time.perf_counter() - context.started
        costs = TrainingCosts.of(records, time.time() - wall, wall)
        out = context.out
        for stale in OPTIONAL_FIGURES:
            (out / stale).unlink(missing_ok=True)
        predicted = _predictions(saved, estimate, records, scores, out, name)
        figures = _figures(context, estimate, rows, recommendation, predicted)
        # The candidates (what the estimate trained and finalize added) apart from the
        # baselines: a selection on tables/ must not pick a network scaled to a budget (a
        # chosen baseline is in finalize's keys: it stays in tables/baselines/ only).
        baseline_keys = set(saved["baselines"]["keys"]) - set(saved["estimate"]["keys"])
        candidates = [k for stage in ("estimate", "finalize") for k in saved[stage]["keys"]
                      if k not in baseline_keys]
        tables = context.study.tables(out / "tables", context.cost_unit, keys=candidates)
        tables.update({f"baselines/{split}": path for split, path in context.study.tables(
            out / "tables" / "baselines", context.cost_unit,
            keys=saved["baselines"]["keys"]).items()})
        report = PipelineReport(
            dataset=context.dataset, tasks=context.tasks, estimator=estimate["estimator"],
            rows=rows, trainings=costs.trainings, training_seconds=costs.training_seconds,
            wall_seconds=wall, out=str(out),
            failures=[f for value in saved.values() for f in value["failures"]],
            recommendation=recommendation.to_dict(),
            predictions=[p.to_dict() for p in predicted[0]],
            prediction_errors=relative_errors(predicted[0]),
            refinement=saved["finalize"].get("refinement"), costs=costs.to_dict(),
            settings=context.settings, versions=versions(),
            objective=_objective(context, estimate),
            delta_m=context.load("evaluate").get("delta_m", {}),
        )
        refined = out / REFINED_TABLE if report.refinement else None  # the last round's table
        written = [*figures.values(), *tables.values(), *([refined] if refined else []),
                   *sorted(context.path("estimate").parent.glob("*.json"))]
        report.files = sorted(str(p.relative_to(out)) for p in written) + [
            "report.html", "report.json", "study.sqlite"]
        (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
        _write_html(context, report, estimate, {"recommendation": recommendation,
                    "options": options, "val_totals": val_totals, "costs": costs.lines(),
                    "predictions": predicted[0], "predictions_note": predicted[1],
                    "prediction_errors": report.prediction_errors,
                    "refinement": report.refinement,
                    "figures": {file: path.name for file, path in figures.items()}})
        return report


def _with_export(recommendation: Recommendation, out: Path) -> Recommendation:
    """The recommendation with the command that exports its networks."""
    from dataclasses import replace

    from mtlgroup.export import export_command

    assert recommendation.budget is not None
    return replace(recommendation, export_command=export_command(out, recommendation.budget))


def _scores(records: Sequence[JobRecord]) -> Scores:
    """Network → split → task → ``{"loss": ..., metric: ...}`` of the full trainings."""
    return {r.network: r.outcome.scores for r in records
            if r.outcome is not None and r.is_network and r.candidate.is_full_budget}


def _options(context: RunContext, rows: Sequence[BudgetRow], plans: Sequence[dict[str, Any]],
             scores: Scores, name: Callable[[str], str]) -> Options:
    """Budget → its options: the chosen networks (feasible budgets) and the baselines (the
    baseline budgets), each with the test scores of the network serving each task."""
    from mtlgroup.report import Option
    from mtlgroup.study.plans import parse_candidate

    def option(kind: OptionKind, budget: float, served_by: dict[str, str]) -> Option:
        served = {t: served_by[t] for t in context.tasks if t in served_by}
        test = {t: scores[name(n)]["test"][t] for t, n in served.items()
                if t in scores.get(name(n), {}).get("test", {})}
        members = {n: parse_candidate(n).tasks for n in served.values()}
        return Option(kind, budget, served, members, test)

    options: Options = {}
    for row in rows:
        if row.feasible:
            options.setdefault(row.budget, {})["chosen"] = option("chosen", row.budget,
                                                                  row.served_by)
    for plan in plans:
        budget, independent = plan["budget"], dict(plan["independent"])
        found = options.setdefault(budget, {})
        found["all-task"] = option("all-task", budget, dict.fromkeys(independent,
                                                                     plan["all_task"]))
        found["independent"] = option("independent", budget, independent)
    return dict(sorted(options.items()))


def _losses(scores: Scores, split: str) -> dict[str, dict[str, float]]:
    """Network → task → loss on ``split``."""
    return {n: {t: s["loss"] for t, s in found[split].items()}
            for n, found in scores.items() if split in found}


def _val_totals(rows: Sequence[BudgetRow], scores: Scores, name: Callable[[str], str]
                ) -> dict[float, float]:
    """Budget → validation total of its chosen networks (honest rule), where all trained:
    what the knee is found on."""
    from mtlgroup.selection.evaluate import score_served
    from mtlgroup.selection.table import TableError

    val = _losses(scores, "val")
    totals = {}
    for row in rows:
        if row.feasible:
            served = {t: name(n) for t, n in row.served_by.items()}
            try:
                totals[row.budget] = score_served(served, val, source="validation losses").total
            except TableError:  # a chosen network's training failed: no point of the curve
                continue
    return totals


def _predictions(saved: dict[str, dict[str, Any]], estimate: dict[str, Any],
                 records: Sequence[JobRecord], scores: Scores, out: Path,
                 name: Callable[[str], str]) -> tuple[list[Prediction], str]:
    """The estimate's predictions of the networks the run then trained in full (finalize),
    and what the report says about them."""
    from mtlgroup.report import predictions
    from mtlgroup.selection import read_loss_table

    if not estimate.get("table"):
        return [], (f"The {estimate['estimator']} estimator predicts no losses: it chooses "
                    "groupings from its affinity matrix.")
    table = read_loss_table(out / estimate["table"])

    def trained_by(stage: str) -> set[str]:
        """The networks ``stage`` trained in full (not ESA's short runs)."""
        keys = set(saved[stage]["keys"])
        return {r.network for r in records
                if r.key in keys and r.is_network and r.candidate.is_full_budget}

    estimated = trained_by("estimate")
    predicted = {name(n): table.losses(n) for n in table.networks if name(n) not in estimated}
    if not predicted:
        return [], "Nothing was predicted: the estimate trained every candidate in full."
    real = {n: losses for n, losses in _losses(scores, "val").items()
            if n in trained_by("finalize")}
    found = predictions(predicted, real)
    trained = len({p.network for p in found})
    return found, (f"The {estimate['estimator']} estimate predicted the validation losses of "
                   f"{_count(len(predicted))}; {trained} of them, chosen at some budget, "
                   f"{'was' if trained == 1 else 'were'} then trained in full. One point per "
                   "(network, task), coloured by task.")


def _objective(context: RunContext, estimate: dict[str, Any]) -> dict[str, Any]:
    """Which objective chose the networks: ``pipeline.objective`` on a loss table; an affinity
    estimator maximises its affinity scores, which no objective changes."""
    from mtlgroup.selection import read_loss_table
    from mtlgroup.selection.objectives import settings_objective

    objective = settings_objective(context.settings)
    if not estimate.get("table"):
        return {**objective.to_dict(), "description": "none; the affinity estimator maximises "
                "its groups' affinity scores"}
    table = read_loss_table(context.out / estimate["table"])
    return {**objective.to_dict(), "description": objective.describe(table)}


def _count(networks: int) -> str:
    return f"{networks} network{'' if networks == 1 else 's'}"


def _figures(context: RunContext, estimate: dict[str, Any], rows: Sequence[BudgetRow],
             recommendation: Recommendation, predicted: tuple[list[Prediction], str]
             ) -> dict[str, Path]:
    """Draw the report's figures; ``{file name: path}`` of those drawn."""
    from mtlgroup.report import LABELS, network_grid, plot_networks, plot_predictions, plot_tradeoff

    out, chosen = context.out, recommendation.chosen
    star = None
    if chosen is not None and chosen.total is not None and recommendation.budget is not None:
        star = (recommendation.budget, chosen.total)
    figures = {"curve.png": plot_tradeoff(
        [row.budget for row in rows],
        {f"{LABELS['chosen']} ({estimate['estimator']})": [r.test_total for r in rows],
         LABELS["all-task"]: [r.all_task_total for r in rows],
         LABELS["independent"]: [r.independent_total for r in rows]},
        out / "curve.png", title=f"{context.dataset}: test total loss by inference budget",
        baselines=[LABELS["all-task"], LABELS["independent"]],
        infeasible=[r.budget for r in rows if not r.feasible], recommended=star,
    )}
    if chosen is not None:
        grid = network_grid(context.tasks, chosen.members, chosen.served_by)
        figures["networks.png"] = plot_networks(
            context.tasks, grid, out / "networks.png",
            f"networks to train at budget {recommendation.budget:g}")
    heat_map = _heat_map(out, estimate)
    if heat_map is not None:
        figures["affinity.png"] = heat_map
    if predicted[0]:
        figures["predicted.png"] = plot_predictions(
            [(p.task, p.predicted, p.real) for p in predicted[0]], out / "predicted.png",
            f"{estimate['estimator']}: predicted vs real validation loss")
    return figures


def _heat_map(out: Path, estimate: dict[str, Any]) -> Path | None:
    """``affinity.png`` from the affinity file the estimate wrote (None if it wrote none)."""
    from mtlgroup.affinity import Affinity
    from mtlgroup.affinity.plot import plot_affinity

    if not estimate.get("affinity"):
        return None
    affinity = Affinity.from_csv(out / estimate["affinity"])
    title = ("pairwise relative performance\n(row helps column)"
             if affinity.method == "pairwise" else None)
    return plot_affinity(affinity, out / "affinity.png", title=title)


def _metrics(context: RunContext) -> dict[str, list[tuple[str, str]]]:
    """Task → its metrics and their direction (``higher is better``...)."""
    tasks = context.study.dataset_tasks
    return {t.name: [(m.name, "lower is better" if m.lower_is_better else "higher is better")
                     for m in t.metrics] for t in tasks if t.name in context.tasks}


def _write_html(context: RunContext, report: PipelineReport, estimate: dict[str, Any],
                parts: dict[str, Any]) -> Path:
    """``report.html`` from the report and its ``parts`` (the recommendation, the options,
    the validation totals, the costs' lines, the predictions and the figures' file names)."""
    from mtlgroup.report import network_grid, settings_yaml, write_html_report

    options: Options = parts["options"]
    grids = [(budget, network_grid(context.tasks, found["chosen"].members,
                                   found["chosen"].served_by))
             for budget, found in options.items() if "chosen" in found]
    return write_html_report(context.out / "report.html", {
        **parts,
        "dataset": report.dataset,
        "tasks": report.tasks,
        "estimator": report.estimator,
        "chosen_on": estimate["chosen_on"],
        "objective": report.objective["description"],
        "cost_unit": ("measured forward FLOPs" if context.cost_unit == "flops"
                      else "nominal: 1 per network, 0.5 per half-size one"),
        "rows": report.rows,
        "grids": grids,
        "metrics": _metrics(context),
        "delta_m": report.delta_m,
        "affinity_caption": estimate["affinity_caption"],
        "failures": report.failures,
        "settings_yaml": settings_yaml(report.settings) if report.settings else "",
        "versions": report.versions,
        "files": report.files,
    })


STAGES.register("report", Report())
