"""Default heads: output shapes per task kind, any feature geometry, clear errors."""

from __future__ import annotations

import pytest
import torch

from mtlgroup.models import ConvEncoder, DenseDecoder, GlobalPool, default_head, make_network
from mtlgroup.tasks import Task


def expected_shape(task: Task, batch: int, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    if task.kind == "dense":
        return (batch, task.channels, *input_shape[1:])
    return (batch, task.channels)


def test_each_kind_predicts_its_shape(
    mixed_tasks: list[Task], input_shape: tuple[int, ...]
) -> None:
    net = make_network(mixed_tasks, input_shape, size=0.5)
    out = net(torch.randn(3, *input_shape))
    assert {name: tuple(v.shape) for name, v in out.items()} == {
        t.name: expected_shape(t, 3, input_shape) for t in mixed_tasks
    }


@pytest.mark.parametrize("stages", [0, 1, 3])
def test_dense_decoder_reaches_input_size_for_any_reduction(stages: int) -> None:
    # 28 / 2^3 is not an integer (28 -> 14 -> 7 -> 4): the last step must land on 28 exactly.
    encoder = ConvEncoder(1, stages=stages)
    features = encoder(torch.zeros(2, 1, 28, 28))
    head = default_head(Task("edges", "dense", 2), tuple(features.shape[1:]), (1, 28, 28))
    assert head(features).shape == (2, 2, 28, 28)


def test_dense_decoder_follows_the_resolution_it_is_given() -> None:
    # Built for 32x32 inputs (8x8 features); fully convolutional, so 64x64 inputs work too.
    decoder = DenseDecoder((16, 8, 8), (3, 32, 32), out_channels=1)
    assert decoder(torch.zeros(1, 16, 16, 16)).shape == (1, 1, 64, 64)


def test_dense_decoder_width_scales_with_feature_channels() -> None:
    narrow = DenseDecoder((32, 8, 8), (3, 32, 32), 1)
    wide = DenseDecoder((64, 8, 8), (3, 32, 32), 1)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert 3 < count(wide) / count(narrow) < 4.5  # ~ width squared


def test_dense_head_needs_spatial_features() -> None:
    with pytest.raises(ValueError, match="spatial features"):
        default_head(Task("depth", "dense", 1), (128,), (3, 32, 32))


@pytest.mark.parametrize("feature_shape", [(16, 4, 4), (9, 16), (16,)])
def test_label_and_vector_heads_accept_maps_tokens_and_vectors(
    feature_shape: tuple[int, ...],
) -> None:
    features = torch.randn(5, *feature_shape)
    for task in (Task("room", "label", 7), Task("pose", "vector", 4)):
        head = default_head(task, feature_shape, (3, 32, 32))
        assert head(features).shape == (5, task.channels)


def test_global_pool_is_the_mean_over_positions() -> None:
    maps = torch.randn(2, 3, 4, 5)
    tokens = maps.flatten(2).transpose(1, 2)  # [B, N, D] with the same values
    assert torch.allclose(GlobalPool()(maps), GlobalPool()(tokens), atol=1e-6)
    assert torch.allclose(GlobalPool()(maps), maps.mean(dim=(2, 3)))


def test_build_head_honours_the_task_factory_and_task_build_head_delegates() -> None:
    from torch import nn

    from mtlgroup.models import build_head

    calls = []

    def factory(task: Task, feature_shape: tuple[int, ...], input_shape: tuple[int, ...]):
        calls.append((task.name, feature_shape, input_shape))
        return nn.Identity()

    own = Task("pose", "vector", 3, head=factory)
    assert isinstance(build_head(own, [16, 4, 4], [3, 32, 32]), nn.Identity)
    assert calls == [("pose", (16, 4, 4), (3, 32, 32))]
    plain = Task("room", "label", 5)
    assert type(build_head(plain, (16, 4, 4), (3, 32, 32))) is type(
        default_head(plain, (16, 4, 4), (3, 32, 32))
    )
    # The method kept for older callers builds the same heads, with no import of models in tasks.
    assert isinstance(own.build_head((16, 4, 4), (3, 32, 32)), nn.Identity)
    assert plain.build_head((16, 4, 4), (3, 32, 32))[1].out_features == 5
