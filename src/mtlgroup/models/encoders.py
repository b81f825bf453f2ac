"""A family of small convolutional encoders whose ``size`` scales forward FLOPs.

The encoder is a stem (3×3 conv at full resolution) followed by ``stages`` stages; each stage
halves the resolution with a stride-2 3×3 conv, doubles the width, and adds ``blocks`` residual
3×3 convs. Every conv is followed by BatchNorm and ReLU. With the defaults the output is
``64 × H/4 × W/4`` and a 3×32×32 image costs about 15 MFLOPs.

``size`` is a FLOP multiplier: ``size=0.5`` costs half the multiply-adds of ``size=1``. Conv
FLOPs grow with the product of input and output widths, so widths scale roughly with
``sqrt(size)``. :func:`conv_widths` walks a path of integer widths on which every width only
grows with ``size`` (so the encoder's FLOPs, and the heads' that follow its last width, never
drop when ``size`` grows: ALGORITHMS §7) and picks the point whose multiply-add count is closest
to ``size`` times the standard one. The path passes through the paper's two sizes, 1 (the
standard widths) and 0.5 (the closest combination of widths, as fitted before the path
existed, so networks trained at these sizes keep their architecture).

Example:
    >>> import torch
    >>> encoder = ConvEncoder(in_channels=3, size=0.5)
    >>> encoder(torch.zeros(2, 3, 32, 32)).shape[1:] == (encoder.out_channels, 8, 8)
    True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

from torch import Tensor, nn

from mtlgroup.models.registry import register_encoder

KERNEL = 3
_DISTORTION_WEIGHT = 0.01
"""How much a width's departure from its nominal value (in log units) counts against a FLOP
mismatch (relative) when choosing widths; small, so FLOP accuracy comes first and shape
proportions only break ties."""


def conv_macs_per_pixel(in_channels: int, widths: Sequence[int], blocks: int) -> float:
    """Multiply-adds of :class:`ConvEncoder` per input pixel (exact when H, W divide by 2^stages).

    Stage ``i`` runs at ``1/4^i`` of the input's pixels.
    """
    macs = KERNEL**2 * in_channels * widths[0]
    for i in range(1, len(widths)):
        macs += KERNEL**2 * (widths[i - 1] * widths[i] + blocks * widths[i] ** 2) / 4**i
    return macs


def conv_widths(
    in_channels: int, size: float = 1.0, base_width: int = 16, stages: int = 2, blocks: int = 1
) -> tuple[int, ...]:
    """Widths ``(stem, stage 1, ..., stage S)`` whose FLOPs are closest to ``size`` × standard,
    every width non-decreasing in ``size``.

    The standard widths (``size=1``) are ``base_width · 2^i``; the half-size widths are the
    combination of integers around ``base_width · 2^i · sqrt(0.5)`` with the smallest FLOP
    error. Other sizes lie on a path through these two: below 0.5 the half-size widths scaled
    by a factor ``α ≤ 1``, between 0.5 and 1 each width moving geometrically from its half-size
    to its standard value, above 1 the standard widths scaled by ``α ≥ 1`` (each rounded to an
    integer, at least 1). On the segment of ``size`` the point with the smallest relative FLOP
    error wins (ties go to the smaller one), so a larger size never gets a smaller width.

    Example:
        >>> conv_widths(3, 1.0)
        (16, 32, 64)
        >>> all(a <= b for a, b in zip(conv_widths(3, 0.61), conv_widths(3, 0.62)))
        True
    """
    _check_architecture(in_channels, size, base_width, stages, blocks)
    standard = tuple(base_width * 2**i for i in range(stages + 1))
    if size == 1.0:
        return standard
    half = _closest_widths(in_channels, HALF_SIZE, standard, blocks)
    if size == HALF_SIZE:
        return half
    target = size * conv_macs_per_pixel(in_channels, standard, blocks)

    def macs(widths: tuple[int, ...]) -> float:
        return conv_macs_per_pixel(in_channels, widths, blocks)

    if size < HALF_SIZE:
        return _closest_on_path(lambda a: _scaled(half, a), 0.0, 1.0, macs, target)
    if size < 1.0:
        return _closest_on_path(lambda t: _between(half, standard, t), 0.0, 1.0, macs, target)
    high = 2.0
    while macs(_scaled(standard, high)) <= target:
        high *= 2
    return _closest_on_path(lambda a: _scaled(standard, a), 1.0, high, macs, target)


HALF_SIZE = 0.5
"""The paper's half-size networks: their widths are fitted directly (see :func:`conv_widths`)."""


def _rounded(value: float) -> int:
    # floor(x + 0.5), not round(): banker's rounding would make a width drop as x grows.
    return max(1, math.floor(value + 0.5))


def _scaled(widths: tuple[int, ...], factor: float) -> tuple[int, ...]:
    return tuple(_rounded(w * factor) for w in widths)


def _between(low: tuple[int, ...], high: tuple[int, ...], t: float) -> tuple[int, ...]:
    """Each width moved geometrically from ``low`` (``t=0``) to ``high`` (``t=1``)."""
    return tuple(_rounded(a * (b / a) ** t) for a, b in zip(low, high, strict=True))


def _closest_on_path(
    path: Callable[[float], tuple[int, ...]], low: float, high: float,
    macs: Callable[[tuple[int, ...]], float], target: float,
) -> tuple[int, ...]:
    """On a path whose multiply-adds never drop as its parameter grows from ``low`` to
    ``high``, the widths closest to ``target`` (relative error; ties go to the smaller)."""
    if macs(path(high)) <= target:
        return path(high)
    if macs(path(low)) > target:
        return path(low)
    for _ in range(64):  # invariant: macs(path(low)) <= target < macs(path(high))
        middle = (low + high) / 2
        low, high = (middle, high) if macs(path(middle)) <= target else (low, middle)
    below, above = path(low), path(high)
    return below if target - macs(below) <= macs(above) - target else above


def _closest_widths(
    in_channels: int, size: float, standard: tuple[int, ...], blocks: int
) -> tuple[int, ...]:
    """Among the integer widths next to ``standard_i · sqrt(size)``, those with the smallest
    relative FLOP error (ties go to the least distorted shape)."""
    target = size * conv_macs_per_pixel(in_channels, standard, blocks)
    nominal = [w * math.sqrt(size) for w in standard]
    choices = [range(max(1, math.floor(n) - 1), math.ceil(n) + 2) for n in nominal]

    def mismatch(widths: tuple[int, ...]) -> float:
        flop_error = abs(conv_macs_per_pixel(in_channels, widths, blocks) / target - 1.0)
        distortion = sum(abs(math.log(w / n)) for w, n in zip(widths, nominal, strict=True))
        return flop_error + _DISTORTION_WEIGHT * distortion

    return min(itertools.product(*choices), key=mismatch)


def _check_architecture(
    in_channels: int, size: float, base_width: int, stages: int, blocks: int
) -> None:
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    if not (math.isfinite(size) and size > 0):
        raise ValueError(f"encoder size must be a positive number, got {size}")
    if base_width < 1:
        raise ValueError(f"base_width must be >= 1, got {base_width}")
    if stages < 0 or blocks < 0:
        raise ValueError(f"stages and blocks must be >= 0, got stages={stages}, blocks={blocks}")


class ConvBNReLU(nn.Sequential):
    """3×3 conv (no bias: BatchNorm follows) → BatchNorm → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, KERNEL, stride, padding=KERNEL // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualConv(nn.Module):
    """``relu(x + bn(conv3x3(x)))``: one conv with an identity shortcut, to ease optimisation."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, KERNEL, padding=KERNEL // 2, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return (x + self.bn(self.conv(x))).relu()


@register_encoder("conv")
class ConvEncoder(nn.Module):
    """Size-scalable conv encoder: ``[B, in_channels, H, W] -> [B, out_channels, H/r, W/r]``.

    Args:
        in_channels: channels of the input images.
        size: forward-FLOP multiplier relative to the standard encoder (``size=1``).
        base_width: stem width of the standard encoder; stage ``i`` has ``base_width · 2^i``.
        stages: number of stride-2 stages; the output resolution is ``1/2^stages`` (= ``r``).
        blocks: residual convs per stage after its downsampling conv.

    Attributes:
        widths: the chosen widths ``(stem, stage 1, ..., stage S)``.
        out_channels: channels of the output (the last width).
        reduction: spatial downsampling factor ``2^stages``.
    """

    def __init__(
        self,
        in_channels: int,
        size: float = 1.0,
        base_width: int = 16,
        stages: int = 2,
        blocks: int = 1,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.size = float(size)
        self.widths = conv_widths(in_channels, size, base_width, stages, blocks)
        self.reduction = 2**stages
        layers: list[nn.Module] = [ConvBNReLU(in_channels, self.widths[0])]
        for previous, width in itertools.pairwise(self.widths):
            layers.append(ConvBNReLU(previous, width, stride=2))
            layers.extend(ResidualConv(width) for _ in range(blocks))
        self.body = nn.Sequential(*layers)

    @property
    def out_channels(self) -> int:
        return self.widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)

    def extra_repr(self) -> str:
        return f"size={self.size}, widths={self.widths}"
