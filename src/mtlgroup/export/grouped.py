"""The chosen networks as one model: :class:`GroupedModel`.

A run's choice at a budget is a few networks and, per task, the network that serves it. The
grouped model holds those networks and maps one input batch to ``{task: output}``, each task read
from its serving network. A network also trained on tasks it does not serve (auxiliary tasks)
keeps only the heads it serves: for a :class:`~mtlgroup.models.MultiTaskNet` the auxiliary heads
are dropped, so they cost nothing at inference; a network of another kind computes all its
outputs and the grouped model keeps the served ones (:attr:`GroupedModel.computes_auxiliary`
names such networks).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from mtlgroup.models import MultiTaskNet
    >>> ab = MultiTaskNet(nn.Flatten(), {"a": nn.Linear(4, 1), "b": nn.Linear(4, 1)})
    >>> c = MultiTaskNet(nn.Flatten(), {"c": nn.Linear(4, 3)})
    >>> model = GroupedModel({"a+b": ab, "c": c}, {"a": "a+b", "b": "c", "c": "c"})
    Traceback (most recent call last):
    ValueError: network c has no output for task b, which it is chosen to serve
    >>> model = GroupedModel({"a+b": ab, "c": c}, {"a": "a+b", "b": "a+b", "c": "c"})
    >>> {t: tuple(y.shape) for t, y in model(torch.zeros(2, 1, 2, 2)).items()}
    {'a': (2, 1), 'b': (2, 1), 'c': (2, 3)}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from mtlgroup.models.multitask import MultiTaskNet


class _Served(nn.Module):
    """A network that is not a MultiTaskNet, reduced to the outputs it serves."""

    def __init__(self, network: nn.Module, tasks: Sequence[str]):
        super().__init__()
        self.network = network
        self.tasks = list(tasks)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        outputs = self.network(x)
        return {t: outputs[t] for t in self.tasks}


def serving_network(network: nn.Module, tasks: Sequence[str]) -> nn.Module:
    """``network`` computing only ``tasks``: a MultiTaskNet with just those heads (the modules
    are shared, not copied), or any other module wrapped to keep those outputs."""
    if isinstance(network, MultiTaskNet):
        missing = [t for t in tasks if t not in network.heads]
        if missing:
            raise ValueError(f"network has no head for task {missing[0]}; its heads: "
                             f"{', '.join(network.tasks)}")
        if list(tasks) == list(network.tasks):
            return network
        return MultiTaskNet(network.encoder, {t: network.heads[t] for t in tasks})
    return _Served(network, tasks)


class GroupedModel(nn.Module):
    """Several trained networks answering as one: ``forward(x) -> {task: output}``.

    Args:
        networks: network name → trained module (``forward(x) -> {task: tensor}``).
        served_by: task → the name of the network that serves it; its order is the order of
            the outputs.
        metadata: anything to keep with the model (a bundle's manifest).

    Every network must serve at least one task. The model is an ordinary ``nn.Module``:
    ``.to(device)``, ``.eval()``, ``torch.compile`` and ``torch.export`` work on it.
    """

    def __init__(
        self,
        networks: Mapping[str, nn.Module],
        served_by: Mapping[str, str],
        metadata: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        if not served_by:
            raise ValueError("a grouped model needs at least one task")
        unknown = sorted({n for n in served_by.values() if n not in networks})
        if unknown:
            raise ValueError(f"no network {unknown[0]} among {', '.join(networks)}")
        self.tasks: tuple[str, ...] = tuple(served_by)
        self.served_by: dict[str, str] = dict(served_by)
        self.network_names: tuple[str, ...] = tuple(networks)
        self.serves: dict[str, tuple[str, ...]] = {
            name: tuple(t for t in self.tasks if served_by[t] == name) for name in networks}
        idle = [name for name, tasks in self.serves.items() if not tasks]
        if idle:
            raise ValueError(f"network {idle[0]} serves no task; leave it out")
        modules = {}
        for name, network in networks.items():
            try:
                modules[name] = serving_network(network, self.serves[name])
            except ValueError:
                task = next(t for t in self.serves[name] if t not in _heads(network))
                raise ValueError(f"network {name} has no output for task {task}, which it is "
                                 "chosen to serve") from None
        # Network names hold '+', '/', '@' and '.': the submodules get plain names.
        self.networks = nn.ModuleDict({f"net{i}": modules[n] for i, n in enumerate(networks)})
        self._plan = [(f"net{i}", self.serves[n]) for i, n in enumerate(networks)]
        # A module of another kind computes every output it has; only the served ones are kept.
        self.computes_auxiliary: tuple[str, ...] = tuple(
            name for name, module in modules.items() if isinstance(module, _Served))
        self.metadata: dict[str, Any] = dict(metadata or {})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        outputs: dict[str, Tensor] = {}
        for key, tasks in self._plan:
            predicted = self.networks[key](x)
            for task in tasks:
                outputs[task] = predicted[task]
        return {task: outputs[task] for task in self.tasks}

    def network(self, name: str) -> nn.Module:
        """The serving module of the network ``name``."""
        return self.networks[f"net{self.network_names.index(name)}"]

    def extra_repr(self) -> str:
        return ", ".join(f"{name} → {'+'.join(self.serves[name])}" for name in self.network_names)


def _heads(network: nn.Module) -> tuple[str, ...]:
    if isinstance(network, MultiTaskNet):
        return network.tasks
    return tuple(getattr(network, "tasks", ()))
