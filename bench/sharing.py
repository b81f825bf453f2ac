"""Computation sharing between single-task ViTs, measured (issue 12, docs/RESULTS.md).

On ``scenes`` task set 1 (and, with ``--dataset fashion``, on Fashion-MNIST's demo tasks):
per task, the test loss and metric of the independent single-task ViTs, of the shared-trunk
multi-task ViT at the shared model's FLOPs and of the shared model at three sparsity levels;
forward FLOPs (counted from the non-zeros of every test image), stored parameters and CPU
latency (one batch, interleaved repeats, median), each as a ratio to the independent ViTs;
the chosen base task with the proxy and measured rankings and their agreement; and, on
scenes, a clip's FLOPs per frame and accuracy at two temporal thresholds.

Everything goes through :func:`mtlgroup.sharing.run_sharing` (what ``mtlgroup share`` runs), in
one resumable run directory: a second invocation with the same arguments reuses every network
and delta and only measures again.

    .venv/bin/python bench/sharing.py [--dataset scenes] [--n-train 600] [--epochs 4]
        [--delta-epochs 2] [--levels 0.02,0.05,0.2] [--out runs/bench-sharing-scenes]

The defaults are ``mtlgroup share``'s demo scale (scenes 32×32, 600/150/150 images, 4 epochs
per ViT, 2 per delta phase), with three levels and the measured base ranking.
"""

from __future__ import annotations

import argparse
import time

from mtlgroup.sharing.run import run_sharing

TASKS = {"scenes": "set:1", "fashion": "set:demo"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scenes", choices=sorted(TASKS))
    parser.add_argument("--tasks", default=None, help="default: scenes set:1, fashion set:demo")
    parser.add_argument("--n-train", type=int, default=600)
    parser.add_argument("--n-val", type=int, default=150)
    parser.add_argument("--n-test", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=4, help="single- and multi-task ViTs")
    parser.add_argument("--delta-epochs", type=int, default=2, help="each delta phase")
    parser.add_argument("--levels", default="0.02,0.05,0.2", help="weight densities")
    parser.add_argument("--activation-sparsity", default="0.9")
    parser.add_argument("--base-method", default="both", choices=["proxy", "measure", "both"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="default runs/bench-sharing-DATASET")
    args = parser.parse_args()

    data = {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test}
    if args.dataset == "scenes":
        data["size"] = 32
    started = time.perf_counter()
    result = run_sharing(
        args.dataset, args.tasks or TASKS[args.dataset], base_method=args.base_method,
        weight_density=args.levels, activation_sparsity=args.activation_sparsity,
        out=args.out or f"runs/bench-sharing-{args.dataset}", data_options=data,
        train_config={"epochs": args.epochs, "batch_size": 64, "lr": 2e-3},
        delta_config={"sparse_epochs": args.delta_epochs, "finetune_epochs": args.delta_epochs},
        workers=args.workers, seed=args.seed, device="cpu", video=args.dataset == "scenes",
        echo=lambda line: None)
    print(f"bench/sharing.py on {args.dataset}: {args.n_train} training images, {args.epochs} "
          f"epochs per ViT, {args.delta_epochs} per delta phase, levels d={args.levels} "
          f"s={args.activation_sparsity}, base method {args.base_method}; "
          f"{time.perf_counter() - started:.0f} s (trained {result.trained}, reused "
          f"{result.reused})")
    print(result.format())


if __name__ == "__main__":
    main()
