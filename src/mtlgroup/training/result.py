"""The outcome of one training, as a JSON-serialisable record."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Scores = dict[str, dict[str, float]]
"""``{task: {"loss": ..., metric: ...}}``"""


@dataclass
class TrainResult:
    """What one training produced.

    Attributes:
        tasks: the network's tasks, in order.
        val, test: per-task loss and metrics of the restored best-validation weights.
        early_val: per-task validation scores after ``early_fraction`` of the training budget
            (the ESA table), or ``None`` if not recorded.
        best_step: batch (counted from 1) after which the restored weights were kept.
        steps: batches trained, as ever (kept for old results; the same as ``batches``).
        batches, optimizer_steps: batches trained and optimizer steps taken. They differ
            under group-sequential strategies (STGU takes one step per task group); compare
            strategies on both (ALGORITHMS §3). Results saved before they existed load as 0.
        total_steps: the planned budget, in the configuration's ``budget_unit``.
        stopped_early: patience ran out before the budget was spent.
        history: one record per validation: step, mean train loss since the last one, val total.
        wall_time: seconds spent in :meth:`Trainer.fit`.
        config: the training configuration used; ``extra`` is free-form (size, cost, dataset).
    """

    tasks: list[str]
    val: Scores
    test: Scores
    early_val: Scores | None = None
    best_step: int = 0
    steps: int = 0
    total_steps: int = 0
    batches: int = 0
    optimizer_steps: int = 0
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)
    wall_time: float = 0.0
    device: str = "cpu"
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def loss(self, split: str = "val") -> dict[str, float]:
        """Per-task loss on ``split`` (``val``, ``test`` or ``early_val``)."""
        scores: Scores | None = getattr(self, split)
        if scores is None:
            raise ValueError(f"this result has no {split} scores")
        return {t: s["loss"] for t, s in scores.items()}

    def total(self, split: str = "val") -> float:
        return float(sum(self.loss(split).values()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> TrainResult:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)  # atomic: an interrupted write never leaves half a file
        return path

    @classmethod
    def load(cls, path: str | Path) -> TrainResult:
        return cls.from_json(Path(path).read_text())
