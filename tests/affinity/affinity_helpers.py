"""Helpers shared by the affinity tests."""

from __future__ import annotations

import copy

import torch
from torch import nn

from mtlgroup.data.base import MultiTaskData
from mtlgroup.models import make_network
from mtlgroup.training import Callback, TrainConfig, TrainState


def quick_config(**overrides) -> TrainConfig:
    """A training of a dozen steps that validates only at the end (no best-weights rollback)."""
    options = dict(max_steps=12, batch_size=16, eval_every=1000, early_fraction=None,
                   device="cpu", progress=False, lr=1e-2)
    options.update(overrides)
    return TrainConfig(**options)


def small_network(data: MultiTaskData, seed: int = 0) -> nn.Module:
    """The standard network at a quarter size, seeded (``train_network`` without FLOP counting,
    which would dominate these tiny trainings)."""
    torch.manual_seed(seed)
    return make_network(data.tasks, data.input_shape, size=0.25)


class FinalState(Callback):
    """Keeps copies of the weights, buffers and optimizer state after the last step."""

    def on_step_end(self, state: TrainState) -> None:
        if state.step == state.total_steps:
            self.model = copy.deepcopy(state.model.state_dict())
            self.optimizer = copy.deepcopy(state.optimizer.state_dict())


def assert_same_tensors(a: dict, b: dict) -> None:
    """Bitwise equality of two (nested) state dicts."""
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            assert_same_tensors(x, y)
        elif isinstance(x, torch.Tensor):
            assert torch.equal(x, y), f"{key} differs"
        else:
            assert x == y, f"{key}: {x} != {y}"


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def dropout_network(data: MultiTaskData, seed: int = 0) -> nn.Module:
    """The standard network with dropout on the shared features (new masks at every call)."""
    torch.manual_seed(seed)
    model = make_network(data.tasks, data.input_shape, size=0.25)
    model.encoder = nn.Sequential(model.encoder, nn.Dropout(0.5))
    return model.train()
