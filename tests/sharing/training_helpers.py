"""Tiny data and ViTs for the delta-training and base-choice tests (a helper module, not a
conftest: other test files of this folder bring their own)."""

from __future__ import annotations

import copy

import torch

from mtlgroup.data.base import MultiTaskData
from mtlgroup.data.synthetic import load_synthetic
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.vit import vit_network
from mtlgroup.sharing.train import DeltaConfig
from mtlgroup.training import TrainConfig, Trainer

VIT = {"base_width": 16, "depth": 2, "heads": 4, "patch": 4}


def tiny_data() -> MultiTaskData:
    """48 training and 16 validation images of 16×16 pixels."""
    return load_synthetic(n_train=48, n_val=16, n_test=16, size=16, seed=0)


def single_network(data: MultiTaskData, task: str, seed: int = 0, epochs: int = 2
                   ) -> MultiTaskNet:
    """``task``'s single-task ViT, briefly trained (``epochs=0``: as initialised)."""
    torch.manual_seed(seed)
    network = vit_network(data.tasks.subset([task]), data.input_shape, **VIT)
    if epochs:
        config = TrainConfig(epochs=epochs, batch_size=16, lr=3e-3, device="cpu",
                             progress=False, early_fraction=None)
        Trainer(config).fit(network, data, [task])
    return network


def fast_config(**changes: object) -> DeltaConfig:
    """A delta configuration for milliseconds-scale trainings on :func:`tiny_data`."""
    fields: dict[str, object] = {"sparse_epochs": 2, "finetune_epochs": 1, "batch_size": 16,
                                 "device": "cpu", "calibration_images": 48}
    fields.update(changes)
    return DeltaConfig(**fields)  # type: ignore[arg-type]


def renamed(network: MultiTaskNet, task: str) -> MultiTaskNet:
    """A copy of a one-head network whose head is called ``task``."""
    (head,) = network.heads.values()
    return MultiTaskNet(copy.deepcopy(network.encoder), {task: copy.deepcopy(head)})


def perturbed(network: MultiTaskNet, scale: float, seed: int) -> MultiTaskNet:
    """A copy with Gaussian noise of ``scale`` times each parameter's standard deviation."""
    noisy = copy.deepcopy(network)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in noisy.parameters():
            spread = float(parameter.std()) if parameter.numel() > 1 else 1.0
            parameter.add_(scale * spread * torch.randn(parameter.shape, generator=generator))
    return noisy
