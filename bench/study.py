"""Throughput of a study: jobs/hour with 1 and 2 local workers and with Ray, side by side.

Each executor runs the same small study (six networks on ``synthetic``: the singles and pairs of
three tasks) into a fresh store; the time counted is the whole ``Study.run``, worker start-up
included. Ray is timed twice: with the start of its local cluster, and with the cluster already
up. Modes run interleaved, ``--repeats`` times; the median is reported.

Run:  .venv/bin/python bench/study.py [--repeats 3] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mtlgroup.study import Executor, LocalExecutor, RayExecutor, Study
from mtlgroup.study.executors import available_cores

TASKS = ["bright", "parity", "moments"]
NETWORKS = ["bright", "parity", "moments", "bright+parity", "bright+moments", "parity+moments"]
DATA = {"n_train": 256, "n_val": 64, "n_test": 64, "size": 16}


def run_once(make_executor: Callable[[], Executor], steps: int, warm: bool
             ) -> tuple[float, float, dict[str, dict]]:
    """Seconds for the study (and for starting the executor, when ``warm``), and the scores."""
    with tempfile.TemporaryDirectory() as tmp:
        study = Study(Path(tmp) / "study.sqlite", "synthetic", DATA, TASKS,
                      {"max_steps": steps, "batch_size": 32}, device="cpu")
        study.add_plan(NETWORKS)
        executor = make_executor()
        try:
            started = time.perf_counter()
            if warm:
                executor.start()
            ready = time.perf_counter()
            summary = study.run(executor, progress=False)
            finished = time.perf_counter()
        finally:
            executor.close()
        assert summary.ok and summary.done == len(NETWORKS), summary.format()
        scores = {r.network: r.outcome.scores for r in study.records()}
        study.close()
    return finished - ready, ready - started, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per job")
    args = parser.parse_args()

    ray_options = {"object_store_memory": 200 * 1024**2}
    modes: dict[str, tuple[Callable[[], Executor], bool]] = {
        "local, 1 worker": (lambda: LocalExecutor(1), False),
        "local, 1 worker x 1 thread": (lambda: LocalExecutor(1, threads_per_worker=1), False),
        "local, 2 workers": (lambda: LocalExecutor(2), False),
        "ray, 2 CPUs (with cluster start)": (lambda: RayExecutor(workers=2, **ray_options), False),
        "ray, 2 CPUs (cluster up)": (lambda: RayExecutor(workers=2, **ray_options), True),
    }
    load_before = os.getloadavg()[0]
    seconds: dict[str, list[float]] = {name: [] for name in modes}
    starts: list[float] = []
    scores: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, (make, warm) in modes.items():
            elapsed, start, scores[name] = run_once(make, args.steps, warm)
            seconds[name].append(elapsed)
            if warm:
                starts.append(start)
            print(f"  {name}: {elapsed:.1f} s", flush=True)

    base = statistics.median(seconds["local, 1 worker"])
    print(f"\n{len(NETWORKS)} jobs ({args.steps} steps each) on synthetic, "
          f"{available_cores()} cores (load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after), median of {args.repeats}:")
    print("| executor | study time (s) | jobs/hour | vs 1 local worker |")
    print("|---|---:|---:|---:|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {3600 * len(NETWORKS) / median:.0f} | "
              f"{base / median:.2f}x |")
    print(f"\nRay local cluster start: {statistics.median(starts):.1f} s")
    one_thread = ["local, 1 worker x 1 thread", "local, 2 workers",
                  "ray, 2 CPUs (with cluster start)", "ray, 2 CPUs (cluster up)"]
    same = all(scores[name] == scores[one_thread[0]] for name in one_thread)
    print(f"identical losses across the one-thread executors: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
