"""The data contract every dataset and the trainer share.

A dataset is a :class:`MultiTaskData`: a :class:`~mtlgroup.tasks.TaskSet` plus three splits.
A split yields :class:`Batch` objects: inputs, one target tensor per task and, per task, a boolean
mask of which samples carry that label (missing labels are masked out of the loss).

:class:`TensorSplit` keeps a whole split in memory and batches by slicing, which on CPU is much
faster than a per-sample ``DataLoader``; :class:`LoaderSplit` wraps any ``torch`` dataset whose
items are ``(input, targets_dict)`` or ``(input, targets_dict, masks_dict)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from mtlgroup.tasks import TaskSet


@dataclass
class Batch:
    """One batch: ``inputs [B, ...]``, ``targets[task] [B, ...]``, ``masks[task] bool [B]``.

    A task absent from ``masks`` is labelled on every sample.
    """

    inputs: Tensor
    targets: dict[str, Tensor]
    masks: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def mask(self, task: str) -> Tensor | None:
        return self.masks.get(task)

    def to(self, device: torch.device | str) -> Batch:
        non_blocking = torch.device(device).type == "cuda"
        return Batch(
            self.inputs.to(device, non_blocking=non_blocking),
            {k: v.to(device, non_blocking=non_blocking) for k, v in self.targets.items()},
            {k: v.to(device, non_blocking=non_blocking) for k, v in self.masks.items()},
        )


@runtime_checkable
class Split(Protocol):
    """Anything the trainer can iterate over in batches."""

    def __len__(self) -> int: ...

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        tasks: Iterable[str] | None = None,
    ) -> Iterator[Batch]: ...


@dataclass
class TensorSplit:
    """A split held in memory as tensors (the fast path on CPU).

    Targets may be stored in a compact dtype (e.g. ``float16``); batches convert them to
    ``float32`` (floating targets) or ``int64`` (class indices).
    """

    inputs: Tensor
    targets: dict[str, Tensor]
    masks: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self)
        for name, values in {**self.targets, **self.masks}.items():
            if values.shape[0] != n:
                raise ValueError(f"task {name}: {values.shape[0]} rows, inputs have {n}")

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def take(self, index: Tensor, tasks: Iterable[str] | None = None) -> Batch:
        names = list(self.targets) if tasks is None else list(tasks)
        targets = {t: _as_compute_dtype(self.targets[t][index]) for t in names}
        masks = {t: self.masks[t][index] for t in names if t in self.masks}
        return Batch(_as_compute_dtype(self.inputs[index]), targets, masks)

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        tasks: Iterable[str] | None = None,
    ) -> Iterator[Batch]:
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        names = None if tasks is None else list(tasks)
        for start in range(0, n, batch_size):
            yield self.take(order[start : start + batch_size], names)

    def head(self, n: int) -> TensorSplit:
        """The first ``n`` samples (a cheap sub-split)."""
        return TensorSplit(
            self.inputs[:n],
            {k: v[:n] for k, v in self.targets.items()},
            {k: v[:n] for k, v in self.masks.items()},
        )


def _as_compute_dtype(values: Tensor) -> Tensor:
    if values.is_floating_point():
        return values.float()
    if values.dtype == torch.bool:
        return values
    return values.long()


class LoaderSplit:
    """Wraps a ``torch.utils.data.Dataset`` whose items are ``(x, targets)`` or
    ``(x, targets, masks)`` with ``targets``/``masks`` dicts keyed by task name."""

    def __init__(self, dataset: Dataset, num_workers: int = 0):
        self.dataset = dataset
        self.num_workers = num_workers

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        tasks: Iterable[str] | None = None,
    ) -> Iterator[Batch]:
        loader = DataLoader(
            self.dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.num_workers,
            collate_fn=_collate,
        )
        keep = None if tasks is None else set(tasks)
        for batch in loader:
            if keep is not None:
                batch.targets = {k: v for k, v in batch.targets.items() if k in keep}
                batch.masks = {k: v for k, v in batch.masks.items() if k in keep}
            yield batch


def _collate(items: list[tuple[Any, ...]]) -> Batch:
    inputs = torch.stack([torch.as_tensor(item[0]) for item in items])
    names = list(items[0][1])
    targets = {t: torch.stack([torch.as_tensor(item[1][t]) for item in items]) for t in names}
    masks: dict[str, Tensor] = {}
    if len(items[0]) > 2:
        for t in names:
            masks[t] = torch.tensor([bool(item[2].get(t, True)) for item in items])
    targets = {k: _as_compute_dtype(v) for k, v in targets.items()}
    return Batch(_as_compute_dtype(inputs), targets, masks)


@dataclass
class MultiTaskData:
    """A dataset: its tasks, its splits and a spec that identifies it (used in job keys).

    ``spec`` must contain everything that determines the data (name, seed, sizes...), as plain
    JSON values, so that two equal specs mean equal data.

    ``input_format`` (JSON, optional) says how raw inputs become the input tensor, so that an
    exported model can be fed new data (``mtlgroup predict``): ``{"kind": "image", "channels":
    C, "height": H, "width": W, "scale": 1/255, "mean": [..], "std": [..]}`` for images (pixel
    ``v`` of an 8-bit file becomes ``(v * scale - mean) / std``; mean 0 and std 1 when left
    out), or ``{"kind": "tensor"}`` (the default: inputs given as arrays of ``input_shape``).
    Tables describe theirs from their :class:`~mtlgroup.data.table.TableSchema`.
    """

    name: str
    tasks: TaskSet
    train: Split
    val: Split
    test: Split
    input_shape: tuple[int, ...]
    spec: Mapping[str, Any] = field(default_factory=dict)
    input_format: Mapping[str, Any] | None = None

    def split(self, name: str) -> Split:
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}; expected train, val or test")
        return getattr(self, name)


def steps_per_epoch(split: Split, batch_size: int) -> int:
    return max(1, math.ceil(len(split) / batch_size))


def image_format(input_shape: tuple[int, ...]) -> dict[str, Any]:
    """The :attr:`MultiTaskData.input_format` of images in ``[0, 1]`` (8-bit pixels / 255).

    >>> image_format((1, 28, 28))["channels"]
    1
    """
    channels, height, width = input_shape
    return {"kind": "image", "channels": channels, "height": height, "width": width,
            "scale": 1 / 255}
