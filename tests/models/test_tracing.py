"""Probing modules on the meta device without changing them."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from mtlgroup.models import ConvEncoder, feature_shape
from mtlgroup.models.tracing import meta_copy


class MetaHostile(nn.Module):
    """Reads a value out of its input (``.item()``), which the meta device cannot do."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        scale = 1.0 + 0.0 * float(x.abs().max().item())
        return self.conv(x) * scale


def test_feature_shape_matches_a_real_forward(input_shape: tuple[int, ...]) -> None:
    encoder = ConvEncoder(input_shape[0], size=0.5)
    real = encoder.eval()(torch.zeros(1, *input_shape)).shape[1:]
    assert feature_shape(encoder, input_shape) == tuple(real)


def test_probing_leaves_weights_statistics_and_mode_unchanged() -> None:
    encoder = ConvEncoder(3).train()
    encoder.body[1].eval()  # a mixed-mode module must keep each flag
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    feature_shape(encoder, (3, 32, 32), device="cpu")
    feature_shape(encoder, (3, 32, 32))
    after = encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert encoder.training and not encoder.body[1].training and encoder.body[0].training


def test_meta_failure_falls_back_to_a_real_run() -> None:
    with pytest.raises(RuntimeError):
        feature_shape(MetaHostile(), (3, 10, 10), device="meta")
    assert feature_shape(MetaHostile(), (3, 10, 10)) == (4, 5, 5)


def test_meta_copy_shares_nothing_and_keeps_shapes() -> None:
    encoder = ConvEncoder(3)
    copy = meta_copy(encoder)
    pairs = list(zip(encoder.state_dict().values(), copy.state_dict().values(), strict=True))
    assert all(b.device.type == "meta" and a.shape == b.shape for a, b in pairs)
    assert all(p.device.type == "cpu" for p in encoder.parameters())
