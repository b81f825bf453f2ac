"""Inter-task affinity: how much a training step on one task helps or hurts another.

Every method produces the same value object, :class:`Affinity` (row = source, column = target):

- ``tag``: lookahead affinity from one joint training run (Fifty et al. 2021, ALGORITHMS §2);
- ``cs``: gradient cosine similarity from the same probes;
- ``proximal``: proximal affinity while training with selective task group updates
  (Jeong & Yoon 2025, ALGORITHMS §3), measured by the ``stgu`` training strategy
  (:class:`~mtlgroup.affinity.stgu.SelectiveGroupStrategy`, which lives here);
- ``pairwise``: the relative-performance matrix of a study's loss table (ALGORITHMS §1.3).

Names are imported on first use, so reading an affinity file (``Affinity``, ``pairwise_affinity``)
does not load torch; the estimators do.

Example:
    >>> from mtlgroup.affinity import estimate_affinity
    >>> from mtlgroup.data import load_dataset
    >>> from mtlgroup.training import TrainConfig
    >>> data = load_dataset("synthetic", n_train=32, n_val=8, n_test=8)
    >>> affinity = estimate_affinity(data, method="tag", every=2, size=0.25,
    ...                              config=TrainConfig(max_steps=4, batch_size=16))
    >>> affinity.tasks, affinity.matrix.shape, affinity.n_probes
    (('bright', 'parity', 'moments', 'contrast'), (4, 4), 2)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtlgroup.affinity.callback import LookaheadProbe
    from mtlgroup.affinity.estimators import (
        AffinityEstimator,
        CosineEstimator,
        ProximalEstimator,
        TagEstimator,
        available_estimators,
        create_estimator,
        estimate_affinity,
        register_estimator,
    )
    from mtlgroup.affinity.lookahead import ProbeOutcome, probe, shared_parameters
    from mtlgroup.affinity.matrix import Affinity, normalize_by_self, sidecar_path, symmetrize
    from mtlgroup.affinity.pairwise import pairwise_affinity
    from mtlgroup.affinity.plot import plot_affinity
    from mtlgroup.affinity.proximal import (
        ProximalAffinityTracker,
        group_tasks,
        proximal_samples,
        singletons,
    )
    from mtlgroup.affinity.steps import optimizer_lookahead, sgd_lookahead
    from mtlgroup.affinity.stgu import SelectiveGroupStrategy, measure_losses

_MODULES = {
    "estimators": ("AffinityEstimator", "CosineEstimator", "ProximalEstimator", "TagEstimator",
                   "available_estimators", "create_estimator", "estimate_affinity",
                   "register_estimator"),
    "lookahead": ("ProbeOutcome", "probe", "shared_parameters"),
    "matrix": ("Affinity", "normalize_by_self", "sidecar_path", "symmetrize"),
    "pairwise": ("pairwise_affinity",),
    "plot": ("plot_affinity",),
    "callback": ("LookaheadProbe",),
    "proximal": ("ProximalAffinityTracker", "group_tasks", "proximal_samples", "singletons"),
    "steps": ("optimizer_lookahead", "sgd_lookahead"),
    "stgu": ("SelectiveGroupStrategy", "measure_losses"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [  # a literal list, for linters and type checkers; must equal the names above
    "Affinity",
    "AffinityEstimator",
    "CosineEstimator",
    "LookaheadProbe",
    "ProbeOutcome",
    "ProximalAffinityTracker",
    "ProximalEstimator",
    "SelectiveGroupStrategy",
    "TagEstimator",
    "available_estimators",
    "create_estimator",
    "estimate_affinity",
    "group_tasks",
    "measure_losses",
    "normalize_by_self",
    "optimizer_lookahead",
    "pairwise_affinity",
    "plot_affinity",
    "probe",
    "proximal_samples",
    "register_estimator",
    "sgd_lookahead",
    "shared_parameters",
    "sidecar_path",
    "singletons",
    "symmetrize",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'mtlgroup.affinity' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mtlgroup.affinity.{_HOME[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
