"""A family of MLP encoders for tabular inputs whose ``size`` scales forward FLOPs.

The encoder flattens each input to a vector of ``in_features`` and applies ``depth`` blocks of
Linear → LayerNorm → ReLU (→ Dropout), all ``width`` wide; the output is ``[B, width]``, which the
default label and vector heads take as already-pooled features.

``size`` is a FLOP multiplier, as for :class:`~mtlgroup.models.encoders.ConvEncoder`: the
encoder's multiply-adds are ``in_features · w + (depth - 1) · w²`` for width ``w``, so
:func:`mlp_widths` solves that quadratic for ``size`` times the standard count (``w =
base_width``) and rounds to the integer width with the smallest relative FLOP error.

Example:
    >>> import torch
    >>> from mtlgroup.tasks import Task
    >>> net = mlp_network([Task("sales", "vector", 1), Task("churn", "label", 2)], (10,), 0.5)
    >>> {name: tuple(out.shape) for name, out in net(torch.zeros(4, 10)).items()}
    {'sales': (4, 1), 'churn': (4, 2)}
    >>> net.encoder.widths
    (89, 89)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from mtlgroup.models.heads import build_head
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.tracing import check_input_shape
from mtlgroup.tasks import Task, TaskSet


def mlp_macs(in_features: int, widths: Sequence[int]) -> int:
    """Multiply-adds of the Linear layers of an :class:`MLPEncoder` with ``widths``, per sample.

    LayerNorm, ReLU and bias additions are element-wise and not counted (like
    :func:`mtlgroup.cost.count_flops`, which counts one multiply-add as 2 FLOPs).

    Example:
        >>> mlp_macs(10, (128, 128))
        17664
    """
    macs, previous = 0, in_features
    for width in widths:
        macs += previous * width
        previous = width
    return macs


def mlp_widths(
    in_features: int, size: float = 1.0, base_width: int = 128, depth: int = 2
) -> tuple[int, ...]:
    """Hidden widths (all equal) whose multiply-adds are closest to ``size`` × standard.

    The standard encoder (``size=1``) has ``depth`` layers of ``base_width``. The continuous
    width solving ``in_features · w + (depth - 1) · w² = size · standard`` is rounded down or up,
    whichever gives the smaller relative FLOP error (never below 1). The result never shrinks as
    ``size`` grows: the continuous width grows with it, and the choice between its two
    neighbours flips from the lower to the upper one exactly once.

    Example:
        >>> mlp_widths(10), mlp_widths(10, size=4.0), mlp_widths(10, size=0.25)
        ((128, 128), (261, 261), (62, 62))
    """
    _check_architecture(in_features, size, base_width, depth)
    target = size * mlp_macs(in_features, (base_width,) * depth)
    quadratic = depth - 1
    if quadratic == 0:
        exact = target / in_features
    else:
        # The positive root of quadratic·w² + in_features·w - target = 0.
        discriminant = in_features**2 + 4 * quadratic * target
        exact = (math.sqrt(discriminant) - in_features) / (2 * quadratic)
    candidates = sorted({max(1, math.floor(exact)), max(1, math.ceil(exact))})

    def relative_error(width: int) -> float:
        return abs(mlp_macs(in_features, (width,) * depth) / target - 1.0)

    # min() keeps the first (smaller) candidate on a tie, which keeps the choice monotone.
    width = min(candidates, key=relative_error)
    return (width,) * depth


def _check_architecture(in_features: int, size: float, base_width: int, depth: int) -> None:
    for name, value in (("in_features", in_features), ("base_width", base_width),
                        ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"MLP {name} must be an integer >= 1, got {value!r}")
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise ValueError(f"encoder size must be a positive number, got {size!r}")
    if not (math.isfinite(size) and size > 0):
        raise ValueError(f"encoder size must be a positive finite number, got {size}")


class MLPEncoder(nn.Module):
    """Size-scalable MLP encoder: ``[B, *input_shape] -> [B, out_features]``.

    Args:
        input_shape: one input without the batch dimension; it is flattened, so ``(n,)`` for a
            table of ``n`` feature columns (any shape works).
        size: forward-FLOP multiplier relative to the standard encoder (``size=1``).
        base_width: the hidden width of the standard encoder.
        depth: number of Linear → LayerNorm → ReLU blocks.
        dropout: dropout probability after each block (0 disables it).

    Attributes:
        in_features: length of a flattened input.
        widths: the hidden widths chosen by :func:`mlp_widths`.
        out_features: length of the output features (the last width).
        size: the FLOP multiplier this encoder was built for.

    Example:
        >>> import torch
        >>> encoder = MLPEncoder((3, 4), size=2.0, depth=3)
        >>> encoder(torch.zeros(5, 3, 4)).shape == (5, encoder.out_features)
        True
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        size: float = 1.0,
        base_width: int = 128,
        depth: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        shape = check_input_shape(input_shape)
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.input_shape = shape
        self.in_features = math.prod(shape)
        self.size = float(size)
        self.dropout = float(dropout)
        self.widths = mlp_widths(self.in_features, self.size, base_width, depth)
        layers: list[nn.Module] = [nn.Flatten()]
        previous = self.in_features
        for width in self.widths:
            # LayerNorm rather than BatchNorm1d: it normalises each sample on its own, so a batch
            # of one (the last batch of an epoch, or a latency probe in train mode) works, and
            # train and eval modes compute the same function (no running statistics to drift).
            layers += [nn.Linear(previous, width), nn.LayerNorm(width), nn.ReLU(inplace=True)]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            previous = width
        self.body = nn.Sequential(*layers)

    @property
    def out_features(self) -> int:
        return self.widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, size={self.size}, widths={self.widths}"


def create_mlp_encoder(in_channels: int, size: float = 1.0, **options: Any) -> MLPEncoder:
    """An :class:`MLPEncoder` for 1-D inputs of ``in_channels`` features.

    This has the signature the encoder registry expects (``builder(in_channels, size,
    **kwargs)``), so it can be registered as ``mlp`` for tables, whose inputs are
    ``(n_features,)``.

    Example:
        >>> create_mlp_encoder(7, size=0.5).in_features
        7
    """
    return MLPEncoder((in_channels,), size=size, **options)


def mlp_network(
    tasks: TaskSet | Sequence[Task],
    input_shape: Sequence[int],
    size: float = 1.0,
    **options: Any,
) -> MultiTaskNet:
    """A :class:`MultiTaskNet` of an :class:`MLPEncoder` and one head per task (a task's own
    ``head`` factory, else a linear read-out for ``vector`` tasks and the default head for
    ``label`` tasks: both cost a small fraction of the encoder).

    Args:
        tasks: the tasks the network carries; ``label`` and ``vector`` tasks only, since an MLP
            has no spatial features for a ``dense`` map.
        input_shape: one input without the batch dimension, e.g. ``(n_features,)``.
        size: encoder FLOP multiplier (1.0 = the standard network).
        options: passed to :class:`MLPEncoder` (``base_width``, ``depth``, ``dropout``).

    Weights come from torch's global RNG: ``torch.manual_seed(s)`` first makes it reproducible.

    Example:
        >>> mlp_network([Task("depth", "dense", 1)], (8,))
        Traceback (most recent call last):
        ...
        ValueError: task depth is dense: dense tasks need a spatial encoder such as conv, not mlp
    """
    task_set = tasks if isinstance(tasks, TaskSet) else TaskSet(tasks)
    if len(task_set) == 0:
        raise ValueError("mlp_network needs at least one task")
    dense = [task.name for task in task_set if task.kind == "dense"]
    if dense:
        raise ValueError(
            f"task {', '.join(dense)} is dense: dense tasks need a spatial encoder such as "
            "conv, not mlp"
        )
    shape = check_input_shape(input_shape)
    encoder = MLPEncoder(shape, size, **options)
    # The output shape is known without a probe run: one vector per sample.
    features = (encoder.out_features,)
    heads = {task.name: _mlp_head(task, features, shape) for task in task_set}
    return MultiTaskNet(encoder, heads)


def _mlp_head(task: Task, features: tuple[int, ...], input_shape: tuple[int, ...]) -> nn.Module:
    # The encoder's last block is already a non-linear layer of the features, so a vector
    # task gets a linear read-out; the default VectorHead's hidden width x width layer would
    # cost about as much as the encoder and make the cost unit depend on the task's kind.
    if task.head is None and task.kind == "vector":
        return nn.Linear(features[0], task.channels)
    return build_head(task, features, input_shape)
