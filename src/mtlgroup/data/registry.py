"""A registry of datasets by name, so configs and the CLI can say ``--dataset scenes``.

Example:
    >>> from mtlgroup.data import available_datasets
    >>> "scenes" in available_datasets()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mtlgroup.data.base import MultiTaskData
from mtlgroup.tasks import TaskSet


@dataclass(frozen=True)
class DatasetEntry:
    """How to describe a dataset without loading it, and how to load it."""

    name: str
    description: str
    tasks: Callable[[], TaskSet]
    load: Callable[..., MultiTaskData]
    task_sets: dict[str, tuple[str, ...]]


_REGISTRY: dict[str, DatasetEntry] = {}


class UnknownDatasetError(KeyError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown dataset {self.name!r}; available: {', '.join(sorted(_REGISTRY))}"


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    _REGISTRY[entry.name] = entry
    return entry


def dataset_entry(name: str) -> DatasetEntry:
    if name not in _REGISTRY:
        raise UnknownDatasetError(name)
    return _REGISTRY[name]


def available_datasets() -> list[str]:
    return sorted(_REGISTRY)


def load_dataset(name: str, **options: Any) -> MultiTaskData:
    """Load a registered dataset; ``options`` go to its loader (e.g. ``n_train=2000``)."""
    return dataset_entry(name).load(**options)
