"""Computation sharing between single-task transformers (Shoouri et al., ICCV 2023; ALGORITHMS §4).

A base task's ViT runs as it is; every other task reuses it through sparse weight deltas and
sparse activation differences (:class:`~mtlgroup.sharing.deltas.TaskDelta`).
"""

from mtlgroup.sharing.base_choice import BaseChoice, choose_base
from mtlgroup.sharing.deltas import LinearRecorder, TaskDelta
from mtlgroup.sharing.levels import Level, sharing_levels
from mtlgroup.sharing.model import (
    SharedFlops,
    SharedMultiTaskViT,
    StoredParameters,
    load_shared,
    save_shared,
)
from mtlgroup.sharing.run import SharingResult, run_sharing
from mtlgroup.sharing.sparse import SparseDeltaLinear
from mtlgroup.sharing.table import SharingRow, SharingTable
from mtlgroup.sharing.temporal import (
    ClipEvaluation,
    ClipRun,
    TemporalDeltaRunner,
    evaluate_clip,
    threshold_for_sparsity,
)
from mtlgroup.sharing.train import DeltaConfig, calibrate_thresholds, train_task_delta

__all__ = [
    "BaseChoice",
    "ClipEvaluation",
    "ClipRun",
    "DeltaConfig",
    "Level",
    "LinearRecorder",
    "SharedFlops",
    "SharedMultiTaskViT",
    "SharingResult",
    "SharingRow",
    "SharingTable",
    "SparseDeltaLinear",
    "StoredParameters",
    "TaskDelta",
    "TemporalDeltaRunner",
    "calibrate_thresholds",
    "choose_base",
    "evaluate_clip",
    "load_shared",
    "run_sharing",
    "save_shared",
    "sharing_levels",
    "threshold_for_sparsity",
    "train_task_delta",
]
