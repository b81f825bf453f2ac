"""A network is a value: :class:`NetworkFactory` builds the network of any task subset.

A factory is named by a registry name (built-in: ``conv`` for images, ``mlp`` for tables) or by
an import path ``package.module:function`` to a user's own builder, plus options passed to it.
It is a small picklable value, so the study sends it to worker processes and Ray workers, which
import the builder again by name; its :meth:`~NetworkFactory.identity` (name, options, version)
is part of every job key, so two factories that build different networks never share results.

A builder has the signature ``builder(tasks, input_shape, size=1.0, **options) -> nn.Module``:
``tasks`` a :class:`~mtlgroup.tasks.TaskSet`, ``input_shape`` one input without the batch
dimension, ``size`` the encoder size (the built-in families scale forward FLOPs with it; a
user's builder receives it as it is and the cost model measures what it builds). The module's
``forward(x)`` must return ``{task: tensor}`` for exactly its tasks; returning a
:class:`~mtlgroup.models.MultiTaskNet` also tells the affinity probes which parameters are shared.

Example:
    >>> from mtlgroup.tasks import Task, TaskSet
    >>> tasks = TaskSet([Task("price", "vector", 1), Task("kind", "label", 3)])
    >>> factory = NetworkFactory.of({"name": "mlp", "base_width": 32})
    >>> net = factory.build(tasks, (8,), size=0.5)
    >>> sorted(net(torch.zeros(2, 8)))
    ['kind', 'price']
    >>> factory.identity()["options"], factory.describe()
    ({'base_width': 32}, 'mlp(base_width=32)')
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from mtlgroup.imports import import_object, is_import_path
from mtlgroup.registry import Registry
from mtlgroup.tasks import Task, TaskSet

NetworkBuilder = Callable[..., nn.Module]
"""``builder(tasks: TaskSet, input_shape: tuple[int, ...], size: float = 1.0, **options)``."""

NETWORKS: Registry[NetworkBuilder] = Registry(
    "network factory", builtins=("mtlgroup.models.families",)
)
"""Built-in and registered network builders by name (``conv``, ``mlp``, …)."""


class NetworkFactoryError(ValueError):
    """A factory that cannot be resolved, or builds a network that breaks the contract."""


def register_network(
    name: str, *, version: int | str = 1, additive: bool = False,
    size_revision: Callable[[float], int | None] | None = None,
) -> Callable[[NetworkBuilder], NetworkBuilder]:
    """Decorator: make a builder available as ``model: NAME`` (configs) and ``--model NAME``.

    ``version`` enters job keys: bump it when the builder changes what it builds. ``additive``
    promises that the builder returns a :class:`~mtlgroup.models.MultiTaskNet` whose heads do
    not depend on which other tasks it carries, so the cost of any subset is the encoder's plus
    its heads' (measured once per size); otherwise every network is measured on its own.
    ``size_revision(size)``, when given, enters the key of a network of that ``size`` unless
    it is ``None``: a change that alters what is built at some sizes only retrains those (a
    ``version`` bump would retrain every network of every study).
    """

    def decorate(builder: NetworkBuilder) -> NetworkBuilder:
        builder.version = version  # type: ignore[attr-defined]
        builder.additive = additive  # type: ignore[attr-defined]
        if size_revision is not None:
            builder.size_revision = size_revision  # type: ignore[attr-defined]
        return NETWORKS.register(name, builder)

    return decorate


def default_model(input_shape: Sequence[int]) -> str:
    """The built-in family for inputs of ``input_shape``: ``conv`` for images ``[C, H, W]``,
    ``mlp`` for anything else (feature vectors)."""
    return "conv" if len(tuple(input_shape)) == 3 else "mlp"


@dataclass(frozen=True)
class NetworkFactory:
    """A builder by name (registry name or ``package.module:function``) and its options."""

    name: str = "conv"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise NetworkFactoryError(f"a model must be named, got {self.name!r}")
        try:
            json.dumps(dict(self.options), sort_keys=True)
        except (TypeError, ValueError):
            raise NetworkFactoryError(
                f"model {self.name}: options must be plain JSON values (numbers, strings, "
                f"lists, mappings), got {dict(self.options)!r}"
            ) from None
        object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def of(cls, spec: NetworkFactory | str | Mapping[str, Any] | None) -> NetworkFactory:
        """A factory from a config value: ``"conv"``, ``"pkg.mod:fn"``, ``{name: …, opt: …}``,
        a factory (returned as it is) or ``None`` (the default, ``conv``)."""
        if spec is None:
            return cls()
        if isinstance(spec, NetworkFactory):
            return spec
        if isinstance(spec, str):
            return cls(spec.strip())
        if isinstance(spec, Mapping):
            options = dict(spec)
            name = options.pop("name", None)
            if not isinstance(name, str):
                raise NetworkFactoryError(
                    f"model: a mapping needs `name: NAME|package.module:function`, got {spec!r}"
                )
            nested = options.pop("options", None)
            if isinstance(nested, Mapping):
                options.update(nested)
            return cls(name.strip(), options)
        raise NetworkFactoryError(
            f"model: expected a name, an import path or a mapping, got {type(spec).__name__}"
        )

    @classmethod
    def for_inputs(
        cls, spec: NetworkFactory | str | Mapping[str, Any] | None, input_shape: Sequence[int]
    ) -> NetworkFactory:
        """Like :meth:`of`, but ``None`` picks the built-in family that fits the inputs
        (:func:`default_model`: ``conv`` for images, ``mlp`` for feature vectors)."""
        return cls(default_model(input_shape)) if spec is None else cls.of(spec)

    # -- resolving ----------------------------------------------------------------------------

    @property
    def is_builtin(self) -> bool:
        """Whether the builder is registered by name (its ``size`` scales FLOPs) rather than a
        user's import path."""
        return not is_import_path(self.name)

    @property
    def builder(self) -> NetworkBuilder:
        """The builder function (imported on first use in each process)."""
        if self.is_builtin:
            return NETWORKS.get(self.name)
        builder = import_object(self.name)
        if not callable(builder):
            raise NetworkFactoryError(f"model {self.name}: {type(builder).__name__} is not "
                                      "callable; expected a function (tasks, input_shape, size)")
        return builder  # type: ignore[no-any-return]

    @property
    def version(self) -> int | str | None:
        return getattr(self.builder, "version", None)

    @property
    def additive(self) -> bool:
        """Whether a network's cost is its encoder's plus its heads' (see
        :func:`register_network`); a user's builder is measured network by network unless it
        sets ``additive = True`` on itself."""
        return bool(getattr(self.builder, "additive", False))

    def size_revision(self, size: float) -> int | None:
        """The revision of what the builder builds at ``size`` (see :func:`register_network`);
        ``None`` for most builders and sizes."""
        revision = getattr(self.builder, "size_revision", None)
        return None if revision is None else revision(float(size))

    def identity(self) -> dict[str, Any]:
        """What enters job keys: name, options and the builder's version."""
        return {"name": self.name, "options": dict(self.options), "version": self.version}

    def describe(self) -> str:
        """``name(opt=value, …)`` for people."""
        args = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                         for k, v in sorted(self.options.items()))
        return f"{self.name}({args})" if args else self.name

    # -- building -----------------------------------------------------------------------------

    def build(
        self, tasks: TaskSet | Sequence[Task], input_shape: Sequence[int], size: float = 1.0
    ) -> nn.Module:
        """The network carrying ``tasks`` for inputs of ``input_shape`` at encoder ``size``.

        Weights come from torch's global RNG (seed it first for a reproducible network).
        """
        task_set = tasks if isinstance(tasks, TaskSet) else TaskSet(tasks)
        if len(task_set) == 0:
            raise NetworkFactoryError("a network needs at least one task")
        builder = self.builder
        try:
            inspect.signature(builder).bind(task_set, tuple(input_shape), size=size,
                                            **self.options)
        except TypeError as error:
            raise NetworkFactoryError(
                f"model {self.describe()}: it must take (tasks, input_shape, size=1.0, "
                f"**options): {error}"
            ) from None
        except ValueError:  # no signature to inspect (some builtins): just call it
            pass
        try:
            network = builder(task_set, tuple(input_shape), size=size, **self.options)
        except NetworkFactoryError:
            raise
        except Exception as error:
            raise NetworkFactoryError(
                f"model {self.describe()} could not build a network for tasks "
                f"{', '.join(task_set.names)} and inputs of shape {tuple(input_shape)}: "
                f"{type(error).__name__}: {error}{_hint(self.name, input_shape)}"
            ) from None
        if not isinstance(network, nn.Module):
            raise NetworkFactoryError(
                f"model {self.describe()} returned {type(network).__name__}, not an nn.Module"
            )
        return network

    def check(self, tasks: TaskSet | Sequence[Task], input_shape: Sequence[int],
              size: float = 1.0) -> None:
        """Build the network of ``tasks`` and run a forward pass on a zero batch (on the meta
        device where possible); :class:`NetworkFactoryError` unless it returns
        ``{task: tensor}`` for exactly ``tasks`` with a batch dimension of 2."""
        from mtlgroup.models.tracing import run_probe

        task_set = tasks if isinstance(tasks, TaskSet) else TaskSet(tasks)
        with torch.random.fork_rng(devices=[]):
            network = self.build(task_set, input_shape, size)

        def outputs(runnable: nn.Module, inputs: Tensor) -> Any:
            return runnable(inputs)

        try:
            result = run_probe(network, input_shape, outputs, batch_size=2)
        except Exception as error:
            raise NetworkFactoryError(
                f"model {self.describe()}: forward on a batch of shape "
                f"{(2, *tuple(input_shape))} failed: {type(error).__name__}: {error}"
                f"{_hint(self.name, input_shape)}"
            ) from None
        check_outputs(result, task_set.names, f"model {self.describe()}")


def _hint(name: str, input_shape: Sequence[int]) -> str:
    suggested = default_model(input_shape)
    if name in ("conv", "mlp") and name != suggested:
        return (f" (inputs of shape {tuple(input_shape)} call for the {suggested} family: "
                f"--model {suggested} or `model: {suggested}`)")
    return ""


def check_outputs(outputs: Any, tasks: Sequence[str], owner: str, batch: int = 2) -> None:
    """:class:`NetworkFactoryError` unless ``outputs`` is ``{task: tensor}`` for exactly
    ``tasks``, each with ``batch`` rows."""
    if not isinstance(outputs, Mapping):
        raise NetworkFactoryError(
            f"{owner}: forward returned {type(outputs).__name__}; expected a dict "
            f"{{task: tensor}} for tasks {', '.join(tasks)}"
        )
    keys = set(outputs)
    if keys != set(tasks):
        missing = ", ".join(t for t in tasks if t not in keys) or "none"
        extra = ", ".join(sorted(str(k) for k in keys - set(tasks))) or "none"
        raise NetworkFactoryError(
            f"{owner}: forward must return exactly its tasks ({', '.join(tasks)}); "
            f"missing: {missing}; unexpected: {extra}"
        )
    for task in tasks:
        value = outputs[task]
        if not isinstance(value, Tensor) or value.dim() == 0 or value.shape[0] != batch:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise NetworkFactoryError(
                f"{owner}: output of task {task!r} must be a tensor with the batch as its "
                f"first dimension ({batch}), got {shape}"
            )


def create_network(
    model: NetworkFactory | str | Mapping[str, Any] | None,
    tasks: TaskSet | Sequence[Task],
    input_shape: Sequence[int],
    size: float = 1.0,
) -> nn.Module:
    """Shorthand for ``NetworkFactory.of(model).build(tasks, input_shape, size)``."""
    return NetworkFactory.of(model).build(tasks, input_shape, size)
