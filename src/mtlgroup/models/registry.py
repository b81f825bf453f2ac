"""Encoders by name, so ``make_network(..., encoder="conv")`` works while Python users pass
modules.

Every registered builder has the signature ``builder(in_channels, size=1.0, **kwargs)``, where
``size`` scales the encoder's forward FLOPs (1.0 = the standard network). Whole networks of other
shapes (an MLP for tables, a user's own model) are network factories instead
(:mod:`mtlgroup.models.network_factory`).

Example:
    >>> encoder = create_encoder("conv", in_channels=3, size=0.5)
    >>> encoder.out_channels > 0
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from mtlgroup.registry import Registry

B = TypeVar("B", bound=Callable[..., nn.Module])

ENCODERS: Registry[Callable[..., nn.Module]] = Registry("encoder")


def register_encoder(name: str) -> Callable[[B], B]:
    """Decorator registering an encoder builder (a class or function) under ``name``."""

    def decorate(builder: B) -> B:
        ENCODERS.register(name, builder)
        return builder

    return decorate


def available_encoders() -> tuple[str, ...]:
    """Names accepted by :func:`create_encoder`, sorted."""
    return tuple(sorted(ENCODERS.names()))


def create_encoder(name: str, in_channels: int, size: float = 1.0, **kwargs: Any) -> nn.Module:
    """Build the encoder registered as ``name`` for inputs with ``in_channels`` channels."""
    return ENCODERS.get(name)(in_channels, size=size, **kwargs)
