"""What a report shows so that a run can be made again: its exact settings and the versions
of what ran it.

Example:
    >>> print(settings_yaml({"pipeline": {"budgets": [1.0, 2.0], "estimator": "hoa"}}), end="")
    pipeline:
      budgets:
      - 1.0
      - 2.0
      estimator: hoa
    >>> sorted(versions())
    ['mtlgroup', 'numpy', 'python', 'torch']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def settings_yaml(settings: Mapping[str, Any]) -> str:
    """The settings as YAML, in their schema's order (a config file ``mtlgroup run`` reads)."""
    import yaml

    return yaml.safe_dump(dict(settings), sort_keys=False, allow_unicode=True)


def versions() -> dict[str, str]:
    """The versions of mtlgroup, torch, numpy and Python (``not installed`` if absent)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import mtlgroup

    found = {"mtlgroup": mtlgroup.__version__, "python": platform.python_version()}
    for package in ("torch", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found
