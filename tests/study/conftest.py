"""Fixtures of the study tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """Train with one torch thread: on a busy machine, extra OpenMP threads slow tiny trainings
    down many times over (a study's workers get their share of cores the same way)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
