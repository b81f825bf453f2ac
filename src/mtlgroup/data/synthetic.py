"""``synthetic``: a tiny multi-task dataset that generates in milliseconds.

Its purpose is to try the whole pipeline (and test it) in seconds: random colour images and four
targets computed from them, two of which share structure (``bright`` and ``moments`` both read
intensity) while ``parity`` and ``contrast`` read colour and texture.

Example:
    >>> data = load_synthetic(n_train=32, n_val=8, n_test=8)
    >>> data.tasks.names
    ('bright', 'parity', 'moments', 'contrast')
"""

from __future__ import annotations

import torch

from mtlgroup.data.base import MultiTaskData, TensorSplit, image_format
from mtlgroup.data.registry import DatasetEntry, register_dataset
from mtlgroup.tasks import ACCURACY_METRIC, L1_METRIC, Task, TaskSet

_SPLIT_OFFSETS = {"train": 0, "val": 1, "test": 2}


def synthetic_tasks() -> TaskSet:
    return TaskSet(
        [
            Task("bright", kind="dense", channels=1, loss="l1", metrics=(L1_METRIC,)),
            Task("parity", kind="label", channels=2, loss="cross_entropy",
                 metrics=(ACCURACY_METRIC,)),
            Task("moments", kind="vector", channels=2, loss="l2"),
            Task("contrast", kind="dense", channels=1, loss="l1"),
        ]
    )


def make_synthetic_split(n: int, size: int, seed: int) -> TensorSplit:
    """``n`` smooth random images of ``size``×``size`` and their four targets."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(2, size // 4), max(2, size // 4), generator=g)
    x = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear",
                                        align_corners=False)
    gray = x.mean(dim=1, keepdim=True)
    local_mean = torch.nn.functional.avg_pool2d(gray, 3, stride=1, padding=1)
    return TensorSplit(
        x,
        {
            "bright": gray,
            "parity": (x[:, 0].mean(dim=(1, 2)) > x[:, 1].mean(dim=(1, 2))).long(),
            "moments": torch.stack([gray.mean(dim=(1, 2, 3)), gray.std(dim=(1, 2, 3))], dim=1),
            "contrast": (gray - local_mean).abs() * 10.0,
        },
    )


def load_synthetic(
    n_train: int = 256, n_val: int = 64, n_test: int = 64, size: int = 16, seed: int = 0
) -> MultiTaskData:
    """The synthetic dataset (generated, never cached: it takes milliseconds)."""
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    splits = {
        name: make_synthetic_split(count, size, seed * 3 + _SPLIT_OFFSETS[name])
        for name, count in sizes.items()
    }
    return MultiTaskData(
        name="synthetic",
        tasks=synthetic_tasks(),
        input_shape=(3, size, size),
        spec={"name": "synthetic", "n_train": n_train, "n_val": n_val, "n_test": n_test,
              "size": size, "seed": seed, "version": 1},
        input_format=image_format((3, size, size)),
        **splits,
    )


register_dataset(
    DatasetEntry(
        name="synthetic",
        description="tiny random images with four derived targets, for trying things in seconds",
        tasks=synthetic_tasks,
        load=load_synthetic,
        task_sets={"all": synthetic_tasks().names},
    )
)
