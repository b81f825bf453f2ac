"""Trainer overhead: samples/s of `Trainer.fit` against a minimal hand-written PyTorch loop.

Both train the same network (same initial weights) on the same data with the same batch size and
optimizer, and both score the final weights on val and test once; the runs alternate so that a
busy machine slows both alike. Prints samples/s of each and the ratio (target: overhead <= 5%).

    .venv/bin/python bench/train_overhead.py [--dataset scenes] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mtlgroup.data import load_dataset
from mtlgroup.models import make_network
from mtlgroup.training import TrainConfig, Trainer, evaluate, task_losses


def hand_written_loop(model, data, tasks, epochs: int, batch_size: int, lr: float) -> None:
    """What a user would write by hand: shuffle, forward, summed loss, backward, step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for batch in data.train.batches(batch_size, True, generator, tasks.names):
            optimizer.zero_grad(set_to_none=True)
            losses = task_losses(model(batch.inputs), batch, tasks)
            sum(losses.values()).backward()
            optimizer.step()
    evaluate(model, data.val, tasks)
    evaluate(model, data.test, tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scenes")
    parser.add_argument("--n-train", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: no oversubscription on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_dataset(args.dataset, n_train=args.n_train, n_val=256, n_test=256)
    tasks = data.tasks
    if args.dataset == "scenes":
        from mtlgroup.data.scenes import TASK_SET_1

        tasks = data.tasks.subset(TASK_SET_1)
    torch.manual_seed(0)
    initial = make_network(tasks, data.input_shape).state_dict()
    steps = args.epochs * -(-len(data.train) // args.batch_size)
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, eval_every=steps,
        early_fraction=None, device="cpu", progress=False,
    )

    def fresh_model():
        model = make_network(tasks, data.input_shape)
        model.load_state_dict(initial)
        return model

    samples = args.epochs * len(data.train)
    timings: dict[str, list[float]] = {"hand-written loop": [], "Trainer.fit": []}
    for _ in range(args.repeats):
        for name in timings:  # alternate, so both see the same machine load
            model = fresh_model()
            started = time.perf_counter()
            if name == "Trainer.fit":
                Trainer(config).fit(model, data, tasks.names)
            else:
                hand_written_loop(model, data, tasks, args.epochs, args.batch_size, 1e-3)
            timings[name].append(time.perf_counter() - started)

    rates = {name: samples / statistics.median(t) for name, t in timings.items()}
    print(f"{len(tasks)} tasks, {samples} training samples per run, batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}, median of {args.repeats} alternated runs")
    for name, rate in rates.items():
        print(f"  {name:18s} {rate:8.1f} samples/s")
    ratio = rates["hand-written loop"] / rates["Trainer.fit"]
    print(f"trainer time / hand-written time = {ratio:.3f} (overhead {100 * (ratio - 1):+.1f}%)")


if __name__ == "__main__":
    main()
