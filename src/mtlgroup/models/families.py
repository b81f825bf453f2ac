"""The built-in network families, registered as network factories.

``conv``: the FLOP-scaled convolutional encoder (:class:`~mtlgroup.models.ConvEncoder`) with the
default heads, for image inputs ``[C, H, W]``. ``mlp``: a FLOP-scaled multilayer perceptron
(:class:`~mtlgroup.models.mlp.MLPEncoder`) for feature vectors, e.g. rows of a table. ``vit``: a
small FLOP-scaled vision transformer (:class:`~mtlgroup.models.vit.ViTEncoder`) for images, the
backbone of computation sharing (:mod:`mtlgroup.sharing`). In each,
``size`` multiplies the encoder's forward FLOPs and the heads follow the encoder's width.

Example:
    >>> from mtlgroup.tasks import Task
    >>> net = NETWORKS.get("conv")([Task("depth", "dense", 1)], (3, 16, 16), size=0.5)
    >>> type(net).__name__
    'MultiTaskNet'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtlgroup.models.encoders import HALF_SIZE
from mtlgroup.models.factory import make_network
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.network_factory import NETWORKS, register_network
from mtlgroup.tasks import Task, TaskSet


def _conv_size_revision(size: float) -> int | None:
    # Widths were made non-decreasing in size (issue 10): sizes 1 and 0.5 build what they
    # built before, every other size may be narrower or wider, so its networks train again.
    return None if size in (1.0, HALF_SIZE) else 2


@register_network("conv", version=1, additive=True, size_revision=_conv_size_revision)
def conv_network(
    tasks: TaskSet | Sequence[Task], input_shape: Sequence[int], size: float = 1.0,
    **options: Any,
) -> MultiTaskNet:
    """The conv family: options ``base_width``, ``stages``, ``blocks`` (see ConvEncoder)."""
    return make_network(tasks, input_shape, size=size, encoder="conv", **options)


@register_network("mlp", version=1, additive=True)
def mlp_network(
    tasks: TaskSet | Sequence[Task], input_shape: Sequence[int], size: float = 1.0,
    **options: Any,
) -> MultiTaskNet:
    """The MLP family for feature vectors (see :mod:`mtlgroup.models.mlp` for its options)."""
    from mtlgroup.models import mlp

    return mlp.mlp_network(tasks, input_shape, size=size, **options)


@register_network("vit", version=1, additive=True)
def vit_network(
    tasks: TaskSet | Sequence[Task], input_shape: Sequence[int], size: float = 1.0,
    **options: Any,
) -> MultiTaskNet:
    """The small ViT family for images (see :mod:`mtlgroup.models.vit` for its options)."""
    from mtlgroup.models import vit

    return vit.vit_network(tasks, input_shape, size=size, **options)


__all__ = ["NETWORKS", "conv_network", "mlp_network", "vit_network"]
