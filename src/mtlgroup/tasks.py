"""Tasks: what is predicted, how it is scored, and which head factory it brings.

A :class:`Task` is a frozen record. Its loss works *per sample* so that samples lacking a label for
this task can be masked out of the mean (datasets with partial labels are supported from day one).

Example:
    >>> import torch
    >>> depth = Task("depth", kind="dense", channels=1, loss="l1")
    >>> pred, target = torch.zeros(4, 1, 8, 8), torch.ones(4, 1, 8, 8)
    >>> float(depth.masked_loss(pred, target, torch.tensor([True, True, False, False])))
    1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TargetKind = Literal["dense", "label", "vector"]
PerSampleFn = Callable[[Tensor, Tensor], Tensor]
"""``fn(pred, target) -> Tensor[B]``: one value per sample."""
HeadFactory = Callable[["Task", tuple[int, ...], tuple[int, ...]], nn.Module]
"""``factory(task, feature_shape, input_shape) -> head`` (shapes without the batch dimension)."""


def _per_sample_mean(values: Tensor) -> Tensor:
    return values.reshape(values.shape[0], -1).mean(dim=1)


def l1_per_sample(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error of each sample."""
    return _per_sample_mean((pred - target).abs())


def l2_per_sample(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of each sample."""
    return _per_sample_mean((pred - target) ** 2)


def cross_entropy_per_sample(pred: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of each sample; for dense maps, averaged over its pixels.

    ``pred`` holds logits ``[B, C, ...]``; ``target`` class indices ``[B, ...]``.
    """
    return _per_sample_mean(F.cross_entropy(pred, target.long(), reduction="none"))


def accuracy_per_sample(pred: Tensor, target: Tensor) -> Tensor:
    """Fraction of correct class predictions (pixels for dense maps) of each sample."""
    return _per_sample_mean((pred.argmax(dim=1) == target.long()).float())


def angular_error_per_sample(pred: Tensor, target: Tensor) -> Tensor:
    """Mean angle in degrees between predicted and true vectors along dim 1 (e.g. normals)."""
    cos = F.cosine_similarity(pred, target, dim=1, eps=1e-6).clamp(-1.0, 1.0)
    return _per_sample_mean(torch.rad2deg(torch.acos(cos)))


LOSSES: dict[str, PerSampleFn] = {
    "l1": l1_per_sample,
    "l2": l2_per_sample,
    "cross_entropy": cross_entropy_per_sample,
}


@dataclass(frozen=True)
class Metric:
    """A per-sample metric and its direction."""

    name: str
    fn: PerSampleFn
    lower_is_better: bool = True


L1_METRIC = Metric("l1", l1_per_sample, lower_is_better=True)
ACCURACY_METRIC = Metric("accuracy", accuracy_per_sample, lower_is_better=False)
ANGLE_METRIC = Metric("angle_deg", angular_error_per_sample, lower_is_better=True)


@dataclass(frozen=True)
class Task:
    """One prediction task.

    Attributes:
        name: unique name, used in tables, CLI flags and model heads.
        kind: ``dense`` (a map the size of the input), ``label`` (a class index) or ``vector``.
        channels: output channels of a dense map, number of classes of a label task, or the
            dimension of a vector target.
        loss: a name from :data:`LOSSES` or a per-sample function ``fn(pred, target) -> [B]``.
        metrics: extra metrics reported next to the loss.
        head: optional ``factory(task, feature_shape, input_shape) -> nn.Module``;
            :func:`mtlgroup.models.heads.build_head` calls it, or by default
            :func:`mtlgroup.models.heads.default_head`, which builds one from ``kind``.
    """

    name: str
    kind: TargetKind
    channels: int
    loss: str | PerSampleFn = "l1"
    metrics: tuple[Metric, ...] = ()
    head: HeadFactory | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # '+', '/' and '@' build network names, ',' separates CLI lists, '.' breaks module names.
        if not self.name or any(c in self.name for c in "+/@,. "):
            raise ValueError(
                f"task name {self.name!r} must be non-empty, without spaces or any of + / @ , ."
            )
        if self.kind not in ("dense", "label", "vector"):
            raise ValueError(f"task {self.name}: kind must be dense, label or vector")
        if self.channels < 1:
            raise ValueError(f"task {self.name}: channels must be >= 1")
        if isinstance(self.loss, str) and self.loss not in LOSSES:
            known = ", ".join(sorted(LOSSES))
            raise ValueError(f"task {self.name}: unknown loss {self.loss!r}; known: {known}")

    @property
    def loss_fn(self) -> PerSampleFn:
        return LOSSES[self.loss] if isinstance(self.loss, str) else self.loss

    def per_sample_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.loss_fn(pred, target)

    def masked_loss(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """Mean loss over the samples that carry a label (``mask`` True).

        With no labelled sample the result is a zero that still depends on ``pred``, so a
        backward pass through it is valid and moves nothing.
        """
        if mask is None:
            return self.per_sample_loss(pred, target).mean()
        mask = mask.to(pred.device, torch.bool)
        if not bool(mask.any()):
            return pred.sum() * 0.0
        # Select before computing: an unlabelled sample's target may be garbage (even NaN), and
        # a NaN would leak into the gradient through 0 * NaN.
        return self.per_sample_loss(pred[mask], target[mask]).mean()

    def build_head(self, feature_shape: Sequence[int], input_shape: Sequence[int]) -> nn.Module:
        """Same as :func:`mtlgroup.models.heads.build_head` ``(self, feature_shape, input_shape)``.

        Kept for callers of the method; new code calls the function. Tasks know nothing about
        networks: the function is installed here when :mod:`mtlgroup.models` is imported.
        """
        if _head_builder is None:
            raise RuntimeError(
                "no head builder installed: import mtlgroup.models (or call "
                "mtlgroup.models.heads.build_head) to build a task's head"
            )
        return _head_builder(self, tuple(feature_shape), tuple(input_shape))


_head_builder: HeadFactory | None = None


def install_head_builder(builder: HeadFactory) -> None:
    """Make :meth:`Task.build_head` delegate to ``builder`` (done by :mod:`mtlgroup.models.heads`,
    so that this module does not import the models: models import tasks)."""
    global _head_builder
    _head_builder = builder


class TaskSet(Sequence[Task]):
    """An ordered collection of tasks with unique names.

    Example:
        >>> ts = TaskSet([Task("a", "vector", 2), Task("b", "vector", 1)])
        >>> ts.names, ts["b"].channels, ts.subset(["b"]).names
        (('a', 'b'), 1, ('b',))
    """

    def __init__(self, tasks: Iterable[Task]):
        self._tasks: tuple[Task, ...] = tuple(tasks)
        names = [t.name for t in self._tasks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate task names: {duplicates}")
        self._by_name = {t.name: t for t in self._tasks}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks)

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            if key not in self._by_name:
                raise UnknownTaskError(key, self.names)
            return self._by_name[key]
        return self._tasks[key]

    def __contains__(self, key: object) -> bool:
        return key in self._by_name if isinstance(key, str) else key in self._tasks

    def subset(self, names: Iterable[str]) -> TaskSet:
        """The tasks named, in the order given; unknown names raise :class:`UnknownTaskError`."""
        return TaskSet(self[name] for name in names)

    def __repr__(self) -> str:
        return f"TaskSet({list(self.names)})"


class UnknownTaskError(KeyError):
    """A task name that is not in the task set; the message lists the valid names."""

    def __init__(self, name: str, valid: Iterable[str]):
        self.name = name
        self.valid = tuple(valid)
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown task {self.name!r}; valid tasks: {', '.join(self.valid)}"


def parse_task_list(text: str | Sequence[str], valid: Sequence[str]) -> list[str]:
    """Parse ``"a,b"`` (or a list) into task names, checking each against ``valid``.

    Raises ``ValueError`` for an empty list or a repeated name, :class:`UnknownTaskError` for an
    unknown one.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [s.strip() for s in items if s.strip()]
    if not names:
        raise ValueError("the task list is empty")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"task listed twice: {', '.join(repeated)}")
    for name in names:
        if name not in valid:
            raise UnknownTaskError(name, valid)
    return names
