"""The Standley et al. experiment on `scenes` (task set 1, 32x32, a fixed small budget per network).

One exhaustive study (every subset + half-size singles) gives the optimal curve; HOA (pairs only)
and ESA (every candidate for 20% of the budget) select on their approximations and are scored on
the same real test losses; the all-task and independent baselines are scaled to each budget. All
runs share one store, so no network is trained twice. Prints the test totals per budget, each
method's regret against the optimum, and what each method spent on training.

    .venv/bin/python bench/standley_scenes.py --out runs/standley-scenes [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from mtlgroup.demo import demo_settings
from mtlgroup.pipeline import STUDY_PLAN, run_pipeline
from mtlgroup.report import plot_tradeoff
from mtlgroup.study import StudyStore, plan_candidates

METHODS = ("exhaustive", "hoa", "esa")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/standley-scenes"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-budgets", default="1,2,3,5")
    args = parser.parse_args()

    store = args.out / "study.sqlite"
    reports = {}
    for method in METHODS:
        settings = demo_settings("scenes", estimator=method, workers=args.workers)
        settings.pipeline.baseline_budgets = [float(b) for b in args.baseline_budgets.split(",")]
        reports[method] = run_pipeline(settings, args.out / method, store=store,
                                       echo=lambda text: print(text, flush=True))

    rows = {m: {r.budget: r for r in reports[m].rows} for m in METHODS}
    budgets = sorted(rows["exhaustive"])
    print("\ntest total loss (honest rule) by budget; lower is better")
    header = ["budget", "optimal", "HOA", "ESA", "all-task", "independent"]
    print(" | ".join(f"{h:>11}" for h in header))
    regrets: dict[str, list[float]] = {"hoa": [], "esa": []}
    for budget in budgets:
        best = rows["exhaustive"][budget]
        values = [best.test_total, rows["hoa"][budget].test_total, rows["esa"][budget].test_total,
                  best.all_task_total, best.independent_total]
        print(" | ".join([f"{budget:>11g}"] + [_fmt(v) for v in values]))
        for method in regrets:
            mine = rows[method][budget].test_total
            if mine is not None and best.test_total:
                regrets[method].append(100 * (mine - best.test_total) / best.test_total)
    for method, values in regrets.items():
        if values:
            print(f"{method.upper()} regret vs optimal: mean {statistics.fmean(values):+.2f}%, "
                  f"worst {max(values):+.2f}% over {len(values)} feasible budgets")

    print("\ntraining spent on the estimate (before finalize and baselines)")
    tasks = reports["exhaustive"].tasks
    with StudyStore(store) as opened:
        done = opened.jobs("done")
        for method in METHODS:
            planned = {c for c in plan_candidates(STUDY_PLAN[method], tasks)}
            used = [r for r in done if r.candidate in planned]
            seconds = sum(r.wall_time or 0.0 for r in used)
            print(f"  {method:10s} {len(used):3d} trainings, {seconds:7.0f} s of training")

    curves = {"optimal (exhaustive)": [rows["exhaustive"][b].test_total for b in budgets],
              "HOA": [rows["hoa"][b].test_total for b in budgets],
              "ESA": [rows["esa"][b].test_total for b in budgets],
              "one all-task network": [rows["exhaustive"][b].all_task_total for b in budgets],
              "independent networks": [rows["exhaustive"][b].independent_total for b in budgets]}
    path = plot_tradeoff(budgets, curves, args.out / "standley_scenes.png",
                         title="scenes task set 1: Standley et al. on procedural scenes")
    print(f"\nplot: {path}")


def _fmt(value: float | None) -> str:
    return f"{'–':>11}" if value is None else f"{value:>11.4f}"


if __name__ == "__main__":
    main()
