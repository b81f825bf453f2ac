"""Lookahead steps: where one optimizer step on a single task's gradient would move the weights.

TAG (ALGORITHMS §2) probes ``θ' = θ − η·g_i`` for each source task ``i``. Two step rules:

- ``sgd`` (default): plain SGD with the optimizer's current learning rate of each parameter.
- ``optimizer``: the step the training optimizer itself would take next if ``g_i`` alone were
  its gradient — Adam/AdamW moments, SGD momentum, weight decay and bias correction included.
  The optimizer's state is read, never written.

Every function works on a *stack* of gradients (leading dimension = source task), so all
lookaheads come out in one set of tensor operations.

Example:
    >>> import torch
    >>> p = torch.zeros(3)
    >>> sgd_lookahead({"w": p}, {"w": torch.ones(2, 3)}, {"w": 0.1})["w"]
    tensor([[-0.1000, -0.1000, -0.1000],
            [-0.1000, -0.1000, -0.1000]])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor

StepRule = Literal["sgd", "optimizer"]
STEP_RULES: tuple[str, ...] = ("sgd", "optimizer")


def sgd_update(grads: Mapping[str, Tensor], lrs: Mapping[str, float]) -> dict[str, Tensor]:
    """``lr·g`` for each stacked gradient (``grads[name]`` is ``[n, *param.shape]``): the
    displacement ``θ − θ'`` of a plain SGD step."""
    return {name: lrs[name] * g for name, g in grads.items()}


def sgd_lookahead(
    params: Mapping[str, Tensor], grads: Mapping[str, Tensor], lrs: Mapping[str, float]
) -> dict[str, Tensor]:
    """``θ − lr·g`` for each stacked gradient: ``grads[name]`` is ``[n, *param.shape]``."""
    return _moved(params, sgd_update(grads, lrs))


def parameter_groups(
    optimizer: torch.optim.Optimizer, params: Mapping[str, Tensor]
) -> dict[str, dict[str, Any]]:
    """The optimizer's hyper-parameter group of each named parameter.

    Raises ``ValueError`` for a parameter the optimizer does not hold.
    """
    by_id = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    missing = [name for name, p in params.items() if id(p) not in by_id]
    if missing:
        raise ValueError(f"the optimizer does not hold shared parameter(s) {missing[:3]}")
    return {name: by_id[id(p)] for name, p in params.items()}


def learning_rates(
    optimizer: torch.optim.Optimizer, params: Mapping[str, Tensor]
) -> dict[str, float]:
    """The current learning rate of each named parameter."""
    return {name: float(g["lr"]) for name, g in parameter_groups(optimizer, params).items()}


def optimizer_update(
    optimizer: torch.optim.Optimizer, params: Mapping[str, Tensor], grads: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """The displacement ``θ − θ'`` of the optimizer's next step, once per stacked gradient.

    Supports ``torch.optim.SGD`` (momentum, dampening, Nesterov, weight decay), ``Adam`` and
    ``AdamW`` (weight decay, AMSGrad), each with ``maximize``, in torch's order (the gradient is
    negated first, then weight decay and momentum act on it). Other optimizers raise
    ``TypeError``: their step cannot be replayed without writing their state.
    """
    groups = parameter_groups(optimizer, params)
    if isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW):
        update = _adam_update
    elif isinstance(optimizer, torch.optim.SGD):
        update = _sgd_update
    else:
        raise TypeError(
            f"the 'optimizer' lookahead step supports SGD, Adam and AdamW, not "
            f"{type(optimizer).__name__}; use step='sgd'"
        )
    # Older torch has no group flag for AdamW's decoupled weight decay; the group's own wins.
    decoupled = {"decoupled_weight_decay": isinstance(optimizer, torch.optim.AdamW)}
    out: dict[str, Tensor] = {}
    with torch.no_grad():
        for name, p in params.items():
            state = optimizer.state.get(p, {})
            out[name] = update(p.detach(), grads[name], {**decoupled, **groups[name]}, state)
    return out


def optimizer_lookahead(
    optimizer: torch.optim.Optimizer, params: Mapping[str, Tensor], grads: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """The weights after the optimizer's next step, once per stacked gradient (see
    :func:`optimizer_update`; the optimizer's state is read, never written)."""
    return _moved(params, optimizer_update(optimizer, params, grads))


def _moved(params: Mapping[str, Tensor], updates: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {name: params[name].detach() - updates[name] for name in params}


def _adam_update(
    p: Tensor, g: Tensor, group: Mapping[str, Any], state: Mapping[str, Any]
) -> Tensor:
    lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    decoupled = group["decoupled_weight_decay"]
    if group.get("maximize", False):
        g = -g
    decay: Tensor | float = 0.0
    if wd != 0:
        if decoupled:
            decay = (lr * wd) * p
        else:
            g = g + wd * p
    t = float(state["step"]) + 1 if "step" in state else 1.0
    m = state.get("exp_avg")
    v = state.get("exp_avg_sq")
    m_new = (1 - beta1) * g if m is None else beta1 * m + (1 - beta1) * g
    v_new = (1 - beta2) * g * g if v is None else beta2 * v + (1 - beta2) * g * g
    if group.get("amsgrad", False):
        v_max = state.get("max_exp_avg_sq")
        if v_max is not None:
            v_new = torch.maximum(v_max, v_new)
    bias1 = 1 - beta1**t
    bias2_sqrt = (1 - beta2**t) ** 0.5
    denom = v_new.sqrt() / bias2_sqrt + eps
    return decay + (lr / bias1) * m_new / denom


def _sgd_update(
    p: Tensor, g: Tensor, group: Mapping[str, Any], state: Mapping[str, Any]
) -> Tensor:
    lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
    # torch negates first: weight decay and momentum then act on the ascent direction.
    if group.get("maximize", False):
        g = -g
    if wd != 0:
        g = g + wd * p
    if momentum != 0:
        buf = state.get("momentum_buffer")
        buf_new = g if buf is None else momentum * buf + (1 - group["dampening"]) * g
        g = g + momentum * buf_new if group["nesterov"] else buf_new
    return lr * g
