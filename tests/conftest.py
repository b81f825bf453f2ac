"""Shared fixtures. Progress bars are off in tests; helpers live in ``tiny_fixtures``."""

from __future__ import annotations

import os

import pytest
import torch

from mtlgroup.data.base import MultiTaskData
from tiny_fixtures import TINY_TASKS, TinyNet, make_tiny_data

os.environ.setdefault("MTLGROUP_PROGRESS", "0")
# Tiny tensors gain nothing from intra-op threads, and the suite also starts worker processes:
# one thread each keeps two cores from being oversubscribed.
torch.set_num_threads(1)


@pytest.fixture
def tiny_data() -> MultiTaskData:
    return make_tiny_data()


@pytest.fixture
def tiny_net_factory():
    def build(tasks: tuple[str, ...] = TINY_TASKS.names, seed: int = 0) -> TinyNet:
        torch.manual_seed(seed)
        return TinyNet(tasks)

    return build


@pytest.fixture(autouse=True, scope="session")
def _private_dataset_cache(tmp_path_factory):
    """Generated datasets go to one temporary cache for the whole test session."""
    if "MTLGROUP_CACHE" not in os.environ:
        os.environ["MTLGROUP_CACHE"] = str(tmp_path_factory.mktemp("mtlgroup-cache"))
    yield
