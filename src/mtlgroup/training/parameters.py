"""Which parameters the tasks share and which belong to one task's head.

Strategies that treat shared and task-specific parameters differently (Jacobian aggregators,
GradNorm, selective group updates) and the lookahead probes ask here. A model declares the split
with ``shared_parameters()`` / ``task_parameters(task)`` (as
:class:`~mtlgroup.models.MultiTaskNet` does), or exposes an ``encoder`` module and a ``heads``
``ModuleDict``.

Example:
    >>> from torch import nn
    >>> from mtlgroup.models import MultiTaskNet
    >>> net = MultiTaskNet(nn.Linear(3, 4), {"a": nn.Linear(4, 1), "b": nn.Linear(4, 2)})
    >>> list(shared_parameters(net)), [tuple(p.shape) for p in task_parameters(net, "b")]
    (['encoder.weight', 'encoder.bias'], [(2, 4), (2,)])
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def shared_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The model's trainable shared parameters by name: ``model.shared_parameters()`` if it has
    that method (:class:`~mtlgroup.models.MultiTaskNet`), else those of ``model.encoder``."""
    declared, encoder = getattr(model, "shared_parameters", None), getattr(model, "encoder", None)
    if declared is not None:
        chosen = {id(p) for p in declared()}
    elif isinstance(encoder, nn.Module):
        chosen = {id(p) for p in encoder.parameters()}
    else:
        raise TypeError(
            f"{type(model).__name__} exposes neither shared_parameters() nor an 'encoder' "
            "module: a lookahead probe or a multi-task strategy needs to know which parameters "
            "the tasks share"
        )
    named = {n: p for n, p in model.named_parameters() if id(p) in chosen and p.requires_grad}
    if not named:
        raise ValueError(f"{type(model).__name__} has no trainable shared parameters")
    return named


def task_parameters(model: nn.Module, task: str) -> Iterable[nn.Parameter]:
    """The parameters of ``task``'s own head: ``model.task_parameters(task)``, else those of
    ``model.heads[task]``."""
    declared = getattr(model, "task_parameters", None)
    if declared is not None:
        return declared(task)
    heads = getattr(model, "heads", None)
    if isinstance(heads, nn.ModuleDict) and task in heads:
        return heads[task].parameters()
    raise TypeError(
        f"{type(model).__name__} exposes neither task_parameters(task) nor a 'heads' ModuleDict: "
        "selective group updates need to know each task's own parameters"
    )
