"""Objectives: raw or relative? Measured side by side in one run (figures in docs/RESULTS.md,
"Objectives: raw or relative").

For each study store with every subset of its tasks trained (and the half-size singles), at
every budget 1..5 by 0.5 that is feasible: select on the validation table with the ``raw`` and
with the ``relative`` objective (ALGORITHMS §1.5), then score the chosen networks on the test
split (honest rule: each task read from the network chosen on validation to serve it) three
ways:

- raw test total: the sum of the served test losses (the paper's figure);
- relative test total: each served test loss over the test loss of the task's reference
  single-task network (the one the validation selection divided by); n means "as good as
  training every task alone at full size";
- Δm (§6) on each task's first metric (its loss where the task has none) against the task's
  standard single-task network, in percent, higher is better.

Costs are the paper's (``nominal``: 1 per network, 0.5 per half-size single) or measured
FLOPs (``flops``: each network's FLOPs over the mean FLOPs of the standard singles). A pair of
loss tables (``--tables VAL.csv TEST.csv``, e.g. the paper's setting 1) is measured the same
way, with Δm on the losses (no metrics in a loss table).

    .venv/bin/python bench/objectives.py runs/regret-scenes/study.sqlite \\
        runs/regret-fashion/study.sqlite [--cost nominal|flops] \\
        [--tables VAL.csv TEST.csv]   # e.g. tests/data/standley2020/setting1_{val,test}.csv
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from mtlgroup.data.registry import dataset_tasks
from mtlgroup.selection import (
    InfeasibleError,
    LossTable,
    evaluate,
    problem_from_table,
    read_loss_table,
    solve,
)
from mtlgroup.selection.objectives import Objective
from mtlgroup.study.store import StudyStore

BUDGETS = [1.0 + 0.5 * i for i in range(9)]
OBJECTIVES = (Objective("raw"), Objective("relative"))


@dataclass(frozen=True)
class Setting:
    """One store's tables: validation and test losses, test metrics, their directions."""

    name: str
    tasks: tuple[str, ...]
    val: LossTable
    test: LossTable
    metric: dict[str, dict[str, float]]  # network → task → the task's first metric (test)
    metric_name: dict[str, tuple[str, bool]]  # task → (metric, lower is better)
    subsets: tuple[int, int]  # full-size subsets trained, of 2^n − 1


def table_setting(val_path: Path, test_path: Path) -> Setting:
    """Two loss tables; Δm on the test losses."""
    val, test = read_loss_table(val_path), read_loss_table(test_path)
    losses = {n: dict(found) for n, (_, found) in test.by_network().items()}
    full = sum(1 for n in val.networks if "/" not in n)
    return Setting(name=f"{val_path.name} ({len(val.tasks)} tasks)", tasks=val.tasks, val=val,
                   test=test, metric=losses, metric_name=dict.fromkeys(val.tasks, ("loss", True)),
                   subsets=(full, 2 ** len(val.tasks) - 1))


def read_setting(path: Path, cost: str) -> Setting:
    """The done full-budget networks of the store at ``path`` (one setting)."""
    with StudyStore(path) as store:
        done = [r for r in store.jobs("done") if r.is_network and r.candidate.is_full_budget]
        val, test = store.losses("val"), store.losses("test")
    networks = [n for n in val if n in test]
    dataset = done[0].spec.dataset
    tasks = tuple(dict.fromkeys(t for n in networks for t in val[n]))
    by_name = {r.network: r for r in done}
    if cost == "nominal":
        costs = {n: float(by_name[n].candidate.size) for n in networks}
    else:  # the cost unit: the mean FLOPs of the standard single-task networks (§7)
        unit = statistics.fmean(by_name[t].flops for t in tasks)
        costs = {n: by_name[n].flops / unit for n in networks}
    known = {t.name: t for t in dataset_tasks(dataset)}
    metric_name = {}
    for t in tasks:
        first = known[t].metrics[0] if known[t].metrics else None
        metric_name[t] = (first.name, first.lower_is_better) if first else ("loss", True)
    metric = {n: {t: by_name[n].outcome.scores["test"][t][metric_name[t][0]]
                  for t in val[n]} for n in networks}
    full = sum(1 for n in networks if "/" not in n)
    return Setting(
        name=f"{dataset} ({len(tasks)} tasks)", tasks=tasks,
        val=LossTable.from_losses({n: val[n] for n in networks}, costs, f"{path} (val)"),
        test=LossTable.from_losses({n: test[n] for n in networks}, costs, f"{path} (test)"),
        metric=metric, metric_name=metric_name, subsets=(full, 2 ** len(tasks) - 1),
    )


@dataclass(frozen=True)
class Scored:
    """One selection scored on test."""

    networks: tuple[str, ...]
    raw: float
    relative: float
    delta_m: float


def delta_m(setting: Setting, served_by: dict[str, str]) -> float:
    """Δm (§6) of the served tasks' test metrics against each task's single network ``t``."""
    terms = []
    for task, network in served_by.items():
        value, single = setting.metric[network][task], setting.metric[task][task]
        sign = -1.0 if setting.metric_name[task][1] else 1.0
        terms.append(sign * (value - single) / single * 100)
    return statistics.fmean(terms)


def select_and_score(setting: Setting, objective: Objective, budget: float,
                     val: LossTable | None = None) -> Scored | None:
    """Select on ``val`` (default: the setting's) with ``objective``; score on the test split."""
    relative = Objective("relative")
    references = relative.references(setting.val)
    try:
        solution = solve(problem_from_table(objective.transform(val or setting.val),
                                            budget=budget))
    except InfeasibleError:
        return None
    return Scored(
        networks=tuple(solution.names),
        raw=evaluate(solution, setting.test).total,
        relative=evaluate(solution, relative.transform(setting.test, references)).total,
        delta_m=delta_m(setting, dict(solution.served_by)),
    )


def in_other_unit(table: LossTable, task: str, factor: float) -> LossTable:
    """``table`` with ``task``'s losses multiplied by ``factor`` (e.g. metres → centimetres)."""
    return LossTable.from_rows([(r.network, r.cost, r.task,
                                 r.loss * factor if r.task == task else r.loss)
                                for r in table.rows], f"{table.source}, {task} ×{factor:g}")


def report(setting: Setting, factor: float) -> None:
    trained, total = setting.subsets
    note = "" if trained == total else f" — PARTIAL: {trained} of {total} subsets trained"
    metrics = ", ".join(f"{t}: {m}" for t, (m, _) in setting.metric_name.items())
    # the task with the smallest loss of its own, in a unit `factor` times smaller
    singles = setting.val.by_network()
    small = min(setting.tasks, key=lambda t: singles[t][1][t])
    choosers = [("raw", Objective("raw"), None), ("relative", Objective("relative"), None),
                (f"raw, {small} ×{factor:g}", Objective("raw"),
                 in_other_unit(setting.val, small, factor))]
    print(f"\n## {setting.name}{note}\nΔm on: {metrics}")
    print(f"{'':>6} | " + " | ".join(f"{name:<29}" for name, _, _ in choosers))
    print(f"{'budget':>6} | " + " | ".join(f"{'test raw':>10} {'test rel':>10} {'Δm %':>7}"
                                             for _ in choosers) + " | relative = raw?")
    results: list[list[Scored]] = []
    for budget in BUDGETS:
        found = [select_and_score(setting, o, budget, val) for _, o, val in choosers]
        if any(f is None for f in found):
            print(f"{budget:>6g} | infeasible")
            continue
        scored = [f for f in found if f is not None]
        same = set(scored[0].networks) == set(scored[1].networks)
        print(f"{budget:>6g} | " + " | ".join(f"{f.raw:>10.5g} {f.relative:>10.5g} "
                                              f"{f.delta_m:>7.2f}" for f in scored)
              + f" | {'yes' if same else 'no: ' + ' '.join(scored[1].networks)}")
        results.append(scored)
    if not results:
        return
    means = [Scored((), *(statistics.fmean(getattr(r[i], key) for r in results)
                          for key in ("raw", "relative", "delta_m")))
             for i in range(len(choosers))]
    print(f"{'mean':>6} | " + " | ".join(f"{m.raw:>10.5g} {m.relative:>10.5g} "
                                        f"{m.delta_m:>7.2f}" for m in means))
    differ = sum(set(r[0].networks) != set(r[1].networks) for r in results)
    print(f"relative's choice differs from raw's at {differ} of {len(results)} feasible budgets")
    assert all(math.isfinite(m.raw) for m in means)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="*", type=Path)
    parser.add_argument("--cost", choices=("nominal", "flops"), default="nominal")
    parser.add_argument("--factor", type=float, default=100.0,
                        help="the unit change of the third chooser (default ×100)")
    parser.add_argument("--tables", nargs=2, type=Path, action="append", default=[],
                        metavar=("VAL.csv", "TEST.csv"))
    args = parser.parse_args()
    print(f"costs: {args.cost} (stores); selection on validation (every listed network a "
          "candidate, exact), scores on test (honest rule)")
    for val, test in args.tables:
        report(table_setting(val, test), args.factor)
    for path in args.stores:
        report(read_setting(path, args.cost), args.factor)


if __name__ == "__main__":
    main()
