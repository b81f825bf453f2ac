"""Running a module for its shapes or FLOPs without disturbing it.

Probing a module (what shape does the encoder output? how many FLOPs does a forward take?) must
not change it: a forward in training mode would update BatchNorm running statistics, and moving
a user's module to the meta device would throw its weights away. The helpers here work on a
*meta copy* (weights replaced by shape-only meta tensors, so nothing is allocated) or, when a
module cannot run on meta, on the module itself in eval mode with the training flags restored.

Example:
    >>> from torch import nn
    >>> feature_shape(nn.Conv2d(3, 8, 3, stride=2, padding=1), (3, 32, 32))
    (8, 16, 16)
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from numbers import Integral
from typing import TypeVar

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

T = TypeVar("T")
META = torch.device("meta")


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module without any)."""
    for tensor in _tensors(module):
        return tensor.device
    return torch.device("cpu")


def _tensors(module: nn.Module) -> Iterator[Tensor]:
    yield from module.parameters()
    yield from module.buffers()


def meta_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose parameters and buffers live on the meta device.

    The copy is made without copying any weight data: every tensor is mapped to an empty meta
    tensor of the same shape before the deep copy runs.
    """
    memo: dict[int, object] = {}
    for param in module.parameters():
        memo[id(param)] = nn.Parameter(
            torch.empty_like(param, device=META), requires_grad=param.requires_grad
        )
    for buffer in module.buffers():
        memo[id(buffer)] = torch.empty_like(buffer, device=META)
    return copy.deepcopy(module, memo)


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode, restoring each one's own flag afterwards."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for sub, training in flags:
            sub.training = training


def run_probe(
    module: nn.Module,
    input_shape: Sequence[int],
    probe: Callable[[nn.Module, Tensor], T],
    device: str | torch.device = "auto",
    batch_size: int = 1,
) -> T:
    """Call ``probe(module_copy_or_module, inputs)`` in eval mode without gradients.

    Args:
        module: the module to probe; it is left unchanged.
        input_shape: one input without the batch dimension, e.g. ``(3, 32, 32)``.
        probe: receives the runnable module and a zero input batch; its result is returned.
        device: ``"auto"`` runs on a meta copy and, if the module fails there (an op without a
            meta kernel, a data-dependent branch), runs for real on the module's own device;
            ``"meta"`` runs on meta only; any other device runs for real there.
        batch_size: samples in the probe batch (1 keeps a real run cheap).
    """
    if str(device) == "auto":
        try:
            return _run_on(module, input_shape, probe, META, batch_size)
        except Exception as error:
            # Any failure on meta means "try for real": a genuine bug in the module fails
            # again below and surfaces there with its own message.
            logger.debug("meta run of %s failed (%s); running for real", type(module), error)
            return _run_on(module, input_shape, probe, module_device(module), batch_size)
    return _run_on(module, input_shape, probe, torch.device(device), batch_size)


def _run_on(
    module: nn.Module,
    input_shape: Sequence[int],
    probe: Callable[[nn.Module, Tensor], T],
    device: torch.device,
    batch_size: int,
) -> T:
    if device.type == "meta":
        runnable = meta_copy(module)
    elif device == module_device(module):
        runnable = module
    else:
        runnable = copy.deepcopy(module).to(device)
    inputs = torch.zeros((batch_size, *check_input_shape(input_shape)), device=device)
    with eval_mode(runnable), torch.no_grad():
        return probe(runnable, inputs)


def feature_shape(
    encoder: nn.Module, input_shape: Sequence[int], device: str | torch.device = "auto"
) -> tuple[int, ...]:
    """Shape of ``encoder``'s output for one input of ``input_shape`` (both without batch dim).

    Runs on the meta device where possible, so it costs no compute and leaves the encoder as it
    was.
    """

    def output_shape(runnable: nn.Module, inputs: Tensor) -> tuple[int, ...]:
        output = runnable(inputs)
        if not isinstance(output, Tensor):
            raise TypeError(
                f"encoder {type(encoder).__name__} returned {type(output).__name__}; "
                "an encoder must return one tensor"
            )
        return tuple(int(d) for d in output.shape[1:])

    return run_probe(encoder, check_input_shape(input_shape), output_shape, device=device)


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """``input_shape`` as a tuple of ints; ``ValueError`` unless all entries are positive ints."""
    shape = tuple(input_shape)
    valid = all(isinstance(d, Integral) and not isinstance(d, bool) and d > 0 for d in shape)
    if not shape or not valid:
        raise ValueError(
            f"input_shape {shape!r} must be a non-empty tuple of positive ints "
            "without the batch dimension, e.g. (3, 32, 32)"
        )
    return tuple(int(d) for d in shape)
