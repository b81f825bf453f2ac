"""Settings of the tiny pipeline runs the stage tests share (synthetic data, inline jobs)."""

from __future__ import annotations

from typing import Any

from mtlgroup.config import Settings

DATA = {"n_train": 48, "n_val": 16, "n_test": 16, "size": 8}
TRAIN = {"max_steps": 3, "batch_size": 16}


def tiny_settings(data: dict[str, Any] | None = None, model: Any = "conv",
                  **pipeline: Any) -> Settings:
    return Settings.model_validate({
        "data": data or {"dataset": "synthetic", **DATA},
        "model": model,
        "training": {**TRAIN, "device": "cpu"},
        "study": {"executor": "inline"},
        "pipeline": {"budgets": [1.0, 2.0, 3.0], "baseline_budgets": [2.0], **pipeline},
    })


def quiet(_: str) -> None:
    """An ``echo`` that prints nothing."""


def served_by_lowest_val(out) -> None:
    """Every feasible row's tasks are served by their chosen network's lowest val loss."""
    import json

    from mtlgroup.study import StudyStore

    rows = json.loads((out / "stages" / "evaluate.json").read_text())["rows"]
    with StudyStore(out / "study.sqlite") as store:
        val = store.losses("val")
    assert any(row["feasible"] for row in rows)
    for row in (r for r in rows if r["feasible"]):
        for task, network in row["served_by"].items():
            assert val[network][task] == min(val[n][task] for n in row["networks"]
                                              if task in val.get(n, {}))
