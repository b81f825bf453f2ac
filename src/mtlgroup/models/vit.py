"""A family of small vision transformers whose ``size`` scales forward FLOPs (``--model vit``).

The encoder cuts an image ``[C, H, W]`` into ``patch × patch`` patches, embeds each with one
linear layer, adds a learned position embedding and runs ``depth`` pre-norm blocks
(``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``); a final LayerNorm follows. Its output is
the token grid as a feature map ``[D, H/patch, W/patch]``, so the default label and vector heads
(which pool it) fit as they are; dense tasks get a :class:`PatchDecoder`, a per-token MLP that
unfolds each token back into its patch of pixels.

Every linear layer of the encoder goes through one call, ``linear(name, layer, x)``: the plain
forward applies the layer, while computation sharing (:mod:`mtlgroup.sharing`) and temporal
reuse pass their own function, which computes the same layer from the non-zero differences to
another network's (or frame's) activations. Names are module paths inside the encoder
(``patch.embed``, ``blocks.0.qkv``, ``blocks.0.proj``, ``blocks.0.fc1``, ``blocks.0.fc2``).

Attention is written with explicit matrix products, so
:class:`~torch.utils.flop_counter.FlopCounterMode` counts its ``2·N²·D`` multiply-adds per
block like those of the linear layers (see :func:`vit_macs`), on every device: with torch 2.13
``F.scaled_dot_product_attention`` runs a fused kernel on the CPU that the counter sees as 0
FLOPs, while on the meta device it decomposes into counted products.

``size`` multiplies the encoder's multiply-adds: the width ``D`` (a multiple of ``heads``) is
the one whose count is closest to ``size`` times the standard one (``D = base_width``); depth,
patch and MLP ratio stay fixed, so FLOPs only grow with ``size``.

Example:
    >>> import torch
    >>> from mtlgroup.tasks import Task
    >>> net = vit_network([Task("depth", "dense", 1), Task("room", "label", 5)], (3, 32, 32))
    >>> {k: tuple(v.shape) for k, v in net(torch.zeros(2, 3, 32, 32)).items()}
    {'depth': (2, 1, 32, 32), 'room': (2, 5)}
    >>> net.encoder.width, vit_width(3, (32, 32), size=0.5)
    (64, 44)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlgroup.models.heads import build_head
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.tracing import check_input_shape
from mtlgroup.tasks import Task, TaskSet

LinearFn = Callable[[str, nn.Linear, Tensor], Tensor]
"""``linear(name, layer, x)``: how the encoder applies its linear layer ``name`` to ``x``."""


def apply_linear(name: str, layer: nn.Linear, x: Tensor) -> Tensor:
    """The plain :data:`LinearFn`: ``layer(x)``."""
    return layer(x)


def vit_macs(
    in_channels: int, image: Sequence[int], width: int, *, patch: int = 4, depth: int = 4,
    mlp_ratio: float = 2.0,
) -> int:
    """Multiply-adds of one :class:`ViTEncoder` forward for one image (LayerNorm, GELU, softmax
    and additions are element-wise and not counted, as :func:`mtlgroup.cost.count_flops` does).

    Per block: ``N·D·3D`` (qkv) + ``N²·D`` (scores) + ``N²·D`` (weighted values) + ``N·D²``
    (output projection) + ``2·N·D·hidden`` (MLP), with ``N`` tokens and ``hidden = D·ratio``.

    Example:
        >>> vit_macs(3, (32, 32), 64)
        10682368
    """
    tokens = (image[0] // patch) * (image[1] // patch)
    hidden = mlp_hidden(width, mlp_ratio)
    embed = tokens * in_channels * patch * patch * width
    block = tokens * width * 3 * width + 2 * tokens**2 * width + tokens * width**2
    block += 2 * tokens * width * hidden
    return embed + depth * block


def mlp_hidden(width: int, mlp_ratio: float) -> int:
    """The hidden width of a block's MLP."""
    return max(1, round(width * mlp_ratio))


def vit_width(
    in_channels: int, image: Sequence[int], size: float = 1.0, *, base_width: int = 64,
    heads: int = 4, patch: int = 4, depth: int = 4, mlp_ratio: float = 2.0,
) -> int:
    """The width (a multiple of ``heads``) whose multiply-adds are closest to ``size`` times
    those of width ``base_width``; ties go to the smaller width, so the width never drops as
    ``size`` grows (the count only grows with the width).

    Example:
        >>> [vit_width(3, (32, 32), s) for s in (0.25, 0.5, 1.0, 2.0)]
        [28, 44, 64, 92]
    """
    _check_architecture(in_channels, image, size, base_width, heads, patch, depth, mlp_ratio)

    def macs(width: int) -> int:
        return vit_macs(in_channels, image, width, patch=patch, depth=depth,
                        mlp_ratio=mlp_ratio)

    target = size * macs(base_width)
    width = heads
    while macs(width + heads) <= target:
        width += heads
    above = width + heads
    # width is the largest multiple with macs <= target (or the smallest one, heads).
    if macs(width) > target or target - macs(width) <= macs(above) - target:
        return width
    return above


def _check_architecture(
    in_channels: int, image: Sequence[int], size: float, base_width: int, heads: int,
    patch: int, depth: int, mlp_ratio: float,
) -> None:
    for name, value in (("in_channels", in_channels), ("base_width", base_width),
                        ("heads", heads), ("patch", patch), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"ViT {name} must be an integer >= 1, got {value!r}")
    if not (isinstance(size, (int, float)) and math.isfinite(size) and size > 0):
        raise ValueError(f"encoder size must be a positive finite number, got {size!r}")
    if not (isinstance(mlp_ratio, (int, float)) and mlp_ratio > 0):
        raise ValueError(f"ViT mlp_ratio must be a positive number, got {mlp_ratio!r}")
    if base_width % heads:
        raise ValueError(f"ViT base_width ({base_width}) must be a multiple of heads ({heads})")
    height, width = image
    if height % patch or width % patch:
        raise ValueError(
            f"ViT patch {patch} must divide the image size {height}x{width} (pass `patch: P` "
            "with a divisor of both)"
        )


class PatchEmbedding(nn.Module):
    """``[B, C, H, W] -> [B, N, D]``: non-overlapping patches, one linear layer, position
    embedding. The linear layer is ``embed`` (applied through the encoder's ``linear``)."""

    def __init__(self, in_channels: int, image: Sequence[int], patch: int, width: int):
        super().__init__()
        self.patch = patch
        self.grid = (image[0] // patch, image[1] // patch)
        self.embed = nn.Linear(in_channels * patch * patch, width)
        self.position = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1], width))
        nn.init.trunc_normal_(self.position, std=0.02)

    def patches(self, images: Tensor) -> Tensor:
        """``[B, C, H, W] -> [B, N, C·patch²]``, patches in row-major order."""
        return F.unfold(images, self.patch, stride=self.patch).transpose(1, 2)

    def forward(self, images: Tensor, linear: LinearFn = apply_linear,
                prefix: str = "patch.") -> Tensor:
        return linear(prefix + "embed", self.embed, self.patches(images)) + self.position


class ViTBlock(nn.Module):
    """A pre-norm transformer block: multi-head self-attention, then a GELU MLP."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"ViT width {width} must be a multiple of heads ({heads})")
        self.heads = heads
        hidden = mlp_hidden(width, mlp_ratio)
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def attention(self, qkv: Tensor) -> Tensor:
        """``[B, N, 3D] -> [B, N, D]``: scaled dot-product attention of each head, heads
        concatenated (explicit products, so the FLOP counter sees them)."""
        batch, tokens, three_width = qkv.shape
        head_dim = three_width // (3 * self.heads)
        q, k, v = qkv.reshape(batch, tokens, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) * head_dim**-0.5
        mixed = scores.softmax(dim=-1) @ v  # [B, heads, N, head_dim]
        return mixed.transpose(1, 2).reshape(batch, tokens, three_width // 3)

    def forward(self, x: Tensor, linear: LinearFn = apply_linear, prefix: str = "") -> Tensor:
        attended = self.attention(linear(prefix + "qkv", self.qkv, self.norm1(x)))
        x = x + linear(prefix + "proj", self.proj, attended)
        hidden = F.gelu(linear(prefix + "fc1", self.fc1, self.norm2(x)))
        return x + linear(prefix + "fc2", self.fc2, hidden)


class ViTEncoder(nn.Module):
    """Size-scalable ViT encoder: ``[B, C, H, W] -> [B, D, H/patch, W/patch]``.

    Args:
        input_shape: one image ``(C, H, W)``; ``patch`` must divide ``H`` and ``W``.
        size: forward-FLOP multiplier relative to the standard encoder (``size=1``).
        base_width: the token width ``D`` of the standard encoder (a multiple of ``heads``).
        heads: attention heads per block.
        patch: side of the square patches.
        depth: number of transformer blocks.
        mlp_ratio: hidden width of each block's MLP over ``D``.

    Attributes:
        width: the chosen ``D``; ``out_channels`` is the same number.
        linear_names: the names :data:`LinearFn` receives, in forward order.
    """

    def __init__(
        self, input_shape: Sequence[int], size: float = 1.0, base_width: int = 64,
        heads: int = 4, patch: int = 4, depth: int = 4, mlp_ratio: float = 2.0,
    ):
        super().__init__()
        shape = check_input_shape(input_shape)
        if len(shape) != 3:
            raise ValueError(
                f"the ViT family takes images [C, H, W], got inputs of shape {shape} "
                "(use --model mlp for feature vectors)"
            )
        channels, *image = shape
        self.input_shape = shape
        self.size = float(size)
        self.width = vit_width(channels, image, size, base_width=base_width, heads=heads,
                               patch=patch, depth=depth, mlp_ratio=mlp_ratio)
        self.patch = PatchEmbedding(channels, image, patch, self.width)
        self.blocks = nn.ModuleList(ViTBlock(self.width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(self.width)
        self.linear_names: tuple[str, ...] = ("patch.embed",) + tuple(
            f"blocks.{i}.{name}" for i in range(depth) for name in ("qkv", "proj", "fc1", "fc2")
        )

    @property
    def out_channels(self) -> int:
        return self.width

    def linear_layer(self, name: str) -> nn.Linear:
        """The linear layer called ``name`` (one of :attr:`linear_names`)."""
        layer = self.get_submodule(name)
        assert isinstance(layer, nn.Linear)
        return layer

    def tokens(self, images: Tensor, linear: LinearFn = apply_linear) -> Tensor:
        """The final token features ``[B, N, D]`` (after the last LayerNorm)."""
        x = self.patch(images, linear)
        for index, block in enumerate(self.blocks):
            x = block(x, linear, prefix=f"blocks.{index}.")
        return self.norm(x)

    def to_map(self, tokens: Tensor) -> Tensor:
        """``[B, N, D] -> [B, D, H/patch, W/patch]``."""
        rows, cols = self.patch.grid
        return tokens.transpose(1, 2).reshape(tokens.shape[0], self.width, rows, cols)

    def forward(self, images: Tensor, linear: LinearFn = apply_linear) -> Tensor:
        return self.to_map(self.tokens(images, linear))

    def extra_repr(self) -> str:
        return f"size={self.size}, width={self.width}"


class PatchDecoder(nn.Module):
    """A dense head for ViT features ``[D, h, w]``: a per-token MLP (LayerNorm → linear →
    GELU → linear to ``channels · patch²``) whose outputs unfold into each token's patch of
    pixels, ``[B, channels, h·patch, w·patch]``. Its FLOPs follow the encoder's width."""

    def __init__(self, feature_shape: Sequence[int], input_shape: Sequence[int], channels: int):
        super().__init__()
        width, rows, cols = tuple(feature_shape)
        image = tuple(input_shape)
        if image[1] % rows or image[2] % cols or image[1] // rows != image[2] // cols:
            raise ValueError(f"a patch decoder needs square patches: features {feature_shape} "
                             f"do not tile inputs {image}")
        self.patch = image[1] // rows
        self.channels = channels
        self.mlp = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(),
            nn.Linear(width, channels * self.patch**2),
        )

    def forward(self, features: Tensor) -> Tensor:
        batch, _, rows, cols = features.shape
        pixels = self.mlp(features.flatten(2).transpose(1, 2))  # [B, N, channels·patch²]
        return F.fold(pixels.transpose(1, 2), (rows * self.patch, cols * self.patch),
                      self.patch, stride=self.patch)


def vit_head(task: Task, feature_shape: Sequence[int], input_shape: Sequence[int]) -> nn.Module:
    """A task's head on ViT features: its own factory if it brings one, a :class:`PatchDecoder`
    for a dense task, else the default head (pooled label or vector head)."""
    if task.head is None and task.kind == "dense":
        return PatchDecoder(feature_shape, input_shape, task.channels)
    return build_head(task, feature_shape, input_shape)


def vit_network(
    tasks: TaskSet | Sequence[Task], input_shape: Sequence[int], size: float = 1.0,
    **options: Any,
) -> MultiTaskNet:
    """A :class:`MultiTaskNet` of a :class:`ViTEncoder` and one head per task
    (:func:`vit_head`); ``options`` go to the encoder (``base_width``, ``heads``, ``patch``,
    ``depth``, ``mlp_ratio``). Weights come from torch's global RNG."""
    task_set = tasks if isinstance(tasks, TaskSet) else TaskSet(tasks)
    if len(task_set) == 0:
        raise ValueError("vit_network needs at least one task")
    encoder = ViTEncoder(input_shape, size, **options)
    features = (encoder.width, *encoder.patch.grid)
    shape = encoder.input_shape
    return MultiTaskNet(encoder, {task.name: vit_head(task, features, shape) for task in task_set})
