"""A tiny multi-task dataset and a hand-written model, so trainer tests run in milliseconds
without depending on the built-in datasets (imported by tests and by conftest fixtures)."""

from __future__ import annotations

import torch
from torch import nn

from mtlgroup.data.base import MultiTaskData, TensorSplit
from mtlgroup.tasks import ACCURACY_METRIC, L1_METRIC, Task, TaskSet

TINY_TASKS = TaskSet(
    [
        Task("bright", kind="dense", channels=1, loss="l1", metrics=(L1_METRIC,)),
        Task("parity", kind="label", channels=2, loss="cross_entropy", metrics=(ACCURACY_METRIC,)),
        Task("moments", kind="vector", channels=2, loss="l2"),
    ]
)


def make_tiny_split(n: int, seed: int) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 8, 8, generator=g)
    return TensorSplit(
        x,
        {
            "bright": x.mean(dim=1, keepdim=True),
            "parity": (x[:, 0].mean(dim=(1, 2)) > x[:, 1].mean(dim=(1, 2))).long(),
            "moments": torch.stack([x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3))], dim=1),
        },
    )


def make_tiny_data(n_train: int = 96, seed: int = 0) -> MultiTaskData:
    return MultiTaskData(
        name="tiny",
        tasks=TINY_TASKS,
        train=make_tiny_split(n_train, seed),
        val=make_tiny_split(48, seed + 1),
        test=make_tiny_split(48, seed + 2),
        input_shape=(3, 8, 8),
        spec={"name": "tiny", "n_train": n_train, "seed": seed},
    )


class TinyNet(nn.Module):
    """A hand-written multi-task model: a user's own model must plug into the trainer."""

    def __init__(self, tasks: tuple[str, ...] = TINY_TASKS.names):
        super().__init__()
        self.tasks = tasks
        self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        heads = {
            "bright": nn.Conv2d(8, 1, 1),
            "parity": nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)),
            "moments": nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)),
        }
        self.heads = nn.ModuleDict({t: heads[t] for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder(x)
        return {t: head(features) for t, head in self.heads.items()}
