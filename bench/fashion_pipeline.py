"""The HOA pipeline on `fashion` (real Fashion-MNIST images) at the demo's scale: wall time and
the trade-off table (what `mtlgroup demo --dataset fashion` prints).

    .venv/bin/python bench/fashion_pipeline.py --out runs/fashion-bench [--workers 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from mtlgroup.cli.run import print_tradeoff
from mtlgroup.demo import demo_settings
from mtlgroup.pipeline import run_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/fashion-bench"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--estimator", default="hoa")
    args = parser.parse_args()
    settings = demo_settings("fashion", estimator=args.estimator, workers=args.workers)
    started = time.perf_counter()
    report = run_pipeline(settings, args.out, echo=lambda text: print(text, flush=True))
    wall = time.perf_counter() - started
    print_tradeoff(report, Console(width=140))
    print(f"fashion ({', '.join(report.tasks)}), {args.estimator}: wall time {wall:.0f} s, "
          f"{report.trainings} networks, {report.training_seconds:.0f} s of training")


if __name__ == "__main__":
    main()
