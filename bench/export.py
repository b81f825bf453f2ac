"""What keeping and exporting networks costs, measured side by side in one run (issue 9):

1. Inference throughput (images/s, batch 64, CPU, one thread) of a GroupedModel against
   running each chosen network separately with all its heads (what a user rebuilding them by
   hand would run) and against one all-task network scaled to the same budget.
2. Disk per kept network and the time the store spends writing weights, relative to the
   training time of the same jobs (target < 2%), on demo-sized scenes jobs.

    .venv/bin/python bench/export.py [--run runs/demo --budget 2.5]

Without ``--run`` the grouping is two three-task networks, one with an auxiliary task, and the
budget their cost (untrained weights: speed does not depend on them).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from mtlgroup.cost import CostModel, count_flops
from mtlgroup.data import load_dataset
from mtlgroup.export import GroupedModel, grouped_model, run_choice
from mtlgroup.models.network_factory import NetworkFactory
from mtlgroup.study import Study
from mtlgroup.study.plans import parse_candidate

TASKS = ["semseg", "depth", "normals", "keypoints2d", "edges2d"]
CHOICE = {"semseg+depth+normals": ["semseg", "depth", "normals"],
          "normals+keypoints2d+edges2d": ["keypoints2d", "edges2d"]}
"""Two three-task networks; the second also trains normals as an auxiliary task."""


def _images_per_second(run: nn.Module | list[nn.Module], inputs: torch.Tensor,
                       repeats: int) -> list[float]:
    modules = run if isinstance(run, list) else [run]
    rates = []
    with torch.inference_mode():
        for module in modules:
            module(inputs)  # warm-up
        for _ in range(repeats):
            started = time.perf_counter()
            for module in modules:
                module(inputs)
            rates.append(len(inputs) / (time.perf_counter() - started))
    return rates


def throughput(args: argparse.Namespace) -> None:
    data = load_dataset("scenes", n_train=64, n_val=64, n_test=64, size=32)
    tasks = data.tasks.subset(TASKS)
    factory = NetworkFactory.of("conv")
    costs = CostModel(tasks, data.input_shape, factory)
    if args.run:
        model = grouped_model(args.run, args.budget)
        choice = run_choice(args.run, args.budget)
        full = [choice.build(name, data.tasks) for name in choice.networks]
        budget = args.budget
    else:
        full = [factory.build(tasks.subset(parse_candidate(n).tasks), data.input_shape, 1.0)
                .eval() for n in CHOICE]
        model = GroupedModel(dict(zip(CHOICE, full, strict=True)),
                             {t: n for n, served in CHOICE.items() for t in served}).eval()
        # The budget this choice fits: the cost of its networks as trained (all heads).
        budget = sum(costs.cost(parse_candidate(n).tasks) for n in CHOICE)
    size = costs.size_for_cost(TASKS, budget)
    all_task = factory.build(tasks, data.input_shape, size).eval()
    inputs = torch.rand(64, *data.input_shape)
    contenders = {"grouped model": model, "chosen networks, all heads": full,
                  f"all-task network at budget {budget:g}": all_task}
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):  # interleaved: the machine's noise hits all alike
        for name, module in contenders.items():
            rates[name] += _images_per_second(module, inputs, 3)
    flops = {"grouped model": count_flops(model, data.input_shape).total,
             "chosen networks, all heads": sum(count_flops(m, data.input_shape).total
                                               for m in full),
             f"all-task network at budget {budget:g}": count_flops(all_task,
                                                                   data.input_shape).total}
    base = statistics.median(rates["grouped model"])
    print(f"inference, batch 64, CPU, {torch.get_num_threads()} thread(s), median of "
          f"{len(rates['grouped model'])}:")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"  {name:38s} {median:8.0f} images/s  ({median / base:.2f}× the grouped "
              f"model; {flops[name] / costs.reference_flops:.2f} standard networks of FLOPs)")


def weights(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        study = Study(Path(folder) / "study.sqlite", "scenes",
                      {"n_train": 1000, "n_val": 250, "n_test": 250, "size": 32}, TASKS,
                      {"epochs": 4, "batch_size": 64, "lr": 2e-3}, device="cpu")
        study.add_plan(["semseg+depth", "normals", "keypoints2d+edges2d", "depth/2"])
        study.run("inline", progress=False)
        records = study.records("done")
        written = [r.outcome.weights_record for r in records if r.outcome]
        training = sum(r.wall_time or 0.0 for r in records)
        writing = sum(w["write_seconds"] for w in written if w)
        sizes = [w["bytes"] for w in written if w]
        study.close()
    print(f"kept weights of {len(sizes)} demo-sized networks: {statistics.fmean(sizes) / 1e6:.2f}"
          f" MB each on average ({min(sizes) / 1e6:.2f}–{max(sizes) / 1e6:.2f} MB)")
    print(f"  store writing weights: {writing:.3f} s for {training:.1f} s of training "
          f"({100 * writing / training:.2f}% of it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a run directory to take the choice from")
    parser.add_argument("--budget", type=float, default=2.5, help="with --run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-weights", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    throughput(args)
    if not args.skip_weights:
        weights(args)


if __name__ == "__main__":
    main()
