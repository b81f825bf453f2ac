"""Datasets: the data contract, the registry, and the built-in datasets.

Example:
    >>> from mtlgroup.data import dataset_entry
    >>> dataset_entry("scenes").task_sets["1"]
    ('semseg', 'depth', 'normals', 'keypoints2d', 'edges2d')
"""

from mtlgroup.data import scenes as _scenes  # noqa: F401  (registers it)
from mtlgroup.data import synthetic as _synthetic  # noqa: F401  (registers it)
from mtlgroup.data.base import Batch, LoaderSplit, MultiTaskData, Split, TensorSplit
from mtlgroup.data.registry import (
    DatasetEntry,
    UnknownDatasetError,
    available_datasets,
    dataset_entry,
    load_dataset,
    register_dataset,
)

__all__ = [
    "Batch",
    "DatasetEntry",
    "LoaderSplit",
    "MultiTaskData",
    "Split",
    "TensorSplit",
    "UnknownDatasetError",
    "available_datasets",
    "dataset_entry",
    "load_dataset",
    "register_dataset",
]
