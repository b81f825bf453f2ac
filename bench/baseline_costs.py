"""How close the baselines' costs land under their budgets (ALGORITHMS §7), FLOPs only.

Usage: .venv/bin/python bench/baseline_costs.py [--datasets scenes,fashion] [--budgets 1:5:1]

For each demo dataset (its tasks, input shape and the default ``conv`` family) and each budget
``b``: the size the baselines are scaled to (:func:`mtlgroup.pipeline.stages.scaled_size`), the
all-task network's cost over ``b`` and the independent networks' total cost over ``b``
(1.000 = exactly on budget; never above). Counted on the meta device: nothing is trained. Then
the number of drops of whole-network cost over a grid of sizes (0 when cost is monotone).
"""

from __future__ import annotations

import argparse
import time

from mtlgroup.budgets import parse_budgets
from mtlgroup.cost import CostModel
from mtlgroup.data import cached_dataset
from mtlgroup.demo import demo_settings
from mtlgroup.pipeline.stages import scaled_size

GRID = [round(0.05 * k, 2) for k in range(1, 61)]
"""Sizes 0.05..3 at which whole-network cost is checked to never drop."""


def cost_model(dataset: str) -> CostModel:
    settings = demo_settings(dataset, quick=True)
    data = cached_dataset(settings.data.dataset, settings.data.loader_options())[0]
    return CostModel(data.tasks.subset(settings.data.task_names()), data.input_shape,
                     settings.model)


def drops(costs: CostModel, tasks: list[str]) -> int:
    values = [costs.cost(tasks, size) for size in GRID]
    return sum(b < a for a, b in zip(values, values[1:], strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="scenes,fashion")
    parser.add_argument("--budgets", default="1:5:1")
    args = parser.parse_args()
    budgets = parse_budgets(args.budgets)
    print("dataset  budget  all-task size  all-task cost/b  single size  independent cost/b")
    for dataset in args.datasets.split(","):
        start = time.perf_counter()
        costs = cost_model(dataset)
        tasks = list(costs.tasks.names)
        for budget in budgets:
            size, _ = scaled_size(costs, tasks, budget)
            singles = [scaled_size(costs, [t], budget / len(tasks))[0] for t in tasks]
            spent = sum(costs.cost([t], s) for t, s in zip(tasks, singles, strict=True))
            print(f"{dataset:8} {budget:6g}  {size:13.3f}  {costs.cost(tasks, size) / budget:15.3f}"
                  f"  {min(singles):5.3f}-{max(singles):5.3f}  {spent / budget:18.3f}")
        print(f"{dataset}: whole-network cost drops over sizes {GRID[0]}..{GRID[-1]}: "
              f"all-task {drops(costs, tasks)}, {tasks[0]} alone {drops(costs, tasks[:1])} "
              f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
