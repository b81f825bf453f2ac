"""Datasets: the data contract, the registry, and the built-in datasets.

Example:
    >>> from mtlgroup.data import dataset_entry
    >>> dataset_entry("scenes").task_sets["1"]
    ('semseg', 'depth', 'normals', 'keypoints2d', 'edges2d')
"""

from mtlgroup.data.base import Batch, LoaderSplit, MultiTaskData, Split, TensorSplit
from mtlgroup.data.registry import (
    DATASETS,
    DatasetEntry,
    UnknownDatasetError,
    available_datasets,
    cached_dataset,
    canonical_data_options,
    data_identity,
    dataset_entry,
    dataset_tasks,
    load_dataset,
    register_dataset,
    resolve_tasks,
)

__all__ = [
    "DATASETS",
    "Batch",
    "DatasetEntry",
    "LoaderSplit",
    "MultiTaskData",
    "Split",
    "TensorSplit",
    "UnknownDatasetError",
    "available_datasets",
    "cached_dataset",
    "canonical_data_options",
    "data_identity",
    "dataset_entry",
    "dataset_tasks",
    "load_dataset",
    "register_dataset",
    "resolve_tasks",
]
