"""Selection at scale (ALGORITHMS §1.6; figures in docs/RESULTS.md): every subset a candidate,
never listed, solved by column generation with a proven gap.

1. n = 10 / 15 / 20 tasks, every subset with HOA scores (the pair table of
   ``bench/selection.py``), budget n/2: colgen on the implicit problem, and MILP on the listed
   one where listing fits (n ≤ 15);
2. n = 27: a pair table plus a few thousand listed larger networks, budget 13.5;
3. affinity grouping, n = 27, at most 5 groups.

Each case runs in its own process, so its peak memory (``ru_maxrss``) is its own.

    .venv/bin/python bench/selection_scale.py [--sizes 10,15,20] [--listed 2800]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mtlgroup.selection import LossTable, problem_from_affinity, solve, solve_milp  # noqa: E402
from mtlgroup.selection.approx import hoa_problem  # noqa: E402
from selection import synthetic_pair_table  # noqa: E402  (the bench's own pair generator)

MILP_UP_TO = 15
"""Largest n whose listed problem the MILP is run on (2^15 subsets; 2^20 takes minutes)."""


def with_listed_groups(table: LossTable, count: int, seed: int = 1) -> LossTable:
    """``table`` plus ``count`` listed networks of 3–7 tasks with their own losses (a study that
    trained some larger groups)."""
    rng = np.random.default_rng(seed)
    n = len(table.tasks)
    groups: set[tuple[int, ...]] = set()
    while len(groups) < count:
        size = int(rng.integers(3, 8))
        groups.add(tuple(sorted(int(j) for j in rng.choice(n, size, replace=False))))
    rows = list(table.rows)
    for group in sorted(groups):
        name = "+".join(table.tasks[j] for j in group)
        rows += [(name, 1.0, table.tasks[j], float(rng.uniform(0.4, 1.5))) for j in group]
    return LossTable.from_rows(rows, source=f"{table.source} + {count} listed groups")


def case(kind: str, n: int, listed: int) -> dict[str, object]:
    """One measurement (run in a child process)."""
    start = time.perf_counter()
    if kind == "affinity":
        matrix = np.random.default_rng(n).normal(0, 0.1, (n, n))
        problem = problem_from_affinity([f"t{i}" for i in range(n)], matrix, max_groups=5)
        solution = solve(problem, "colgen")
    else:
        table = synthetic_pair_table(n)
        if listed:
            table = with_listed_groups(table, listed)
        implicit = hoa_problem(table, budget=13.5 if listed else n / 2)
        solution = solve_milp(implicit.expand()) if kind == "milp" else solve(implicit, "colgen")
    return {"seconds": time.perf_counter() - start, "objective": solution.objective,
            "gap": solution.gap, "networks": len(solution.networks),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(kind: str, n: int, listed: int = 0) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--case", f"{kind},{n},{listed}"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,15,20")
    parser.add_argument("--listed", type=int, default=2800)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        kind, n, listed = args.case.split(",")
        print(json.dumps(case(kind, int(n), int(listed))))
        return
    runs = []
    for n in (int(s) for s in args.sizes.split(",")):
        for kind in ("colgen", "milp") if n <= MILP_UP_TO else ("colgen",):
            runs.append((f"HOA, all subsets, budget {n / 2:g}", n, kind, 0))
    runs.append((f"HOA + {args.listed} listed groups, budget 13.5", 27, "colgen", args.listed))
    runs.append(("affinity grouping, k = 5", 27, "affinity", 0))
    print("| problem | n | subsets | solver | seconds | peak MB | objective | proven gap |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for label, n, kind, listed in runs:
        found = measure(kind, n, listed)
        # the subsets the families describe: >= 3 tasks for HOA, >= 2 for grouping
        subsets = 2**n - 1 - n - (math.comb(n, 2) if kind != "affinity" else 0)
        print(f"| {label} | {n} | {subsets:.3g} | {'colgen' if kind != 'milp' else 'milp'} | "
              f"{found['seconds']:.2f} | {found['peak_mb']:.0f} | {found['objective']:.6g} | "
              f"{found['gap']:.3g} |", flush=True)


if __name__ == "__main__":
    main()
