"""Generation speed of the ``scenes`` dataset on ONE core: images per second at 32 and 64 pixels.

Usage:
    .venv/bin/python bench/scenes_generation.py [--n32 2000] [--n64 500] [--preview PATH]

Thread pools are pinned to one thread before numpy is imported, so the figures are per core.
``--n32 10000`` times the acceptance target (10,000 images of 32×32 in under a minute) directly.
``--preview PATH`` also writes the preview image used in ``docs/scenes.md``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import torch  # noqa: E402

from mtlgroup.data import render, scenes  # noqa: E402


def images_per_second(n: int, size: int) -> tuple[float, float]:
    """``(images/s, seconds)`` to render ``n`` images with all labels."""
    start = time.perf_counter()
    render.render_scenes(n, size=size, seed=0)
    seconds = time.perf_counter() - start
    return n / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n32", type=int, default=2000, help="images rendered at 32x32")
    parser.add_argument("--n64", type=int, default=500, help="images rendered at 64x64")
    parser.add_argument("--preview", default=None, help="also write a preview PNG here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    render.render_scenes(8, size=32)  # warm-up: imports and first-call costs
    print("scenes generation, one core (all ten labels, float16 storage)")
    rate32 = 0.0
    for size, n in ((32, args.n32), (64, args.n64)):
        rate, seconds = images_per_second(n, size)
        rate32 = rate if size == 32 else rate32
        print(f"  size {size:>2}: {n:>6} images in {seconds:6.2f} s = {rate:7.1f} images/s")
    print(f"  projected 10,000 images at 32x32: {10_000 / rate32:.1f} s (target < 60 s)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak resident memory: {peak_mb:.0f} MB")
    if args.preview:
        print(f"  preview written to {scenes.save_preview(args.preview)}")


if __name__ == "__main__":
    main()
