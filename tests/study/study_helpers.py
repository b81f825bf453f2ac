"""Helpers shared by the study tests: tiny data options and fake job functions.

A fake job returns made-up losses derived from the job key, so store and study logic can be
tested without training; it is a module-level function, so process pools can pickle it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from mtlgroup.study.jobs import JobOutcome, JobSpec

TINY_DATA = {"n_train": 32, "n_val": 16, "n_test": 16, "size": 8}
"""Synthetic data small enough that one job trains in well under a second."""
TINY_TRAINING = {"max_steps": 4, "batch_size": 16, "eval_every": 2}
TASKS = ("bright", "parity", "moments")


def pseudo_loss(key: str, salt: str) -> float:
    """A deterministic number in [0.1, 1.1) from a job key."""
    digest = hashlib.sha256(f"{key}/{salt}".encode()).hexdigest()
    return 0.1 + int(digest[:8], 16) / 16**8


def fake_outcome(spec: JobSpec) -> JobOutcome:
    tasks = list(spec.candidate.tasks)
    scores = {
        split: {t: {"loss": pseudo_loss(spec.key, f"{split}/{t}")} for t in tasks}
        for split in ("val", "test", "early")
    }
    return JobOutcome(
        network=spec.network, tasks=tasks, size=spec.candidate.size,
        budget_fraction=spec.candidate.budget_fraction, scores=scores,
        flops=1000.0 * spec.candidate.size * (1 + 0.1 * len(tasks)), input_shape=[3, 8, 8],
        wall_time=0.01, steps=4, total_steps=4,
    )


def fake_job(spec: JobSpec) -> JobOutcome:
    """A job function that trains nothing."""
    return fake_outcome(spec)


def failing_on(task: str):
    """A job function failing every network that carries ``task``."""

    def job(spec: JobSpec) -> JobOutcome:
        if task in spec.candidate.tasks:
            raise FloatingPointError(f"loss of {task} is nan")
        return fake_outcome(spec)

    return job


def integrity_ok(path: Path) -> bool:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def exit_on_negative(value: int) -> int:
    """A job function whose worker process dies (as if killed by the OS) on a negative input."""
    import os

    if value < 0:
        os._exit(3)
    return value
