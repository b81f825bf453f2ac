"""Choosing the torch device from a user's string (``--device auto|cpu|cuda``).

Example:
    >>> resolve_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import torch

_AVAILABILITY_HINT = "use --device cpu or --device auto"


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` (or a device) into a device.

    ``"auto"`` picks CUDA when it is available and the CPU otherwise, so nothing assumes a GPU.
    A device that is named but not available raises ``ValueError`` saying so, rather than
    failing later inside the first forward pass.
    """
    if isinstance(spec, torch.device):
        device = spec
    else:
        text = str(spec).strip().lower()
        if text == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(text)
        except RuntimeError as error:
            raise ValueError(
                f"device {spec!r} is not a torch device; expected auto, cpu, cuda or cuda:N"
            ) from error
    _check_available(device)
    return device


def _check_available(device: torch.device) -> None:
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(device)!r} requested but CUDA is not available on this machine; "
                f"{_AVAILABILITY_HINT}"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"device {str(device)!r} requested but only {count} CUDA device(s) exist"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {str(device)!r} requested but MPS is not available; {_AVAILABILITY_HINT}"
        )
