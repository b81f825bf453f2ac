"""Encoder size vs FLOPs and CPU latency, measured side by side in one run.

Usage: .venv/bin/python bench/bench_models_cost.py [--input 3,32,32] [--batch 32] [--repeats 20]

Prints, per encoder size: the conv encoder's widths, forward MFLOPs per sample of the encoder and
of the standard dense single-task network (encoder + a 1-channel dense decoder), the FLOP ratio
to size 1, and the median CPU latency of one forward of a batch with its ratio to size 1. Sizes
are timed round-robin (one warm-up and one timed forward each per round) so that load from other
processes falls on all sizes alike.
Then the time taken to count the FLOPs of a 4-task network on the meta device vs on the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mtlgroup.cost import count_flops, measure_latency
from mtlgroup.models import make_network
from mtlgroup.tasks import Task

SIZES = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default="3,32,32", help="input shape C,H,W")
    parser.add_argument("--batch", type=int, default=32, help="batch size for latency")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.input.split(","))
    torch.set_num_threads(max(1, torch.get_num_threads()))
    task = Task("depth", "dense", 1)

    torch.manual_seed(0)
    nets = {size: make_network([task], shape, size=size) for size in SIZES}
    samples: dict[float, list[float]] = {size: [] for size in SIZES}
    for _ in range(args.repeats):
        for size, net in nets.items():
            samples[size].append(
                measure_latency(net, shape, repeats=1, warmup=1, batch_size=args.batch)
            )
    rows = []
    for size, net in nets.items():
        flops = count_flops(net, shape)
        latency = statistics.median(samples[size])
        rows.append((size, net.encoder.widths, flops.encoder, flops.total, latency))
    base = next(r for r in rows if r[0] == 1.0)
    print(f"input {shape}, latency batch {args.batch}, {torch.get_num_threads()} CPU threads")
    print(
        "| size | widths | encoder MFLOPs | network MFLOPs | FLOPs / size-1 | "
        "latency ms | latency / size-1 |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size, widths, enc, total, lat in rows:
        print(
            f"| {size:g} | {widths} | {enc / 1e6:.2f} | {total / 1e6:.2f} | "
            f"{total / base[3]:.3f} | {lat * 1e3:.2f} | {lat / base[4]:.2f} |"
        )

    tasks = [
        Task("a", "dense", 1),
        Task("b", "dense", 3),
        Task("c", "label", 10),
        Task("d", "vector", 4),
    ]
    net = make_network(tasks, shape)
    timings = {}
    for device in ("meta", "cpu"):
        start = time.perf_counter()
        for _ in range(5):
            count_flops(net, shape, device=device)
        timings[device] = (time.perf_counter() - start) / 5
    print(
        f"\ncount_flops of a 4-task network: meta {timings['meta'] * 1e3:.1f} ms, "
        f"cpu {timings['cpu'] * 1e3:.1f} ms (cpu/meta {timings['cpu'] / timings['meta']:.2f})"
    )


if __name__ == "__main__":
    main()
