"""The demo's settings: the whole pipeline on built-in data at a scale two CPU cores finish in
minutes (``mtlgroup demo``, the benchmarks that reproduce it).

Example:
    >>> settings = demo_settings("scenes", quick=True)
    >>> settings.data.task_names(), settings.pipeline.baseline_budgets
    (['semseg', 'depth', 'normals', 'keypoints2d', 'edges2d'], [3.0])
"""

from __future__ import annotations

from typing import Any

from mtlgroup.config import Settings, parse_config

DEMO_TASKS: dict[str, str | list[str]] = {
    "scenes": ["semseg", "depth", "normals", "keypoints2d", "edges2d"],  # scenes task set 1
    "fashion": "set:demo",
}
"""The tasks each demo dataset groups."""

DEMO_IMAGES: dict[str, dict[str, Any]] = {"scenes": {"size": 32}, "fashion": {}}
"""Image options per demo dataset: scenes renders 32×32; fashion keeps its native 28×28
(upscaling would blur the images and cost 31% more FLOPs)."""

DEMO_SCALE: dict[bool, dict[str, Any]] = {
    # Sized so that the demo finishes in minutes on two CPU cores: every network sees a few
    # thousand small images. Results are noisier than with more data; the pipeline is the same.
    False: {"data": {"n_train": 1000, "n_val": 250, "n_test": 250},
            "train": {"epochs": 4, "batch_size": 64, "lr": 2e-3},
            "baseline_budgets": [1.0, 3.0, 5.0]},
    True: {"data": {"n_train": 256, "n_val": 96, "n_test": 96},
           "train": {"epochs": 2, "batch_size": 64, "lr": 2e-3},
           "baseline_budgets": [3.0]},
}
"""Full and ``--quick`` scale: data sizes, training and the budgets of the baselines."""


def demo_settings(
    dataset: str = "scenes",
    quick: bool = False,
    estimator: str = "hoa",
    workers: int = 2,
    device: str = "auto",
    model: str | dict[str, Any] | None = None,
    executor: str = "local",
) -> Settings:
    """The settings ``mtlgroup demo`` runs with (a ``ValueError`` names a bad value)."""
    if dataset not in DEMO_TASKS:
        raise ValueError(f"unknown demo dataset {dataset!r}; expected one of: "
                         f"{', '.join(DEMO_TASKS)}")
    scale = DEMO_SCALE[quick]
    raw = {
        "data": {"dataset": dataset, "tasks": DEMO_TASKS[dataset], **scale["data"],
                 **DEMO_IMAGES[dataset]},
        "model": model,
        "training": {**scale["train"], "device": device},
        "study": {"workers": workers, "executor": executor},
        "pipeline": {"estimator": estimator, "baseline_budgets": scale["baseline_budgets"]},
    }
    return parse_config(raw, Settings, "demo")
