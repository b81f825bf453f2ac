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
    >>> from mtlgroup.models.vit import ViTEncoder
    >>> encoder = ViTEncoder((3, 16, 16), base_width=16, depth=1)
    >>> recorder = LinearRecorder()
    >>> features = encoder(torch.zeros(2, 3, 16, 16), recorder)
    >>> list(recorder.inputs) == list(encoder.linear_names)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn


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
