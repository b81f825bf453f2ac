"""Shared tasks and input shapes for the model and cost tests."""

from __future__ import annotations

import pytest

from mtlgroup.tasks import Task

SCENE_SHAPES = [(3, 32, 32), (3, 64, 64), (1, 28, 28)]
"""Scenes at their two resolutions and Fashion-MNIST."""


@pytest.fixture(params=SCENE_SHAPES, ids=["x".join(map(str, s)) for s in SCENE_SHAPES])
def input_shape(request: pytest.FixtureRequest) -> tuple[int, ...]:
    """Each input shape the library must support (one sample, no batch dim)."""
    return request.param


@pytest.fixture
def mixed_tasks() -> list[Task]:
    return [
        Task("normals", "dense", channels=3),
        Task("segment", "dense", channels=5, loss="cross_entropy"),
        Task("room", "label", channels=7, loss="cross_entropy"),
        Task("pose", "vector", channels=4, loss="l2"),
    ]
