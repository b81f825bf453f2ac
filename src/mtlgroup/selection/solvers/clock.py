"""Time limits shared by the solvers."""

from __future__ import annotations

import time


class SolverTimeLimit(TimeoutError):
    """A solver ran out of its time limit before proving a solution optimal."""


class Clock:
    """Wall-clock budget of one solve (``limit=None``: unlimited)."""

    def __init__(self, limit: float | None):
        self.limit = limit
        self.start = time.perf_counter()

    @property
    def limited(self) -> bool:
        return self.limit is not None

    def remaining(self) -> float:
        """Seconds left; raises :class:`SolverTimeLimit` when none are."""
        if self.limit is None:
            return float("inf")
        left = self.limit - (time.perf_counter() - self.start)
        if left <= 0:
            raise SolverTimeLimit(f"time limit of {self.limit:g} s reached")
        return left

    def check(self) -> None:
        """Raise :class:`SolverTimeLimit` if the limit has passed."""
        if self.limit is not None:
            self.remaining()
