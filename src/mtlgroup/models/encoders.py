"""A family of small convolutional encoders whose ``size`` scales forward FLOPs.

The encoder is a stem (3×3 conv at full resolution) followed by ``stages`` stages; each stage
halves the resolution with a stride-2 3×3 conv, doubles the width, and adds ``blocks`` residual
3×3 convs. Every conv is followed by BatchNorm and ReLU. With the defaults the output is
``64 × H/4 × W/4`` and a 3×32×32 image costs about 15 MFLOPs.

``size`` is a FLOP multiplier: ``size=0.5`` costs half the multiply-adds of ``size=1``. Conv
FLOPs grow with the product of input and output widths, so widths scale roughly with
``sqrt(size)``; because widths are integers and the stem is linear in its width,
:func:`conv_widths` picks, among the integer widths next to ``base · 2^i · sqrt(size)``, those
whose multiply-add count is closest to ``size`` times the standard one.

Example:
    >>> import torch
    >>> encoder = ConvEncoder(in_channels=3, size=0.5)
    >>> encoder(torch.zeros(2, 3, 32, 32)).shape[1:] == (encoder.out_channels, 8, 8)
    True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

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
    """Widths ``(stem, stage 1, ..., stage S)`` whose FLOPs are closest to ``size`` × standard.

    The standard widths (``size=1``) are ``base_width · 2^i``. For other sizes each width is
    tried at the integers around ``base_width · 2^i · sqrt(size)`` and the combination with the
    smallest relative FLOP error wins (ties go to the least distorted shape).

    Example:
        >>> conv_widths(3, 1.0)
        (16, 32, 64)
    """
    _check_architecture(in_channels, size, base_width, stages, blocks)
    standard = [base_width * 2**i for i in range(stages + 1)]
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
