"""The Standley et al. experiment on `scenes` (task set 1) or `fashion`: regret of HOA, ESA and
HOA+refine against the exhaustive optimum, and the trainings each needed.

One exhaustive study (every subset + half-size singles) gives the optimal choice; HOA (pairs
only), ESA (every candidate for 20% of the budget) and HOA+refine (HOA, then the chosen
predicted networks trained and the choice made again on their real losses, until every chosen
network is real: ``pipeline.refine``) select on their estimates and are scored on the same
real losses; the all-task and independent baselines are scaled to each baseline budget. All
runs share one store (``OUT/study.sqlite``), so no network is trained twice. Prints per budget
the validation and test totals (honest rule), each method's regret against the optimum, and
what each method spent on training (its estimate plus the networks finalize and refinement
trained in full).

    .venv/bin/python bench/standley_scenes.py --dataset scenes --out runs/standley-scenes \
        [--workers 2] [--baseline-budgets 1,2,3,5 | none]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from mtlgroup.demo import demo_settings
from mtlgroup.pipeline import BudgetRow, PipelineReport, run_pipeline
from mtlgroup.report import plot_tradeoff
from mtlgroup.selection.evaluate import score_served
from mtlgroup.selection.table import TableError
from mtlgroup.study import StudyStore

METHODS = {"exhaustive": ("exhaustive", False), "hoa": ("hoa", False), "esa": ("esa", False),
           "hoa-refine": ("hoa", True)}
"""Run directory → (estimator, refine)."""
LABELS = {"exhaustive": "optimal", "hoa": "HOA", "esa": "ESA", "hoa-refine": "HOA+refine"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("scenes", "fashion"), default="scenes")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default runs/standley-DATASET)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-budgets", default="1,2,3,5",
                        help="comma-separated, or 'none' (no baselines trained)")
    args = parser.parse_args()
    out = args.out or Path(f"runs/standley-{args.dataset}")

    store = out / "study.sqlite"
    baselines = ([] if args.baseline_budgets == "none"
                 else [float(b) for b in args.baseline_budgets.split(",")])
    reports = {}
    for method, (estimator, refine) in METHODS.items():
        settings = demo_settings(args.dataset, estimator=estimator, workers=args.workers)
        settings.pipeline.baseline_budgets = baselines
        settings.pipeline.refine = refine
        reports[method] = run_pipeline(settings, out / method, store=store,
                                       echo=lambda text: print(text, flush=True))

    rows = {m: {r.budget: r for r in reports[m].rows} for m in METHODS}
    budgets = sorted(rows["exhaustive"])
    with StudyStore(store) as opened:
        val = opened.losses("val")
        spent = {m: _spent(opened, out / m) for m in METHODS}
    totals = {"validation": {m: {b: _val_total(r, val) for b, r in rows[m].items()}
                             for m in METHODS},
              "test": {m: {b: r.test_total for b, r in rows[m].items()} for m in METHODS}}
    for split, by_method in totals.items():
        print(f"\n{split} total loss (honest rule) by budget; lower is better")
        header = ["budget", *(LABELS[m] for m in METHODS)]
        if split == "test":
            header += ["all-task", "independent"]
        print(" | ".join(f"{h:>11}" for h in header))
        for budget in budgets:
            values = [by_method[m].get(budget) for m in METHODS]
            if split == "test":
                best = rows["exhaustive"][budget]
                values += [best.all_task_total, best.independent_total]
            print(" | ".join([f"{budget:>11g}"] + [_fmt(v) for v in values]))
        for method in list(METHODS)[1:]:
            regrets = [100 * (mine - optimum) / optimum for budget in budgets
                       if (mine := by_method[method].get(budget)) is not None
                       and (optimum := by_method["exhaustive"].get(budget))]
            if regrets:
                print(f"{LABELS[method]} {split} regret vs optimal: mean "
                      f"{statistics.fmean(regrets):+.2f}%, worst {max(regrets):+.2f}% over "
                      f"{len(regrets)} feasible budgets")

    print("\ntraining each method needed (estimate + networks finalize/refinement trained in full)")
    for method in METHODS:
        full, short, seconds = spent[method]
        print(f"  {LABELS[method]:11s} {full:3d} full + {short:3d} short (20%) trainings, "
              f"{seconds:7.0f} s of training")
        refinement = reports[method].refinement
        if refinement:
            print(f"  {'':11s} refinement: {refinement['stopped']}; "
                  f"{len(refinement['trained'])} predicted networks trained")
    _errors(reports["hoa-refine"])

    curves = {f"{LABELS[m]}{' (exhaustive)' if m == 'exhaustive' else ''}":
              [totals["test"][m].get(b) for b in budgets] for m in METHODS}
    curves["one all-task network"] = [rows["exhaustive"][b].all_task_total for b in budgets]
    curves["independent networks"] = [rows["exhaustive"][b].independent_total for b in budgets]
    path = plot_tradeoff(budgets, curves, out / f"standley_{args.dataset}.png",
                         title=f"{args.dataset}: Standley et al., HOA, ESA and HOA+refine")
    print(f"\nplot: {path}")


def _val_total(row: BudgetRow, val: dict[str, dict[str, float]]) -> float | None:
    """A row's validation total with its served networks' real losses (None: not all real)."""
    if not row.feasible:
        return None
    try:
        return score_served(row.served_by, val, source="validation losses").total
    except TableError:
        return None


def _spent(store: StudyStore, run: Path) -> tuple[int, int, float]:
    """(full trainings, short ESA trainings, seconds of training) of one run's estimate and
    finalize stages (the baselines are the same for every method and left out); a network
    trained by another run of the shared store counts for each run that needed it."""
    keys = {k for stage in ("estimate", "finalize")
            for k in json.loads((run / "stages" / f"{stage}.json").read_text())["keys"]}
    records = [r for r in store.jobs("done", keys=sorted(keys)) if r.is_network]
    full = sum(r.candidate.is_full_budget for r in records)
    return full, len(records) - full, sum(r.wall_time or 0.0 for r in records)


def _errors(report: PipelineReport) -> None:
    """HOA's mean absolute relative error per task, over the predicted networks trained."""
    if report.prediction_errors:
        listed = ", ".join(f"{task} {100 * error:.1f}%"
                           for task, error in report.prediction_errors.items())
        print(f"\nHOA prediction error (mean |predicted - real| / real, "
              f"{len({p['network'] for p in report.predictions})} networks): {listed}")


def _fmt(value: float | None) -> str:
    return f"{'–':>11}" if value is None else f"{value:>11.4f}"


if __name__ == "__main__":
    main()
