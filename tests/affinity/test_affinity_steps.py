"""The ``optimizer`` step rule against torch's own optimizers, every flag combination."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch

from mtlgroup.affinity import optimizer_lookahead
from mtlgroup.affinity.steps import optimizer_update

SGD_FLAGS = [
    dict(zip(("maximize", "momentum", "nesterov", "weight_decay", "dampening"), values,
             strict=True))
    for values in itertools.product((False, True), (0.0, 0.9), (False, True), (0.0, 0.1),
                                    (0.0, 0.3))
    # torch refuses Nesterov without momentum or with dampening
    if not (values[2] and (values[1] == 0 or values[4] != 0))
]


def _optimizers():
    for flags in SGD_FLAGS:
        yield "sgd", flags
    for kind, maximize, wd, amsgrad in itertools.product(
        ("adam", "adamw"), (False, True), (0.0, 0.1), (False, True)
    ):
        yield kind, {"maximize": maximize, "weight_decay": wd, "amsgrad": amsgrad}


def _make(kind: str, flags: dict, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    return cls(params, lr=0.05, **flags)


@pytest.mark.parametrize("steps", [0, 2], ids=["fresh", "with-state"])
@pytest.mark.parametrize(("kind", "flags"), list(_optimizers()),
                         ids=lambda v: v if isinstance(v, str) else "-".join(
                             f"{k}={v}" for k, v in v.items()))
def test_optimizer_lookahead_is_torchs_next_step(kind, flags, steps):
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 4, generator=generator, requires_grad=True)
    optimizer = _make(kind, flags, [weight])
    for _ in range(steps):  # fill momentum buffers / moments
        weight.grad = torch.randn(3, 4, generator=generator)
        optimizer.step()
    grads = torch.randn(2, 3, 4, generator=generator)
    moved = optimizer_lookahead(optimizer, {"w": weight}, {"w": grads})["w"]
    update = optimizer_update(optimizer, {"w": weight}, {"w": grads})["w"]
    for row in range(2):
        twin_weight = weight.detach().clone().requires_grad_()
        twin = _make(kind, flags, [twin_weight])
        twin.load_state_dict(copy.deepcopy(optimizer.state_dict()))
        twin_weight.grad = grads[row].clone()
        twin.step()
        torch.testing.assert_close(moved[row], twin_weight.detach(), rtol=1e-6, atol=1e-7)
        # The update is the displacement θ − θ' (what first-order TAG multiplies).
        torch.testing.assert_close(update[row], weight.detach() - twin_weight.detach(),
                                   rtol=1e-5, atol=1e-7)
