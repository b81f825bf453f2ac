"""MultiTaskNet: outputs per task, selective heads, parameter partition, user modules."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from mtlgroup.cost import count_flops
from mtlgroup.models import MultiTaskNet, make_network
from mtlgroup.tasks import Task, UnknownTaskError


class HandEncoder(nn.Module):
    """A user's encoder: flattens the image into a 24-dim vector (no spatial map at all)."""

    def __init__(self, in_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, 24)

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.linear(x.flatten(1)))


class HandHead(nn.Module):
    """A user's head: a quadratic readout, something no default head builds."""

    def __init__(self, dim: int, out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out, dim) / dim)

    def forward(self, features: Tensor) -> Tensor:
        return (features**2) @ self.weight.T


def test_user_encoder_and_heads_plug_in_unchanged() -> None:
    encoder, heads = HandEncoder(3 * 8 * 8), {"a": HandHead(24, 2), "b": nn.Linear(24, 5)}
    net = MultiTaskNet(encoder, heads)
    x = torch.randn(4, 3, 8, 8)
    out = net(x)
    features = encoder(x)
    assert torch.equal(out["a"], heads["a"](features))
    assert torch.equal(out["b"], heads["b"](features))
    assert net.encoder is encoder and net.heads["a"] is heads["a"]
    assert count_flops(net, (3, 8, 8)).heads.keys() == {"a", "b"}


def test_user_encoder_with_default_and_custom_head_factories() -> None:
    def factory(task: Task, feature_shape: tuple[int, ...], input_shape: tuple[int, ...]):
        return HandHead(feature_shape[0], task.channels)

    tasks = [Task("room", "label", 6), Task("pose", "vector", 3, head=factory)]
    net = make_network(tasks, (1, 28, 28), encoder=HandEncoder(28 * 28))
    out = net(torch.randn(2, 1, 28, 28))
    assert out["room"].shape == (2, 6) and out["pose"].shape == (2, 3)
    assert isinstance(net.heads["pose"], HandHead)
    with pytest.raises(ValueError, match="size"):
        make_network(tasks, (1, 28, 28), size=0.5, encoder=HandEncoder(28 * 28))


def test_forward_with_tasks_returns_only_those(mixed_tasks: list[Task]) -> None:
    net = make_network(mixed_tasks, (3, 32, 32), size=0.25).eval()
    x = torch.randn(2, 3, 32, 32)
    full = net(x)
    part = net(x, tasks=["pose", "normals"])
    assert list(part) == ["pose", "normals"]
    assert all(torch.equal(part[k], full[k]) for k in part)
    assert net.tasks == tuple(t.name for t in mixed_tasks)


def test_forward_is_decode_of_encode(mixed_tasks: list[Task]) -> None:
    net = make_network(mixed_tasks, (3, 32, 32), size=0.25).eval()
    x = torch.randn(2, 3, 32, 32)
    direct, split = net(x), net.decode(net.encode(x))
    assert all(torch.equal(direct[k], split[k]) for k in direct)


def test_unknown_or_malformed_task_selection_is_rejected(mixed_tasks: list[Task]) -> None:
    net = make_network(mixed_tasks, (3, 32, 32), size=0.25)
    with pytest.raises(UnknownTaskError, match="normals"):  # the message lists valid names
        net(torch.zeros(1, 3, 32, 32), tasks=["nope"])
    with pytest.raises(TypeError, match="list of task names"):
        net(torch.zeros(1, 3, 32, 32), tasks="pose")
    with pytest.raises(UnknownTaskError):
        list(net.task_parameters("nope"))


def test_parameters_partition_into_shared_and_per_task(mixed_tasks: list[Task]) -> None:
    net = make_network(mixed_tasks, (3, 32, 32), size=0.25)
    groups = [set(map(id, net.shared_parameters()))]
    groups += [set(map(id, net.task_parameters(t))) for t in net.tasks]
    assert all(groups)
    assert sum(map(len, groups)) == len(set().union(*groups))  # pairwise disjoint
    assert set().union(*groups) == set(map(id, net.parameters()))


def test_a_task_loss_reaches_only_its_head_and_the_encoder(mixed_tasks: list[Task]) -> None:
    net = make_network(mixed_tasks, (3, 32, 32), size=0.25)
    net(torch.randn(2, 3, 32, 32), tasks=["room"])["room"].sum().backward()
    for task in net.tasks:
        touched = [p.grad is not None for p in net.task_parameters(task)]
        assert all(touched) if task == "room" else not any(touched)
    assert all(p.grad is not None for p in net.shared_parameters())


def test_bad_heads_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least one head"):
        MultiTaskNet(nn.Identity(), {})
    with pytest.raises(ValueError, match="without '.'"):
        MultiTaskNet(nn.Identity(), {"a.b": nn.Identity()})


def test_make_network_is_deterministic_under_a_seed(mixed_tasks: list[Task]) -> None:
    def weights(seed: int) -> dict[str, Tensor]:
        torch.manual_seed(seed)
        return make_network(mixed_tasks, (3, 32, 32), size=0.5).state_dict()

    first, again = weights(3), weights(3)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
