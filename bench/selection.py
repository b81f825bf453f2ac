"""Network selection timings, measured side by side in one run (figures in docs/RESULTS.md).

1. Standley et al. setting 1: all 27 selections (optimal, HOA, ESA × budgets 1..5 by 0.5), each
   method's 9 budgets in one sweep (``solve_budgets``), with milp, dp, frontier and auto, against
   the 0.7 CPU-seconds of Standley's C++ search for 108 selections.
2. Scaling: n tasks, every subset as a candidate (plus half-size singles), losses from a
   generator with pairwise structure (helpful tasks, receptive tasks, noise) and HOA-predicted
   higher-order networks, budget n/2: MILP vs MILP without reduced-cost fixing vs branch and
   bound vs partition DP vs brute force, each under a time limit.
3. Affinity grouping: 9 tasks, k = 2..5 groups: MILP vs partition DP.
4. auto's crossover: frontier vs MILP by number of tasks, for one budget and a sweep of nine.

    .venv/bin/python bench/selection.py [--sizes 5,8,10,12,15] [--limit 60] [--only anchors]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mtlgroup.selection import (
    LossTable,
    SelectionProblem,
    SolverTimeLimit,
    problem_from_affinity,
    problem_from_table,
    read_loss_table,
    solve,
    solve_budgets,
    solve_milp,
)
from mtlgroup.selection.solvers import choose_solver

ANCHORS = Path(__file__).resolve().parents[1] / "tests" / "data" / "standley2020"


def synthetic_pair_table(n: int, seed: int = 0) -> LossTable:
    """Half-size singles, singles and pairs of ``n`` tasks. ``L({t,u}, t) = base_t·(1 − g_tu)``
    with ``g_tu = helps_u + receives_t + noise``; half-size singles lose 0–10%."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.5, 1.5, n)
    gain = rng.normal(0, 0.05, n)[None, :] + rng.normal(0, 0.03, n)[:, None]
    gain = gain + rng.normal(0, 0.05, (n, n))
    names = [f"t{i}" for i in range(n)]
    rows = [(f"{t}/2", 0.5, t, base[i] * (1 + rng.uniform(0, 0.1))) for i, t in enumerate(names)]
    rows += [(t, 1.0, t, base[i]) for i, t in enumerate(names)]
    for i, j in itertools.combinations(range(n), 2):
        pair = f"{names[i]}+{names[j]}"
        rows += [(pair, 1.0, names[i], base[i] * (1 - gain[i, j])),
                 (pair, 1.0, names[j], base[j] * (1 - gain[j, i]))]
    return LossTable.from_rows(rows, source=f"synthetic n={n}")


def timed(call: Callable[[], object], limit: float) -> tuple[float | None, object]:
    """Seconds (``None`` past ``limit``) and the result."""
    start = time.perf_counter()
    try:
        result = call()
    except SolverTimeLimit:
        return None, None
    return time.perf_counter() - start, result


CPP_108_SECONDS = 0.7
"""Standley et al.'s compiled C++ search: all 108 selections of the paper's four settings (3
methods x 9 budgets x 4 settings) in 0.7 CPU-seconds, process included (issue 10)."""


def anchors(repeats: int = 5) -> None:
    """The 27 selections of setting 1 with each solver, table building included (HOA's and
    ESA's tables, the three problems, their numeric views), in CPU seconds, median of
    ``repeats`` runs. Only setting 1's tables are public, so "108" is 4 x these 27."""
    val, early = (read_loss_table(ANCHORS / f"setting1_{s}.csv") for s in ("val", "early"))
    budgets = [1 + 0.5 * i for i in range(9)]
    print("## Standley setting 1: 27 selections (3 methods x 9 budgets), CPU seconds, "
          f"median of {repeats}")
    print("(108 = 4 x 27: the other three settings' tables are not available; "
          f"C++ = {CPP_108_SECONDS} s for 108)")
    print("| solver | build | solve | total | per selection (ms) | 108-equivalent | "
          "C++ / 108-equivalent |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    reference: list[float] | None = None
    for solver in ("milp", "dp", "frontier", "auto"):
        runs = []
        for _ in range(repeats):
            start = time.process_time()
            problems = [problem_from_table(val, budget=budgets[0], approx=a, early=early)
                        for a in (None, "hoa", "esa")]
            for problem in problems:
                _ = problem.matrix
            built = time.process_time() - start
            found = [s for p in problems for s in solve_budgets(p, budgets, solver)]
            runs.append((built, time.process_time() - start - built, found))
        built, solved = (float(np.median([r[i] for r in runs])) for i in (0, 1))
        objectives = [round(s.objective, 9) for s in runs[0][2]]  # type: ignore[union-attr]
        assert reference is None or objectives == reference, solver  # every solver agrees
        reference = objectives
        total = built + solved
        print(f"| {solver} | {built:.4f} | {solved:.4f} | {total:.4f} | {1000 * total / 27:.2f} | "
              f"{4 * total:.3f} | {CPP_108_SECONDS / (4 * total):.1f}x |")
    print()


def scaling(sizes: list[int], limit: float) -> None:
    solvers: dict[str, Callable[[SelectionProblem], object]] = {
        "milp": lambda p: solve_milp(p, time_limit=limit),
        "milp, no fixing": lambda p: solve_milp(p, time_limit=limit, reduce=False),
        "bnb": lambda p: solve(p, "bnb", time_limit=limit),
        "dp": lambda p: solve(p, "dp", time_limit=limit),
        "brute": lambda p: solve(p, "brute", time_limit=limit),
    }
    print(f"## Scaling: all subsets + half-size singles, HOA-predicted, budget n/2 "
          f"(seconds; '>' = over the {limit:g} s limit)")
    print("| n | candidates | build | " + " | ".join(solvers) + " | "
          + " | ".join(f"{s} / milp" for s in solvers if s != "milp") + " |")
    print("|---:" * (3 + 2 * len(solvers) - 1) + "|")
    for n in sizes:
        start = time.perf_counter()
        problem = problem_from_table(synthetic_pair_table(n), budget=n / 2, approx="hoa")
        _ = problem.matrix
        built = time.perf_counter() - start
        times: dict[str, float | None] = {}
        objectives = {}
        for name, call in solvers.items():
            if name == "brute" and n > 5 or name == "dp" and n > 12:
                continue  # hopeless: C(2^n + n, n) sets, or 3^n states
            times[name], solution = timed(lambda c=call, p=problem: c(p), limit)
            if solution is not None:
                objectives[name] = round(solution.objective, 9)  # type: ignore[attr-defined]
        assert len(set(objectives.values())) <= 1, objectives  # every exact solver agrees
        cells = [_seconds(times, s, limit) for s in solvers]
        ratios = [_ratio(times, s, limit) for s in solvers if s != "milp"]
        print(f"| {n} | {len(problem.candidates)} | {built:.2f} | " + " | ".join(cells) + " | "
              + " | ".join(ratios) + " |", flush=True)
    print()


def _seconds(times: dict[str, float | None], solver: str, limit: float) -> str:
    if solver not in times:
        return "not run"
    found = times[solver]
    return f"{found:.2f}" if found is not None else f">{limit:g}"


def _ratio(times: dict[str, float | None], solver: str, limit: float) -> str:
    base = times.get("milp")
    if solver not in times or base is None:
        return "-"
    found = times[solver]
    return f"{found / base:.1f}" if found is not None else f">{limit / base:.0f}"


def grouping() -> None:
    rng = np.random.default_rng(0)
    tasks = tuple(f"t{i}" for i in range(9))
    matrix = rng.normal(0.0, 0.1, (9, 9))
    print("## Affinity grouping, 9 tasks (502 groups), seconds")
    print("| k | milp | dp | dp / milp |")
    print("|---:|---:|---:|---:|")
    for k in range(2, 6):
        problem = problem_from_affinity(tasks, matrix, max_groups=k)
        milp_time, milp = timed(lambda p=problem: solve(p, "milp"), 60)
        dp_time, dp = timed(lambda p=problem: solve(p, "dp"), 60)
        assert abs(milp.objective - dp.objective) < 1e-9  # type: ignore[attr-defined]
        print(f"| {k} | {milp_time:.3f} | {dp_time:.3f} | {dp_time / milp_time:.1f} |")
    print()


def crossover(sizes: list[int]) -> None:
    """Where ``auto`` switches from the frontier to the MILP: one budget and a sweep of nine,
    all subsets + half-size singles with HOA scores (as section 2)."""
    budgets = [1 + 0.5 * i for i in range(9)]
    print("## auto's crossover: CPU seconds, one budget (n/2) and a sweep of 9 (1..5 by 0.5)")
    print("| n | candidates | frontier, 1 | milp, 1 | frontier, 9 | milp, 9 | auto picks (1 / 9) |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for n in sizes:
        problem = problem_from_table(synthetic_pair_table(n), budget=n / 2, approx="hoa")
        _ = problem.matrix
        cells = []
        for chosen in ([n / 2], budgets):
            for solver in ("frontier", "milp"):
                start = time.process_time()
                solve_budgets(problem, chosen, solver)
                cells.append(f"{time.process_time() - start:.3f}")
        picks = f"{choose_solver(problem, 1)} / {choose_solver(problem, 9)}"
        print(f"| {n} | {len(problem.candidates)} | " + " | ".join(cells) + f" | {picks} |",
              flush=True)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,8,10,12,15")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--crossover", default="4,6,7,8,9,10", help="sizes of section 4")
    parser.add_argument("--only", choices=("anchors", "scaling", "grouping", "crossover"),
                        help="run one section")
    args = parser.parse_args()
    with open(ANCHORS / "setting1_expected.csv") as handle:  # fail early without the data
        assert len(list(csv.DictReader(handle))) == 27
    warm = problem_from_table(read_loss_table(ANCHORS / "setting1_val.csv"), budget=1.0)
    for solver in ("milp", "dp", "frontier"):  # imports (scipy) and first calls are not timed
        solve(warm, solver)
    if args.only in (None, "anchors"):
        anchors()
    if args.only in (None, "scaling"):
        scaling([int(s) for s in args.sizes.split(",")], args.limit)
    if args.only in (None, "grouping"):
        grouping()
    if args.only in (None, "crossover"):
        crossover([int(s) for s in args.crossover.split(",")])


if __name__ == "__main__":
    main()
