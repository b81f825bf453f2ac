"""The estimate's predictions against reality: for every network whose losses the estimate
predicted (HOA: from pairs; ESA: its short run) and the run later trained in full, the
predicted and the real validation loss of each of its tasks.

Example:
    >>> found = predictions({"a+b+c": {"a": 0.3, "b": 0.5, "c": 0.7}, "d+e+f": {"d": 0.1}},
    ...                     {"a+b+c": {"a": 0.25, "b": 0.5, "c": 0.9}})
    >>> [(p.network, p.task, round(p.error_percent, 1)) for p in found]
    [('a+b+c', 'a', 20.0), ('a+b+c', 'b', 0.0), ('a+b+c', 'c', -22.2)]
    >>> {task: round(error, 3) for task, error in relative_errors(found).items()}
    {'a': 0.2, 'b': 0.0, 'c': 0.222}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Prediction:
    """One (network, task): its predicted and real validation loss."""

    network: str
    task: str
    predicted: float
    real: float

    @property
    def error_percent(self) -> float | None:
        """``(predicted − real) / real × 100``: positive when the estimate was pessimistic."""
        return (self.predicted - self.real) / self.real * 100.0 if self.real else None

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "task": self.task, "predicted": self.predicted,
                "real": self.real, "error_percent": self.error_percent}


def predictions(
    predicted: Mapping[str, Mapping[str, float]], real: Mapping[str, Mapping[str, float]]
) -> list[Prediction]:
    """The (network, task) pairs found in both ``predicted`` and ``real`` (``{network: {task:
    validation loss}}``, one network name for both), in ``predicted``'s order."""
    return [Prediction(network, task, float(loss), float(real[network][task]))
            for network, losses in predicted.items() if network in real
            for task, loss in losses.items() if task in real[network]]


def relative_errors(found: Iterable[Prediction]) -> dict[str, float]:
    """Task → the mean absolute relative error ``|predicted − real| / real`` of its predictions
    (ALGORITHMS §1.7: how far to trust the estimate), in order of first appearance; a real loss
    of 0 has no relative error and is left out."""
    errors: dict[str, list[float]] = {}
    for p in found:
        if p.error_percent is not None:
            errors.setdefault(p.task, []).append(abs(p.error_percent) / 100.0)
    return {task: sum(values) / len(values) for task, values in errors.items()}
