"""Strategy step overhead: seconds per training step of each update strategy against the joint
step, side by side in one run (issue 11).

Every strategy steps the same network (same initial weights) on the same batches of `scenes`
(task set 1 by default); the strategies take turns, a few steps each per round, so that a busy
machine slows all alike. Prints the median seconds per step and the ratio to `joint`.

    .venv/bin/python bench/strategies.py [--rounds 3] [--steps 3] [--strategies joint,upgrad]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from mtlgroup.data import load_dataset
from mtlgroup.models import make_network
from mtlgroup.training import available_strategies, create_strategy
from mtlgroup.training.strategy_catalog import describe_strategy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scenes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--strategies", default="all", help="comma-separated names, or all")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: no oversubscription on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # cvxpy's DPP notice (Nash-MTL) on every setup

    data = load_dataset(args.dataset, n_train=args.batch_size * 4, n_val=8, n_test=8)
    tasks = data.tasks
    if args.dataset == "scenes":
        from mtlgroup.data.scenes import TASK_SET_1

        tasks = data.tasks.subset(TASK_SET_1)
    batches = list(data.train.batches(args.batch_size, tasks=tasks.names))
    names = [n for n in (available_strategies() if args.strategies == "all"
                         else args.strategies.split(",")) if describe_strategy(n).available]
    names = ["joint"] + [n for n in names if n != "joint"]
    torch.manual_seed(0)
    initial = make_network(tasks, data.input_shape).state_dict()

    runs = {}
    for name in names:  # each strategy keeps its own network, optimizer and state
        model = make_network(tasks, data.input_shape)
        model.load_state_dict(initial)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        strategy = create_strategy(name, warmup=1) if name == "stgu" else create_strategy(name)
        strategy.setup(model, optimizer, tasks)
        strategy.step(model, batches[0], optimizer, tasks)  # first-step costs (solver setup)
        runs[name] = (model, optimizer, strategy)

    timings: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names:
            model, optimizer, strategy = runs[name]
            for k in range(args.steps):
                batch = batches[(round_ * args.steps + k) % len(batches)]
                started = time.perf_counter()
                strategy.step(model, batch, optimizer, tasks)
                timings[name].append(time.perf_counter() - started)

    joint = statistics.median(timings["joint"])
    print(f"{args.dataset}, {len(tasks)} tasks, batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}, median of {args.rounds}×{args.steps} steps "
          "per strategy (strategies alternate)")
    print(f"{'strategy':12s} {'kind':16s} {'s/step':>8s} {'× joint':>8s}")
    for name in sorted(names, key=lambda n: statistics.median(timings[n])):
        median = statistics.median(timings[name])
        print(f"{name:12s} {describe_strategy(name).kind:16s} {median:8.4f} {median / joint:8.2f}")


if __name__ == "__main__":
    main()
