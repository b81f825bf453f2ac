"""What a run cost: its trainings (trained now or reused from the store), device hours and
wall time.

A training counts as *trained by this run* when its job finished after the run started, and as
*reused* when the store already held it (an earlier run of the same settings, or another
estimator's run sharing the store). CPU and GPU hours are the sums of the jobs' wall times by
the device each job trained on (``cuda`` or ``mps``: GPU): device time, not core time.

Example:
    >>> from types import SimpleNamespace as Job
    >>> jobs = [Job(wall_time=3600.0, started_at=5.0, finished_at=10.0,
    ...             outcome=Job(device="cpu")),
    ...         Job(wall_time=1800.0, started_at=20.0, finished_at=30.0,
    ...             outcome=Job(device="cuda:0"))]
    >>> costs = TrainingCosts.of(jobs, run_started=15.0, wall_seconds=40.0)
    >>> costs.trained, costs.reused, costs.cpu_hours, costs.gpu_hours
    (1, 1, 1.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol


class _Outcome(Protocol):
    device: str


class Job(Protocol):
    """What is read of a job (a :class:`~mtlgroup.study.store.JobRecord`)."""

    @property
    def wall_time(self) -> float | None: ...

    @property
    def started_at(self) -> float | None: ...

    @property
    def finished_at(self) -> float | None: ...

    @property
    def outcome(self) -> _Outcome | None: ...


@dataclass(frozen=True)
class TrainingCosts:
    """The cost of a run's trainings (see the module's docstring).

    Attributes:
        trainings: the trainings whose results the run used (trained now or reused).
        trained, reused: of those, trained by this run / found in the store.
        cpu_hours, gpu_hours: device hours of all of them.
        training_seconds: their summed wall time.
        span_seconds: from the first training's start to the last one's end.
        wall_seconds: the wall time of this run, from its first stage to the report (a
            report redrawn alone: the report's own).
    """

    trainings: int
    trained: int
    reused: int
    cpu_hours: float
    gpu_hours: float
    training_seconds: float
    span_seconds: float | None
    wall_seconds: float

    @classmethod
    def of(cls, jobs: Sequence[Job], run_started: float, wall_seconds: float
           ) -> TrainingCosts:
        """The costs of ``jobs``, for a run that started at ``run_started`` (``time.time()``)."""
        trained = sum(1 for j in jobs if (j.finished_at or 0.0) >= run_started)
        seconds = {"cpu": 0.0, "gpu": 0.0}
        for job in jobs:
            device = job.outcome.device if job.outcome is not None else "cpu"
            seconds["cpu" if device.startswith("cpu") else "gpu"] += job.wall_time or 0.0
        starts = [j.started_at for j in jobs if j.started_at is not None]
        ends = [j.finished_at for j in jobs if j.finished_at is not None]
        return cls(
            trainings=len(jobs), trained=trained, reused=len(jobs) - trained,
            cpu_hours=seconds["cpu"] / 3600.0, gpu_hours=seconds["gpu"] / 3600.0,
            training_seconds=seconds["cpu"] + seconds["gpu"],
            span_seconds=max(ends) - min(starts) if starts and ends else None,
            wall_seconds=wall_seconds,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[tuple[str, str]]:
        """``(what, value)`` for the report's table."""
        return [
            ("trainings used by this run", f"{self.trainings}"),
            ("… trained by this run", f"{self.trained}"),
            ("… reused from the store (trained before this run started)", f"{self.reused}"),
            ("CPU hours (sum of the trainings' wall times on CPU)", f"{self.cpu_hours:.3f} h"),
            ("GPU hours (sum of the trainings' wall times on GPU)", f"{self.gpu_hours:.3f} h"),
            ("training time, summed over trainings", duration(self.training_seconds)),
            ("trainings' span (first start to last end)", duration(self.span_seconds)),
            ("wall time of this run, from its first stage to this report",
             duration(self.wall_seconds)),
        ]


def duration(seconds: float | None) -> str:
    """:func:`~mtlgroup.study.status.format_seconds`, ``–`` without a value.

    >>> duration(42.4), duration(185), duration(None)
    ('42.4 s', '3 min 05 s', '–')
    """
    from mtlgroup.study.status import format_seconds

    return "–" if seconds is None else format_seconds(seconds)
