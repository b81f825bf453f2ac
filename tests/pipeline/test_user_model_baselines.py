"""Baselines with a user's network factory that ignores ``size``: trained at size 1, their
costs recorded as they are, and the row says so."""

from __future__ import annotations

import pytest
import torch
from pipeline_helpers import quiet, tiny_settings
from torch import nn

from mtlgroup.cost import CostModel
from mtlgroup.pipeline import run_pipeline
from mtlgroup.pipeline.stages import scaled_size
from mtlgroup.tasks import TaskSet

DATA = {"dataset": "userpkg.tabular:load_rows", "n_train": 48, "n_val": 16, "n_test": 16}


class FixedNet(nn.Module):
    def __init__(self, tasks: TaskSet, in_features: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_features, 8), nn.ReLU())
        self.heads = nn.ModuleDict({t.name: nn.Linear(8, t.channels) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder(x)
        return {name: head(features) for name, head in self.heads.items()}


def build_ignoring_size(tasks: TaskSet, input_shape: tuple[int, ...], size: float = 1.0
                        ) -> nn.Module:
    """A user's builder whose network is the same at every ``size``."""
    return FixedNet(tasks, input_shape[0])


MODEL = f"{__name__}:build_ignoring_size"


def test_scaled_size_says_when_a_factory_ignores_size():
    from userpkg.tabular import TASKS

    costs = CostModel(TASKS, (6,), MODEL)
    size, note = scaled_size(costs, list(TASKS.names), 2.0)
    assert size == 1.0 and "ignores size" in note


def test_baselines_of_a_model_that_ignores_size_never_crash(tmp_path):
    settings = tiny_settings(DATA, MODEL, budgets=[2.0, 4.0], baseline_budgets=[2.0])
    report = run_pipeline(settings, tmp_path, echo=quiet)
    row = next(r for r in report.rows if r.budget == 2.0)
    assert row.all_task_total is not None and row.independent_total is not None
    assert "ignores size" in row.note
    costs = CostModel(TaskSetOf(report.tasks), (6,), MODEL)
    assert row.all_task_cost == pytest.approx(costs.cost(report.tasks))
    assert row.independent_cost == pytest.approx(sum(costs.cost([t]) for t in report.tasks))
    assert not report.failures


def TaskSetOf(names: list[str]) -> TaskSet:  # noqa: N802 (reads like the class it builds)
    from userpkg.tabular import TASKS

    return TASKS.subset(names)
