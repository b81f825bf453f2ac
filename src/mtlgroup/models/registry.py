"""Encoders by name, so configs can say ``encoder: conv`` while Python users pass modules.

Every registered builder has the signature ``builder(in_channels, size=1.0, **kwargs)``, where
``size`` scales the encoder's forward FLOPs (1.0 = the standard network).

Example:
    >>> encoder = create_encoder("conv", in_channels=3, size=0.5)
    >>> encoder.out_channels > 0
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

B = TypeVar("B", bound=Callable[..., nn.Module])

_ENCODERS: dict[str, Callable[..., nn.Module]] = {}


def register_encoder(name: str) -> Callable[[B], B]:
    """Decorator registering an encoder builder (a class or function) under ``name``."""

    def decorate(builder: B) -> B:
        if name in _ENCODERS and _ENCODERS[name] is not builder:
            raise ValueError(f"an encoder named {name!r} is already registered")
        _ENCODERS[name] = builder
        return builder

    return decorate


def available_encoders() -> tuple[str, ...]:
    """Names accepted by :func:`create_encoder`, sorted."""
    return tuple(sorted(_ENCODERS))


def create_encoder(name: str, in_channels: int, size: float = 1.0, **kwargs: Any) -> nn.Module:
    """Build the encoder registered as ``name`` for inputs with ``in_channels`` channels."""
    if name not in _ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; available: {', '.join(available_encoders())}")
    return _ENCODERS[name](in_channels, size=size, **kwargs)
