"""The optional torchjd dependency of the multi-task strategies, imported lazily.

``mtlgroup`` imports and lists its strategies without torchjd; creating a strategy that needs it
without it installed raises an :class:`ImportError` saying ``pip install mtlgroup[torchjd]``.

Example:
    >>> isinstance(torchjd_available(), bool)
    True
    >>> sorted(option_values({"c": 0.4, "pref_vector": [1, 2]}))
    ['c', 'pref_vector']
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from types import ModuleType
from typing import Any

INSTALL_HINT = "pip install mtlgroup[torchjd]"


def torchjd_available() -> bool:
    """Whether torchjd can be imported here."""
    return importlib.util.find_spec("torchjd") is not None


def require_torchjd(strategy: str, module: str = "torchjd") -> ModuleType:
    """Import ``module`` (``torchjd.aggregation``, ``torchjd.scalarization``, …) for the
    strategy called ``strategy``, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"strategy {strategy!r} needs torchjd, which is not installed: {INSTALL_HINT}"
        ) from error


def option_values(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` as torchjd takes them: lists (from a command line or YAML) become float
    tensors (preference vectors, lower bounds), and ``None`` values are left out so that
    torchjd's own default applies."""
    import torch

    return {key: torch.tensor(value, dtype=torch.float32) if isinstance(value, list | tuple)
            else value for key, value in options.items() if value is not None}


def check_options(strategy: str, given: Mapping[str, Any], accepted: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the strategy, the unknown options and the accepted ones."""
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        valid = ", ".join(sorted(accepted)) or "(none)"
        raise ValueError(f"strategy {strategy!r}: unknown option(s) {', '.join(unknown)}; "
                         f"it accepts: {valid}")
