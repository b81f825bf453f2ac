"""Inference cost of networks: forward FLOPs (encoder and each head) and measured latency.

The cost of a network (ALGORITHMS §7) is its forward FLOPs — encoder plus every head it carries,
auxiliary ones included — divided by the *reference*: the mean forward FLOPs of the standard
single-task networks (``size=1``) over all tasks of the study. So a cost of 1 means "as expensive
as one standard network", and every candidate of a study is measured in the same unit. (With the
default heads the standard networks of different tasks differ only by their head, a few percent.)

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` for one sample (a batch of
1), on the meta device where possible (no compute, no memory), falling back to a real run on the
module's device when a module cannot run on meta. The counter counts a multiply-add as 2 FLOPs
and ignores element-wise ops (BatchNorm, ReLU, upsampling).

Example:
    >>> from mtlgroup.tasks import Task
    >>> tasks = [Task("depth", "dense", 1), Task("edges", "dense", 1)]
    >>> costs = CostModel(tasks, (3, 32, 32))
    >>> round(costs.cost(["depth"]), 2), round(costs.cost(["depth", "edges"]), 2)
    (1.0, 1.25)
"""

from __future__ import annotations

import contextlib
import copy
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from mtlgroup.device import resolve_device
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.network_factory import NetworkFactory
from mtlgroup.models.tracing import check_input_shape, eval_mode, module_device, run_probe
from mtlgroup.tasks import Task, TaskSet

R = TypeVar("R")


@dataclass(frozen=True)
class FlopBreakdown:
    """Forward FLOPs of one sample, split into the shared encoder and each head."""

    encoder: int
    heads: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.encoder + sum(self.heads.values())

    def subset(self, tasks: Iterable[str]) -> FlopBreakdown:
        """The breakdown of the same encoder carrying only the heads of ``tasks``."""
        return FlopBreakdown(self.encoder, {name: self.heads[name] for name in tasks})


def _counted(fn: Callable[..., R], *args: Any) -> tuple[R, int]:
    """``fn(*args)`` and the FLOPs it took."""
    with FlopCounterMode(display=False) as counter:
        result = fn(*args)
    return result, int(counter.get_total_flops())


def count_flops(
    model: nn.Module,
    input_shape: Sequence[int],
    tasks: Iterable[str] | None = None,
    *,
    device: str | torch.device = "auto",
) -> FlopBreakdown:
    """Forward FLOPs of ``model`` for one input of ``input_shape`` (no batch dim).

    For a :class:`~mtlgroup.models.MultiTaskNet` the encoder and each head (of ``tasks``,
    default all) are counted separately; any other module counts entirely as encoder.
    ``device="auto"`` counts on the meta device, falling back to a real run on the model's device
    if the model fails on meta; ``"meta"`` or a real device forces one. The model is unchanged.
    """
    if not isinstance(model, MultiTaskNet):
        if tasks is not None:
            raise ValueError(
                f"tasks={list(tasks)} given but {type(model).__name__} is not a MultiTaskNet; "
                "a plain module has no heads to choose from"
            )

        def whole(runnable: nn.Module, inputs: Tensor) -> FlopBreakdown:
            return FlopBreakdown(_counted(runnable, inputs)[1])

        return run_probe(model, input_shape, whole, device=device)

    names = model.select(tasks)

    def split(runnable: nn.Module, inputs: Tensor) -> FlopBreakdown:
        assert isinstance(runnable, MultiTaskNet)
        features, encoder_flops = _counted(runnable.encode, inputs)
        heads = {name: _counted(runnable.heads[name], features)[1] for name in names}
        return FlopBreakdown(encoder_flops, heads)

    return run_probe(model, input_shape, split, device=device)


def network_flops(
    tasks: TaskSet | Sequence[Task],
    input_shape: Sequence[int],
    size: float = 1.0,
    model: NetworkFactory | str | Mapping[str, Any] | None = None,
) -> FlopBreakdown:
    """FLOPs of the network ``model`` (a network factory, default ``conv``) builds for
    ``tasks`` at ``size``, without allocating weights where possible.

    The network is built on the meta device (no memory) and, only if it cannot be built or run
    there, on the CPU. The global RNG is left as it was, so computing costs never changes later
    initialisation.
    """
    factory = NetworkFactory.of(model)
    with torch.random.fork_rng(devices=[]):
        try:
            with torch.device("meta"):
                network = factory.build(tasks, input_shape, size)
            return count_flops(network, input_shape, device="meta")
        except Exception:
            # Some user head or encoder cannot be built or run on meta; count a real one.
            network = factory.build(tasks, input_shape, size)
            return count_flops(network, input_shape)


def standard_network_flops(
    task: Task,
    input_shape: Sequence[int],
    model: NetworkFactory | str | Mapping[str, Any] | None = None,
) -> int:
    """Forward FLOPs of the standard single-task network of ``task`` (``size=1``)."""
    return network_flops([task], input_shape, 1.0, model).total


def relative_cost(
    model: nn.Module,
    input_shape: Sequence[int],
    reference_flops: float,
    tasks: Iterable[str] | None = None,
) -> float:
    """Forward FLOPs of ``model`` (heads of ``tasks``, default all) over ``reference_flops``."""
    if not reference_flops > 0:
        raise ValueError(f"reference_flops must be positive, got {reference_flops}")
    return count_flops(model, input_shape, tasks).total / reference_flops


class CostModel:
    """Costs of every network over a study's tasks, in units of one standard network.

    For the built-in families a network's FLOPs are its encoder's plus the sum of its heads'
    (heads are built independently of each other), so one meta-device network per encoder size
    gives the cost of every task subset at that size without building each subset. A user's
    network factory may build anything, so each network it builds is measured on its own (on
    the meta device where possible, once per task subset and size).

    Args:
        tasks: all tasks of the study; the reference is the mean FLOPs of their standard
            single-task networks.
        input_shape: one input without the batch dimension.
        model: the network factory (a :class:`~mtlgroup.models.NetworkFactory`, a registry
            name such as ``"conv"`` or ``"mlp"``, or ``package.module:function``).

    Attributes:
        reference_flops: ``mean_t FLOPs(network([t], size=1))``.
    """

    def __init__(
        self,
        tasks: TaskSet | Sequence[Task],
        input_shape: Sequence[int],
        model: NetworkFactory | str | Mapping[str, Any] | None = None,
    ):
        self.tasks = tasks if isinstance(tasks, TaskSet) else TaskSet(tasks)
        if len(self.tasks) == 0:
            raise ValueError("a CostModel needs at least one task")
        self.input_shape = check_input_shape(input_shape)
        self.factory = NetworkFactory.of(model)
        self._by_size: dict[float, FlopBreakdown] = {}
        self._measured: dict[tuple[tuple[str, ...], float], int] = {}
        singles = [self.flops([t], 1.0) for t in self.tasks.names]
        self.reference_flops = statistics.fmean(singles)

    @property
    def additive(self) -> bool:
        """Whether costs add up from the encoder and each head (the built-in families)."""
        return self.factory.additive

    def breakdown(self, size: float = 1.0) -> FlopBreakdown:
        """FLOPs of the encoder of ``size`` and of every task's head on it (built-in families;
        a user's network is counted as a whole, see :meth:`flops`)."""
        size = float(size)
        if size not in self._by_size:
            self._by_size[size] = network_flops(self.tasks, self.input_shape, size, self.factory)
        return self._by_size[size]

    def flops(self, tasks: Iterable[str], size: float = 1.0) -> int:
        """Forward FLOPs of the network carrying ``tasks`` with an encoder of ``size``."""
        names = self.tasks.subset(tasks).names
        if self.additive:
            return self.breakdown(size).subset(names).total
        key = (tuple(names), float(size))
        if key not in self._measured:
            self._measured[key] = network_flops(
                self.tasks.subset(names), self.input_shape, size, self.factory
            ).total
        return self._measured[key]

    def cost(self, tasks: Iterable[str], size: float = 1.0) -> float:
        """:meth:`flops` over :attr:`reference_flops` (1.0 = one standard network)."""
        return self.flops(tasks, size) / self.reference_flops

    def size_for_cost(
        self, tasks: Iterable[str], target_cost: float, decimals: int = 3
    ) -> float:
        """The largest encoder size at which the network carrying ``tasks`` costs at most
        ``target_cost``.

        Cost grows with size (in steps: widths are whole channels), so bisection finds it; the
        size is rounded *down* to ``decimals`` so that network names stay readable
        (``semseg+depth@0.431``) and the cost never exceeds the target.

        Example:
            >>> from mtlgroup.tasks import Task
            >>> costs = CostModel([Task("a", "dense", 1), Task("b", "dense", 1)], (3, 16, 16))
            >>> size = costs.size_for_cost(["a", "b"], 1.0)
            >>> 0.5 < size < 1.0, 0.95 < costs.cost(["a", "b"], size) <= 1.0
            (True, True)
        """
        names = list(tasks)
        if not target_cost > 0:
            raise ValueError(f"target_cost must be positive, got {target_cost}")
        step = 10.0**-decimals
        low, high = step, 1.0  # invariant: cost(low) <= target < cost(high)
        if self.cost(names, low) > target_cost:
            raise ValueError(f"even the smallest encoder makes {names} cost more than "
                             f"{target_cost}")
        while self.cost(names, high) <= target_cost:
            low, high = high, high * 2
            if high > 64:
                raise ValueError(f"no encoder size up to 64 makes {names} cost {target_cost}")
        while high - low > step:
            middle = (low + high) / 2
            low, high = (middle, high) if self.cost(names, middle) <= target_cost else (low, middle)
        return round(math.floor(low / step) * step, decimals)  # below low: cost still <= target


def network_cost(
    tasks: TaskSet | Sequence[Task],
    input_shape: Sequence[int],
    size: float = 1.0,
    study_tasks: TaskSet | Sequence[Task] | None = None,
    model: NetworkFactory | str | Mapping[str, Any] | None = None,
) -> float:
    """Cost of the network carrying ``tasks`` at ``size``, relative to the study's reference.

    ``study_tasks`` (default: ``tasks``) define the reference; pass all of a study's tasks so that
    its networks share one unit. For many networks build one :class:`CostModel` instead.
    """
    names = [task.name for task in tasks]
    costs = CostModel(tasks if study_tasks is None else study_tasks, input_shape, model)
    return costs.cost(names, size)


def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    device: str | torch.device = "cpu",
    repeats: int = 20,
    warmup: int = 3,
    batch_size: int = 1,
) -> float:
    """Median wall-clock seconds of one inference forward of a ``batch_size`` batch on ``device``.

    The model runs in eval mode without autograd after ``warmup`` untimed passes; a model on
    another device is copied there, so ``model`` is never changed.
    """
    if repeats < 1 or warmup < 0 or batch_size < 1:
        raise ValueError(
            f"need repeats >= 1, warmup >= 0, batch_size >= 1; got repeats={repeats}, "
            f"warmup={warmup}, batch_size={batch_size}"
        )
    target = resolve_device(device)
    inputs = torch.randn((batch_size, *check_input_shape(input_shape)), device=target)
    return measure_latencies({"model": model}, inputs, repeats, warmup, target)["model"]


def measure_latencies(
    models: Mapping[str, nn.Module],
    inputs: Tensor,
    repeats: int = 20,
    warmup: int = 3,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Median wall-clock seconds of one inference forward of ``inputs`` through each model.

    The models take turns in every pass (interleaved), so a slow moment of the machine slows
    all of them alike and their ratios stay fair. They run in eval mode without autograd
    after ``warmup`` untimed passes, on ``device`` (default: that of ``inputs``); a model
    elsewhere is copied there, so no model is changed.

    >>> times = measure_latencies({"a": nn.Linear(4, 2), "b": nn.Linear(4, 8)},
    ...                           torch.zeros(3, 4), repeats=3)
    >>> sorted(times), all(t > 0 for t in times.values())
    (['a', 'b'], True)
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1, warmup >= 0; got repeats={repeats}, "
                         f"warmup={warmup}")
    target = inputs.device if device is None else resolve_device(device)
    inputs = inputs.to(target)
    runnable = {name: model if module_device(model) == target else _copy_to(model, target)
                for name, model in models.items()}
    times: dict[str, list[float]] = {name: [] for name in runnable}
    with contextlib.ExitStack() as stack, torch.inference_mode():
        for model in runnable.values():
            stack.enter_context(eval_mode(model))
        for i in range(warmup + repeats):
            for name, model in runnable.items():
                _synchronize(target)
                start = time.perf_counter()
                model(inputs)
                _synchronize(target)
                if i >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(found) for name, found in times.items()}


def _copy_to(model: nn.Module, device: torch.device) -> nn.Module:
    return copy.deepcopy(model).to(device)


def _synchronize(device: torch.device) -> None:
    # Kernels run asynchronously on accelerators; without a sync the timer measures launches.
    if device.type == "cuda":
        torch.cuda.synchronize(device)
