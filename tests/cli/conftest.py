"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_work(monkeypatch):
    """Any training or data loading fails the test: for checks that must come before work."""

    def fail(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr("mtlgroup.training.trainer.Trainer.fit", fail)
    monkeypatch.setattr("mtlgroup.data.cached_dataset", fail)
