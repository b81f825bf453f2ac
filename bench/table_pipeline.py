"""The whole pipeline on a 6-target table with planted task clusters: wall time, and whether the
chosen grouping recovers the clusters.

The table has 20 numeric and 2 categorical features and six targets in two planted clusters:
``a1, a2, a3`` are noisy functions of one latent factor of the features, ``b1, b2, b3`` of
another, independent one (``a3`` and ``b3`` are classes, the rest regression). Tasks of one
cluster help each other; across clusters they compete for the network's capacity. The run
uses the config a user would write (``dataset: table``, ``model: mlp``, HOA), then reads, at
the lowest budget where the choice uses two networks to serve everything, whether the tasks
each network serves are exactly the clusters.

    .venv/bin/python bench/table_pipeline.py --rows 20000 --out runs/table-bench [--workers 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mtlgroup.config import Settings
from mtlgroup.pipeline import run_pipeline

CLUSTERS = ({"a1", "a2", "a3"}, {"b1", "b2", "b3"})


def write_clustered_table(path: Path, rows: int, seed: int = 0) -> Path:
    """A CSV with six targets in two planted clusters (see the module docstring)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 20))
    region = rng.choice(["north", "south", "east", "west"], size=rows)
    channel = rng.choice(["web", "store"], size=rows)
    region_effect = pd.Series(region).map({"north": 0.5, "south": -0.5, "east": 0.2,
                                           "west": -0.2}).to_numpy()
    weights_a, weights_b = rng.normal(size=20), rng.normal(size=20)
    weights_a[10:] = 0.0  # the clusters read disjoint features
    weights_b[:10] = 0.0
    latent_a = np.tanh(x @ weights_a / 3.0) + region_effect
    latent_b = np.sin(x @ weights_b / 3.0) + (channel == "web") * 0.5

    def noise(scale: float) -> np.ndarray:
        return rng.normal(scale=scale, size=rows)

    table = pd.DataFrame(x, columns=[f"x{i}" for i in range(20)])
    table["region"], table["channel"] = region, channel
    table["a1"] = 3.0 * latent_a + noise(0.3)
    table["a2"] = latent_a**2 + noise(0.3)
    table["a3"] = np.where(latent_a + noise(0.3) > 0.2, "high", "low")
    table["b1"] = 2.0 * latent_b + noise(0.3)
    table["b2"] = np.exp(latent_b) + noise(0.3)
    table["b3"] = np.digitize(latent_b + noise(0.2), [-0.5, 0.5]).astype(str)
    table.to_csv(path, index=False)
    return path


def recovered(served_by: dict[str, str]) -> bool:
    """Whether the networks partition the served tasks exactly into the planted clusters."""
    groups: dict[str, set[str]] = {}
    for task, network in served_by.items():
        groups.setdefault(network, set()).add(task)
    return sorted(map(sorted, groups.values())) == sorted(map(sorted, CLUSTERS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--out", type=Path, default=Path("runs/table-bench"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = write_clustered_table(args.out / "clustered.csv", args.rows)
    settings = Settings.model_validate({
        "data": {"dataset": "table", "path": str(path),
                 "targets": ["a1", "a2", "a3", "b1", "b2", "b3"]},
        "model": "mlp",
        "training": {"epochs": args.epochs},
        "study": {"workers": args.workers},
        "pipeline": {"estimator": "hoa", "budgets": [1.5, 2, 2.5, 3, 4, 6],
                     "baseline_budgets": [2, 3, 6]},
    })
    started = time.perf_counter()
    report = run_pipeline(settings, args.out / "run", echo=lambda text: print(text, flush=True))
    wall = time.perf_counter() - started
    print(f"\n{args.rows} rows, 6 targets: pipeline wall time {wall:.0f} s "
          f"({report.trainings} networks, {report.training_seconds:.0f} s of training)")
    print("budget | networks | serves (network: tasks) | recovers the clusters | test total | "
          "all-task | independent")
    for row in report.rows:
        if not row.feasible:
            print(f"{row.budget:g} | infeasible")
            continue
        serves: dict[str, list[str]] = {}
        for task, network in row.served_by.items():
            serves.setdefault(network, []).append(task)
        text = "; ".join(f"{n}: {','.join(t)}" for n, t in serves.items())
        print(f"{row.budget:g} | {len(row.networks)} | {text} | "
              f"{'yes' if recovered(row.served_by) else 'no'} | {_fmt(row.test_total)} | "
              f"{_fmt(row.all_task_total)} | {_fmt(row.independent_total)}")


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    main()
