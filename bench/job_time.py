"""Seconds of one demo-sized training job (semseg+depth on scenes, size 1, 4 epochs, one
thread), to compare two trees of the code side by side in one session:

    for i in 1 2; do
      PYTHONPATH=/path/to/old/src .venv/bin/python bench/job_time.py --label old
      .venv/bin/python bench/job_time.py --label new
    done
"""

from __future__ import annotations

import argparse
import time

import torch

from mtlgroup.data import load_dataset
from mtlgroup.training import TrainConfig, train_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="this tree")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("scenes", n_train=1000, n_val=250, n_test=250, size=32)
    config = TrainConfig(epochs=4, batch_size=64, lr=2e-3, device="cpu")
    train_network(["depth"], data, 0.5, TrainConfig(max_steps=2, device="cpu"))  # warm-up
    for _ in range(args.repeats):
        started = time.perf_counter()
        train_network(["semseg", "depth"], data, 1.0, config)
        print(f"{args.label}: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
