"""What a sub-task stores on top of the base network, and how to see a ViT's linear layers.

In computation sharing (ALGORITHMS §4) one task is the *base*: its single-task ViT runs as it
is. Every other task (*sub-task*) is the base encoder plus a :class:`TaskDelta`: a sparse delta
``M ⊙ Δ`` for each linear weight, its own small parameters (biases, LayerNorms, position
embedding: ``O(D)`` per layer against ``O(D²)`` for a weight), its own decoder, and a threshold
per linear layer below which the difference of its activations from the base's is dropped.

:class:`LinearRecorder` is the :data:`~mtlgroup.models.vit.LinearFn` that runs an encoder as it
is and keeps every linear layer's input and output, which is what a sub-task's layers are
computed from.

Example:
    >>> import torch
    >>> encoder = ViTEncoder((3, 16, 16), base_width=16, depth=1)
    >>> recorder = LinearRecorder()
    >>> features = encoder(torch.zeros(2, 3, 16, 16), recorder)
    >>> list(recorder.inputs) == list(encoder.linear_names)
    True
    >>> from mtlgroup.models.vit import vit_network
    >>> from mtlgroup.tasks import Task
    >>> base = vit_network([Task("a", "label", 2)], (3, 16, 16), base_width=16, depth=1)
    >>> same = subtask_network(base, zero_delta(base, "b", base.heads["a"]))
    >>> x = torch.randn(2, 3, 16, 16)
    >>> bool((same.encoder(x) == base.encoder(x)).all())
    True
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.tracing import module_device
from mtlgroup.models.vit import ViTEncoder


@dataclass
class TaskDelta:
    """A sub-task as a difference from the base network.

    Attributes:
        task: the sub-task's name.
        weight_deltas: linear layer name (``ViTEncoder.linear_names``) → ``M ⊙ Δ``, a dense
            ``[d_out, d_in]`` tensor that is zero outside the mask; the sub-task's weight of
            that layer is ``W_base + M ⊙ Δ``.
        own_state: the sub-task's values of every encoder state entry that is not a linear
            weight (``state_dict`` keys of the encoder: biases, LayerNorms, position).
        head: the sub-task's decoder (on features of the sub-task's encoder).
        thresholds: linear layer name → ``τ``: entries of the activation difference
            ``δ = x_sub − x_base`` with ``|δ| < τ`` are dropped at inference (missing or 0:
            every non-zero entry is kept, which computes the sub-task exactly).
    """

    task: str
    weight_deltas: dict[str, Tensor]
    own_state: dict[str, Tensor]
    head: nn.Module
    thresholds: dict[str, float] = field(default_factory=dict)

    def density(self) -> float:
        """Fraction of the linear weights' entries that are non-zero in the deltas."""
        total = sum(delta.numel() for delta in self.weight_deltas.values())
        kept = sum(int(delta.count_nonzero()) for delta in self.weight_deltas.values())
        return kept / total if total else 0.0


class LinearRecorder:
    """A ``LinearFn`` that applies each layer and keeps its input and output by name."""

    def __init__(self) -> None:
        self.inputs: dict[str, Tensor] = {}
        self.outputs: dict[str, Tensor] = {}

    def __call__(self, name: str, layer: nn.Linear, x: Tensor) -> Tensor:
        y = layer(x)
        self.inputs[name] = x
        self.outputs[name] = y
        return y


def vit_encoder(network: MultiTaskNet) -> ViTEncoder:
    """``network``'s encoder, checked to be a :class:`~mtlgroup.models.vit.ViTEncoder`
    (computation sharing needs its linear-layer hook)."""
    encoder = network.encoder
    if not isinstance(encoder, ViTEncoder):
        raise TypeError(
            f"computation sharing needs ViT networks (--model vit); got an encoder of type "
            f"{type(encoder).__name__}"
        )
    return encoder


def weight_key(name: str) -> str:
    """The ``state_dict`` key of linear layer ``name``'s weight."""
    return f"{name}.weight"


def own_state_of(encoder: ViTEncoder) -> dict[str, Tensor]:
    """Detached copies of every state entry of ``encoder`` that is not a linear weight."""
    weights = {weight_key(name) for name in encoder.linear_names}
    return {key: value.detach().clone() for key, value in encoder.state_dict().items()
            if key not in weights}


def delta_between(base: MultiTaskNet, single: MultiTaskNet, task: str) -> TaskDelta:
    """The dense delta that turns ``base``'s encoder into ``single``'s (same architecture):
    ``Δ = W_single − W_base`` for every linear layer, ``single``'s own state and head (copied).

    With it a sub-task computes exactly its own single-task network (density 1).
    """
    base_encoder, own_encoder = vit_encoder(base), vit_encoder(single)
    deltas = {
        name: (own_encoder.linear_layer(name).weight - base_encoder.linear_layer(name).weight)
        .detach().clone()
        for name in base_encoder.linear_names
    }
    return TaskDelta(task, deltas, own_state_of(own_encoder), copy.deepcopy(single.heads[task]))


def zero_delta(base: MultiTaskNet, task: str, head: nn.Module) -> TaskDelta:
    """A delta that changes nothing: zero weight deltas and the base's own state, with
    ``head`` (copied) as the sub-task's decoder. Its encoder computes the base's features."""
    encoder = vit_encoder(base)
    deltas = {name: torch.zeros_like(encoder.linear_layer(name).weight).detach()
              for name in encoder.linear_names}
    return TaskDelta(task, deltas, own_state_of(encoder), copy.deepcopy(head))


def subtask_network(base: MultiTaskNet, delta: TaskDelta) -> MultiTaskNet:
    """The dense network a sub-task amounts to: a copy of ``base``'s encoder with weights
    ``W_base + M ⊙ Δ`` and the delta's own state, and the delta's head (a copy). Used as the
    reference that the sparse computation must reproduce, and to train from."""
    encoder = copy.deepcopy(vit_encoder(base))
    state = dict(delta.own_state)
    for name in encoder.linear_names:
        weight = encoder.linear_layer(name).weight.detach()
        state[weight_key(name)] = weight + delta.weight_deltas[name].to(weight.device)
    encoder.load_state_dict(state)
    # the delta's head on the base encoder's device (its copy; the delta stays where it is)
    head = copy.deepcopy(delta.head).to(module_device(encoder))
    return MultiTaskNet(encoder, {delta.task: head})
