from __future__ import annotations

import pytest
import torch

from mtlgroup.tasks import (
    LOSSES,
    Task,
    TaskSet,
    UnknownTaskError,
    parse_task_list,
)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_masked_loss_equals_loss_on_the_labelled_samples_only(loss):
    torch.manual_seed(0)
    task = Task("t", kind="dense", channels=3, loss=loss)
    pred = torch.randn(6, 3, 4, 4, requires_grad=True)
    target = torch.randint(0, 3, (6, 4, 4)) if loss == "cross_entropy" else torch.randn(6, 3, 4, 4)
    mask = torch.tensor([True, False, True, True, False, False])
    masked = task.masked_loss(pred, target, mask)
    assert torch.allclose(masked, task.per_sample_loss(pred[mask], target[mask]).mean())
    masked.backward()
    assert torch.all(pred.grad[~mask] == 0)  # unlabelled samples get no gradient
    assert torch.any(pred.grad[mask] != 0)


def test_unlabelled_garbage_does_not_leak_into_the_gradient():
    task = Task("t", kind="vector", channels=2, loss="l1")
    pred = torch.zeros(3, 2, requires_grad=True)
    target = torch.tensor([[1.0, 1.0], [float("nan"), float("inf")], [0.5, 0.5]])
    loss = task.masked_loss(pred, target, torch.tensor([True, False, True]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_no_labelled_sample_gives_a_zero_that_backpropagates():
    task = Task("t", kind="vector", channels=2)
    pred = torch.randn(3, 2, requires_grad=True)
    loss = task.masked_loss(pred, torch.randn(3, 2), torch.zeros(3, dtype=torch.bool))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.all(pred.grad == 0)


@pytest.mark.parametrize("name", ["", "a+b", "a/b", "a,b", "a.b", "a b", "a@2"])
def test_task_names_that_would_break_network_names_are_rejected(name):
    with pytest.raises(ValueError):
        Task(name, kind="dense", channels=1)


def test_bad_kind_channels_or_loss_are_rejected():
    with pytest.raises(ValueError, match="kind"):
        Task("t", kind="map", channels=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channels"):
        Task("t", kind="dense", channels=0)
    with pytest.raises(ValueError, match="unknown loss 'huber'"):
        Task("t", kind="dense", channels=1, loss="huber")


def test_task_set_lookup_subset_and_errors():
    ts = TaskSet([Task(n, "vector", 1) for n in ("a", "b", "c")])
    assert ts.subset(["c", "a"]).names == ("c", "a")
    assert "b" in ts and "z" not in ts
    with pytest.raises(UnknownTaskError, match="valid tasks: a, b, c"):
        ts["z"]
    with pytest.raises(ValueError, match="duplicate"):
        TaskSet([Task("a", "vector", 1), Task("a", "vector", 2)])


def test_parse_task_list():
    assert parse_task_list(" b, a ", ["a", "b"]) == ["b", "a"]
    with pytest.raises(ValueError, match="empty"):
        parse_task_list(",", ["a"])
    with pytest.raises(ValueError, match="twice"):
        parse_task_list("a,a", ["a"])
    with pytest.raises(UnknownTaskError):
        parse_task_list("q", ["a"])
