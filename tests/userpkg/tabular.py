"""What a user writes: a dataset function and a model factory, named by import path.

``load_rows`` returns feature vectors with three targets (two share a latent factor);
``build_net`` builds a user's own network (not one of mtlgroup's families) for any task subset.
The broken variants exist for the error tests.
"""

from __future__ import annotations

import torch
from torch import nn

from mtlgroup.data import MultiTaskData, TensorSplit
from mtlgroup.tasks import Task, TaskSet

TASKS = TaskSet([Task("up", "vector", 1, loss="l2"), Task("also_up", "vector", 1, loss="l2"),
                 Task("odd", "label", 2, loss="cross_entropy")])


def _split(n: int, seed: int, features: int) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    latent = x[:, :2].sum(dim=1, keepdim=True)
    return TensorSplit(x, {"up": latent, "also_up": 2 * latent + 0.1 * x[:, 2:3],
                           "odd": (x[:, 3] > 0).long()})


def load_rows(n_train: int = 64, n_val: int = 32, n_test: int = 32, features: int = 6,
              seed: int = 0) -> MultiTaskData:
    """Rows of random features with three targets (a user's dataset)."""
    return MultiTaskData(
        name="rows", tasks=TASKS, train=_split(n_train, seed, features),
        val=_split(n_val, seed + 1, features), test=_split(n_test, seed + 2, features),
        input_shape=(features,),
        spec={"name": "rows", "n_train": n_train, "n_val": n_val, "n_test": n_test,
              "features": features, "seed": seed},
    )


class RowNet(nn.Module):
    """A user's own network: an ``encoder`` (the affinity probes look for that name) and one
    linear head per task, nothing from mtlgroup."""

    def __init__(self, tasks: TaskSet, in_features: int, hidden: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.heads = nn.ModuleDict({t.name: nn.Linear(hidden, t.channels) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder(x)
        return {name: head(features) for name, head in self.heads.items()}


def build_net(tasks: TaskSet, input_shape: tuple[int, ...], size: float = 1.0,
              hidden: int = 16) -> nn.Module:
    """The user's factory: ``size`` widens the trunk (mtlgroup measures the cost)."""
    return RowNet(tasks, input_shape[0], max(1, round(hidden * size)))


def build_fixed(tasks: TaskSet, input_shape: tuple[int, ...], size: float = 1.0) -> nn.Module:
    """A factory that ignores ``size`` (its cost never changes)."""
    return RowNet(tasks, input_shape[0], 8)


def build_plain_tensor(tasks: TaskSet, input_shape: tuple[int, ...], size: float = 1.0
                       ) -> nn.Module:
    """Broken: forward returns one tensor instead of ``{task: tensor}``."""
    return nn.Linear(input_shape[0], 1)


def build_one_task_short(tasks: TaskSet, input_shape: tuple[int, ...], size: float = 1.0
                         ) -> nn.Module:
    """Broken: forgets the last task's output."""
    return RowNet(TaskSet(list(tasks)[:-1] or list(tasks)), input_shape[0], 4)


def build_not_a_module(tasks: TaskSet, input_shape: tuple[int, ...], size: float = 1.0):
    """Broken: returns a function."""
    return lambda x: {}


def load_not_data(n_train: int = 10) -> dict:
    """Broken: a dataset function returning the wrong type."""
    return {"x": n_train}


NOT_CALLABLE = 42
