"""Fixtures for affinity tests: the registered ``synthetic`` dataset and the standard network
(BatchNorm in the encoder and in the dense heads, a label task and a vector task)."""

from __future__ import annotations

import pytest
import torch

from mtlgroup.data import load_dataset
from mtlgroup.data.base import Batch, MultiTaskData
from mtlgroup.models import make_network
from mtlgroup.training import task_losses


@pytest.fixture(scope="session")
def synthetic() -> MultiTaskData:
    return load_dataset("synthetic", n_train=64, n_val=16, n_test=16, size=8)


@pytest.fixture
def network(synthetic):
    """A small standard network in training mode, after a few Adam steps (non-trivial state)."""
    torch.manual_seed(0)
    model = make_network(synthetic.tasks, synthetic.input_shape, size=0.25).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    for batch in list(synthetic.train.batches(16))[:3]:
        optimizer.zero_grad(set_to_none=True)
        sum(task_losses(model(batch.inputs), batch, synthetic.tasks).values()).backward()
        optimizer.step()
    return model, optimizer


@pytest.fixture
def batch(synthetic) -> Batch:
    return next(synthetic.train.batches(16))

