"""Build the network for a task subset: an encoder plus each task's head.

Example:
    >>> from mtlgroup.tasks import Task
    >>> net = make_network([Task("depth", "dense", 1), Task("room", "label", 5)], (3, 32, 32))
    >>> net.tasks
    ('depth', 'room')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from mtlgroup.models.heads import build_head
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.registry import create_encoder
from mtlgroup.models.tracing import check_input_shape, feature_shape
from mtlgroup.tasks import Task, TaskSet


def make_network(
    tasks: TaskSet | Sequence[Task],
    input_shape: Sequence[int],
    size: float = 1.0,
    encoder: str | nn.Module = "conv",
    **encoder_kwargs: Any,
) -> MultiTaskNet:
    """A :class:`MultiTaskNet` predicting ``tasks`` from inputs of ``input_shape`` (no batch dim).

    Args:
        tasks: the tasks the network carries; each head comes from
            :func:`~mtlgroup.models.heads.build_head` (the task's own factory or the default).
        input_shape: one input, e.g. ``(3, 32, 32)``; its first entry is the input channels.
        size: encoder FLOP multiplier (1.0 = the standard network, 0.5 = half its FLOPs).
        encoder: a registered encoder name (see :func:`~mtlgroup.models.available_encoders`)
            or an encoder module of your own (then ``size`` and ``encoder_kwargs`` must be left
            out, since the module is used as given).
        encoder_kwargs: passed to the registered encoder, e.g. ``base_width=32``.

    Weights are initialised from torch's global RNG, so ``torch.manual_seed(s)`` before the call
    makes the network reproducible.
    """
    task_set = tasks if isinstance(tasks, TaskSet) else TaskSet(tasks)
    if len(task_set) == 0:
        raise ValueError("make_network needs at least one task")
    shape = check_input_shape(input_shape)
    if isinstance(encoder, nn.Module):
        if size != 1.0 or encoder_kwargs:
            raise ValueError(
                "size and encoder keyword arguments apply to a registered encoder name; "
                f"got an encoder module ({type(encoder).__name__}) together with size={size} "
                f"and {sorted(encoder_kwargs)}"
            )
        body = encoder
    else:
        body = create_encoder(encoder, in_channels=shape[0], size=size, **encoder_kwargs)
    features = feature_shape(body, shape)
    heads = {task.name: build_head(task, features, shape) for task in task_set}
    return MultiTaskNet(body, heads)
