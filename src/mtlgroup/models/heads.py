"""Task heads: dense decoders for pixel tasks, pooled classifiers for label and vector tasks.

:func:`build_head` builds a task's head: the task's own factory (``Task(..., head=...)``) if it
brings one, else :func:`default_head`, which chooses one from ``task.kind``. Heads only see the
encoder's output shape, so they fit any encoder, and their widths follow the encoder's: a
half-size encoder gets half-cost heads.

Example:
    >>> import torch
    >>> from mtlgroup.tasks import Task
    >>> head = default_head(Task("depth", "dense", 1), (64, 8, 8), (3, 32, 32))
    >>> head(torch.zeros(2, 64, 8, 8)).shape
    torch.Size([2, 1, 32, 32])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from mtlgroup.models.encoders import KERNEL, ConvBNReLU
from mtlgroup.tasks import Task, install_head_builder


class GlobalPool(nn.Module):
    """Average an encoder output down to one vector per sample.

    ``[B, C, H, W] -> [B, C]`` (spatial mean), ``[B, N, D] -> [B, D]`` (token mean),
    ``[B, D] -> [B, D]`` (already pooled).
    """

    def forward(self, features: Tensor) -> Tensor:
        if features.dim() == 4:
            return features.mean(dim=(2, 3))
        if features.dim() == 3:
            return features.mean(dim=1)
        return features


def pooled_dim(feature_shape: Sequence[int]) -> int:
    """Length of :class:`GlobalPool`'s output for features of ``feature_shape`` (no batch dim)."""
    shape = tuple(feature_shape)
    if len(shape) == 3:
        return shape[0]
    if len(shape) in (1, 2):
        return shape[-1]
    raise ValueError(
        f"cannot pool encoder features of shape {shape}; expected [C, H, W], [N, D] or [D]"
    )


class LabelHead(nn.Sequential):
    """Global average pool → linear to ``classes`` logits."""

    def __init__(self, feature_shape: Sequence[int], classes: int):
        super().__init__(GlobalPool(), nn.Linear(pooled_dim(feature_shape), classes))


class VectorHead(nn.Sequential):
    """Global average pool → linear → ReLU → linear to a ``dim``-vector.

    The hidden layer is as wide as the pooled features, so it scales with the encoder.
    """

    def __init__(self, feature_shape: Sequence[int], dim: int):
        hidden = pooled_dim(feature_shape)
        super().__init__(
            GlobalPool(), nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim)
        )


class DenseDecoder(nn.Module):
    """Decode ``[B, C, h, w]`` features into a ``[B, out_channels, H, W]`` map.

    Each of the ``round(log2(H / h))`` upsampling steps is a 3×3 conv (BatchNorm, ReLU) that
    halves the width, followed by a bilinear ×2 upsample; the last step lands exactly on the
    input's ``H × W``. A final 3×3 conv at full resolution produces the outputs. The width starts
    at the encoder's ``C``, so the decoder's FLOPs scale with the encoder's.

    Output size follows the features at run time (``H = h · H_built / h_built``), so a decoder
    built for 32×32 inputs also serves 64×64 inputs of a fully convolutional encoder.
    """

    def __init__(self, feature_shape: Sequence[int], input_shape: Sequence[int], out_channels: int):
        super().__init__()
        shape, image = tuple(feature_shape), tuple(input_shape)
        if len(shape) != 3 or len(image) != 3:
            raise ValueError(
                f"a dense head needs spatial features [C, h, w] and image inputs [C, H, W]; got "
                f"feature shape {shape} and input shape {image} (give the task its own head "
                "factory for other encoders)"
            )
        channels, height, width = shape
        self.scale = (image[1] / height, image[2] / width)
        steps = max(0, round(math.log2(max(self.scale))))
        widths = [channels] + [max(1, channels // 2**k) for k in range(1, steps + 1)]
        self.blocks = nn.ModuleList(ConvBNReLU(a, b) for a, b in itertools.pairwise(widths))
        self.out = nn.Conv2d(widths[-1], out_channels, KERNEL, padding=KERNEL // 2)

    def forward(self, features: Tensor) -> Tensor:
        # int(): under torch.jit.trace a shape entry is a tensor, which round() refuses.
        h, w = int(features.shape[-2]), int(features.shape[-1])
        target = (round(h * self.scale[0]), round(w * self.scale[1]))
        x = features
        for step, block in enumerate(self.blocks, start=1):
            remaining = len(self.blocks) - step
            size = (math.ceil(target[0] / 2**remaining), math.ceil(target[1] / 2**remaining))
            x = F.interpolate(block(x), size=size, mode="bilinear", align_corners=False)
        if tuple(x.shape[-2:]) != target:
            # No upsampling step (features already at full resolution, or nearly).
            x = F.interpolate(x, size=target, mode="bilinear", align_corners=False)
        return self.out(x)


def default_head(task: Task, feature_shape: Sequence[int], input_shape: Sequence[int]) -> nn.Module:
    """The head for ``task`` on features of ``feature_shape`` (shapes without batch dim).

    ``dense`` → :class:`DenseDecoder` to ``task.channels`` maps of the input's size;
    ``label`` → :class:`LabelHead` with ``task.channels`` logits;
    ``vector`` → :class:`VectorHead` to a ``task.channels`` vector.
    """
    if task.kind == "dense":
        return DenseDecoder(feature_shape, input_shape, task.channels)
    if task.kind == "label":
        return LabelHead(feature_shape, task.channels)
    if task.kind == "vector":
        return VectorHead(feature_shape, task.channels)
    raise ValueError(f"task {task.name}: no default head for kind {task.kind!r}")


def build_head(task: Task, feature_shape: Sequence[int], input_shape: Sequence[int]) -> nn.Module:
    """``task``'s head for an encoder output of ``feature_shape`` (shapes without batch dim).

    The task's own factory (``task.head``) if it has one, else :func:`default_head`.

    Example:
        >>> from mtlgroup.tasks import Task
        >>> build_head(Task("room", "label", 5), (64, 4, 4), (3, 32, 32))[1]
        Linear(in_features=64, out_features=5, bias=True)
        >>> own = Task("room", "label", 5, head=lambda task, features, image: nn.Identity())
        >>> build_head(own, (64, 4, 4), (3, 32, 32))
        Identity()
    """
    features, image = tuple(feature_shape), tuple(input_shape)
    if task.head is not None:
        return task.head(task, features, image)
    return default_head(task, features, image)


install_head_builder(build_head)  # Task.build_head delegates here (tasks do not import models)
