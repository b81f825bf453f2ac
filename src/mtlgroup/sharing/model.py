"""The shared multi-task ViT: one base network, sub-tasks computed from sparse differences.

:class:`SharedMultiTaskViT` runs the base task's ViT as it is, keeping every linear layer's
input and output (:class:`~mtlgroup.sharing.deltas.LinearRecorder`); each sub-task then runs its
own encoder (its own biases, LayerNorms and position embedding; its linear weights *are* the
base's parameters, not copies) whose every linear layer is a
:class:`~mtlgroup.sharing.sparse.SparseDeltaLinear` computed from the base's output of that
layer and the non-zeros of ``δ`` and ``M⊙Δ``. Each task has its own head.

Its costs are counted, not simulated: :meth:`SharedMultiTaskViT.counted_flops` adds up the
non-zeros every sub-task layer actually computed on the given inputs (attention products of
sub-tasks counted dense, the base by ``FlopCounterMode``), and
:meth:`SharedMultiTaskViT.stored_parameters` counts the base, each sub-task's non-zero deltas
*and their CSR indices*, own state and head.

:func:`save_shared` writes it as an export bundle (``manifest.json`` of format
``mtlgroup-shared`` and weight files: deltas as indices + values); :func:`load_shared` reads it
back, and :func:`mtlgroup.export.load_grouped` (hence ``mtlgroup predict``) dispatches to it.

Example:
    >>> import torch
    >>> from mtlgroup.models.vit import vit_network
    >>> from mtlgroup.sharing.deltas import zero_delta
    >>> from mtlgroup.tasks import Task
    >>> torch.manual_seed(0) and None
    >>> base = vit_network([Task("a", "label", 3)], (3, 16, 16), base_width=16, depth=1)
    >>> model = SharedMultiTaskViT(base, "a", {"b": zero_delta(base, "b", base.heads["a"])})
    >>> x = torch.randn(2, 3, 16, 16)
    >>> outputs = model(x)
    >>> model.tasks, torch.equal(outputs["b"], outputs["a"])
    (('a', 'b'), True)
    >>> flops = model.counted_flops(x)
    >>> flops.encoder["b"] < flops.encoder["a"], flops.total < flops.dense_equivalent
    (True, True)
    >>> stored = model.stored_parameters()
    >>> stored.subtasks["b"].delta_values, stored.total < stored.independent
    (0, True)
"""

from __future__ import annotations

import copy
import functools
import io
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import Tensor, nn

from mtlgroup.cost import count_flops
from mtlgroup.models.multitask import MultiTaskNet, select_tasks
from mtlgroup.models.tracing import module_device
from mtlgroup.models.vit import ViTEncoder
from mtlgroup.sharing.deltas import LinearRecorder, TaskDelta, vit_encoder, weight_key
from mtlgroup.sharing.sparse import SparseDeltaLinear
from mtlgroup.tasks import UnknownTaskError

if TYPE_CHECKING:
    from mtlgroup.data.base import MultiTaskData
    from mtlgroup.models.network_factory import NetworkFactory
    from mtlgroup.tasks import Task, TaskSet

R = TypeVar("R")

FORMAT = "mtlgroup-shared"
FORMAT_VERSION = 1
"""Bump when a reader of the previous version could misread a new shared bundle."""


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters()) + sum(b.numel() for b in module.buffers())


class SubTask(nn.Module):
    """One sub-task: an encoder holding the sub-task's own state, whose linear weights are the
    base encoder's parameters (tied), one :class:`SparseDeltaLinear` per linear layer, a head.

    Args:
        base: the base encoder (its linear weights are shared, never copied).
        layers: linear layer name → the sub-task's sparse part of it (every name of
            ``base.linear_names``).
        own_state: the sub-task's values of the encoder's non-weight state entries.
        head: the sub-task's decoder.
    """

    def __init__(self, base: ViTEncoder, layers: Mapping[str, SparseDeltaLinear],
                 own_state: Mapping[str, Tensor], head: nn.Module):
        super().__init__()
        names = base.linear_names
        if set(layers) != set(names):
            missing = sorted(set(names) - set(layers)) or sorted(set(layers) - set(names))
            raise ValueError(f"sub-task layers do not match the encoder's linear layers "
                             f"(first difference: {missing[0]})")
        weights = [base.linear_layer(name).weight for name in names]
        # deepcopy with the weights in the memo: the copy refers to the base's Parameters.
        self.encoder = copy.deepcopy(base, memo={id(w): w for w in weights})
        expected = set(self.encoder.state_dict()) - {weight_key(name) for name in names}
        if set(own_state) != expected:
            first = sorted(set(own_state) ^ expected)[0]
            raise ValueError(f"own_state must hold exactly the encoder's non-weight entries; "
                             f"{first!r} is {'extra' if first in own_state else 'missing'}")
        self.encoder.load_state_dict(dict(own_state), strict=False)
        self.index = {name: i for i, name in enumerate(names)}
        self.layers = nn.ModuleList(layers[name] for name in names)
        self.head = head

    @classmethod
    def from_delta(cls, base: ViTEncoder, delta: TaskDelta) -> SubTask:
        """From a :class:`TaskDelta` (dense ``M⊙Δ``): only the non-zeros are kept. Its weight
        deltas, bias differences and head (a copy) are put on the base encoder's device."""
        device = module_device(base)
        layers = {}
        for name in base.linear_names:
            bias = base.linear_layer(name).bias
            own_bias = delta.own_state.get(f"{name}.bias")
            bias_delta = (None if own_bias is None or bias is None
                          else own_bias.to(bias.device) - bias.detach())
            layers[name] = SparseDeltaLinear.from_dense(
                delta.weight_deltas[name].to(device), bias_delta,
                float(delta.thresholds.get(name, 0.0)))
        return cls(base, layers, delta.own_state, copy.deepcopy(delta.head).to(device))

    def layer(self, name: str) -> SparseDeltaLinear:
        """The sparse part of linear layer ``name``."""
        module = self.layers[self.index[name]]
        assert isinstance(module, SparseDeltaLinear)
        return module

    def own_state(self) -> dict[str, Tensor]:
        """The encoder's state entries that are the sub-task's own (not the tied weights)."""
        weights = {weight_key(name) for name in self.index}
        return {k: v for k, v in self.encoder.state_dict().items() if k not in weights}

    def encode(self, images: Tensor, base: LinearRecorder,
               counts: dict[str, int] | None = None) -> Tensor:
        """The sub-task's features of ``images``, from the base's recorded layers; ``counts``
        (if given) receives ``nnz(δ)`` of every layer."""

        def linear(name: str, layer: nn.Linear, x: Tensor) -> Tensor:
            y, activation_nnz = self.layer(name)(x, base.inputs[name], base.outputs[name],
                                                 layer.weight, layer.bias)
            if counts is not None:
                counts[name] = activation_nnz
            return y

        return self.encoder(images, linear)


@dataclass(frozen=True)
class SharedFlops:
    """Forward FLOPs per image (mean over the batch counted), 2 per multiply-add.

    Attributes:
        encoder: task → encoder FLOPs: the base's counted by ``FlopCounterMode``, a sub-task's
            from the non-zeros its layers computed plus its attention products (dense).
        heads: task → head FLOPs.
        dense_equivalent: independent single-task networks (the base encoder per task, plus
            every head).
        images: the batch size the sub-task counts are a mean over.
    """

    encoder: Mapping[str, float]
    heads: Mapping[str, int]
    dense_equivalent: int
    images: int

    @property
    def per_task(self) -> dict[str, float]:
        """Task → its encoder's and head's FLOPs."""
        return {t: self.encoder[t] + self.heads[t] for t in self.encoder}

    @property
    def total(self) -> float:
        """The whole shared model's FLOPs per image."""
        return sum(self.per_task.values())

    @property
    def ratio(self) -> float:
        """:attr:`total` over :attr:`dense_equivalent`."""
        return self.total / self.dense_equivalent


@dataclass(frozen=True)
class SubTaskParameters:
    """What one sub-task stores (in entries: numbers held, indices included)."""

    delta_values: int
    delta_indices: int
    own_state: int
    head: int

    @property
    def total(self) -> int:
        return self.delta_values + self.delta_indices + self.own_state + self.head


@dataclass(frozen=True)
class StoredParameters:
    """Stored entries of a shared model, against independent single-task networks.

    Attributes:
        base: the base encoder and the base task's head.
        subtasks: task → :class:`SubTaskParameters` (CSR column indices and row pointers of the
            deltas counted as entries).
        independent: one base-sized encoder per task plus every head.
    """

    base_task: str
    base: int
    subtasks: Mapping[str, SubTaskParameters]
    independent: int

    @property
    def per_task(self) -> dict[str, int]:
        return {self.base_task: self.base, **{t: s.total for t, s in self.subtasks.items()}}

    @property
    def total(self) -> int:
        return sum(self.per_task.values())

    @property
    def ratio(self) -> float:
        """:attr:`total` over :attr:`independent`."""
        return self.total / self.independent


class SharedMultiTaskViT(nn.Module):
    """A base task's ViT and sub-tasks computed from its activations (see the module docs).

    Args:
        base: the base task's network (a ViT encoder; its modules are used, not copied).
        base_task: the base task, one of ``base``'s heads (the others are not kept).
        deltas: sub-task → its :class:`~mtlgroup.sharing.deltas.TaskDelta`.

    Attributes:
        tasks: the base task, then the sub-tasks by name (the order of the outputs; it does not
            depend on the order of ``deltas``).
    """

    def __init__(self, base: MultiTaskNet, base_task: str, deltas: Mapping[str, TaskDelta]):
        super().__init__()
        encoder = vit_encoder(base)
        if base_task not in base.heads:
            raise UnknownTaskError(base_task, base.tasks)
        for task, delta in deltas.items():
            if delta.task != task:
                raise ValueError(f"the delta under {task!r} is the delta of {delta.task!r}")
        if base_task in deltas:
            raise ValueError(f"{base_task} is the base task; it has no delta")
        self.base_task = base_task
        self.encoder = encoder
        self.head = base.heads[base_task]
        self.subtasks = nn.ModuleDict(
            {task: SubTask.from_delta(encoder, deltas[task]) for task in sorted(deltas)})
        self.tasks: tuple[str, ...] = (base_task, *self.subtasks)
        self.metadata: dict[str, Any] = {}

    @classmethod
    def from_subtasks(cls, base: MultiTaskNet, base_task: str,
                      subtasks: Mapping[str, SubTask]) -> SharedMultiTaskViT:
        """From built :class:`SubTask` modules (tied to ``base``'s encoder), e.g. when loading."""
        model = cls(base, base_task, {})
        for task in sorted(subtasks):
            untied = [n for n in model.encoder.linear_names
                      if subtasks[task].encoder.linear_layer(n).weight
                      is not model.encoder.linear_layer(n).weight]
            if untied:
                raise ValueError(f"sub-task {task}: its weight of {untied[0]} is not the base "
                                 "encoder's (build it with SubTask(base.encoder, ...))")
            model.subtasks[task] = subtasks[task]
        model.tasks = (base_task, *model.subtasks)
        return model

    def subtask(self, task: str) -> SubTask:
        module = self.subtasks[task]
        assert isinstance(module, SubTask)
        return module

    def select(self, tasks: Iterable[str] | None) -> list[str]:
        """``tasks`` (default: all) checked against :attr:`tasks`, in :attr:`tasks` order."""
        wanted = set(select_tasks(tasks, self.tasks))
        return [t for t in self.tasks if t in wanted]

    def forward(self, x: Tensor, tasks: Iterable[str] | None = None) -> dict[str, Tensor]:
        """``{task: output}`` for ``tasks`` (default: all): one base pass, then each
        sub-task's sparse pass."""
        return self._run(x, self.select(tasks), None)

    def _run(self, x: Tensor, names: Sequence[str],
             counts: dict[str, dict[str, int]] | None) -> dict[str, Tensor]:
        recorder = LinearRecorder()
        features = self.encoder(x, recorder)
        outputs = {}
        for task in names:
            if task == self.base_task:
                outputs[task] = self.head(features)
                continue
            tally = None if counts is None else counts.setdefault(task, {})
            outputs[task] = self.subtask(task).head(
                self.subtask(task).encode(x, recorder, tally))
        return outputs

    # -- costs ---------------------------------------------------------------------------------

    def counted_flops(self, x: Tensor) -> SharedFlops:
        """FLOPs per image of a forward on the batch ``x``: the sub-task layers' from the
        non-zeros they computed on ``x`` (mean per image), attention products of sub-tasks
        dense, the base encoder and every head by ``FlopCounterMode``
        (:func:`mtlgroup.cost.count_flops`, on the meta device where possible)."""
        images = int(x.shape[0])
        if images == 0:
            raise ValueError("counted_flops needs a batch of at least one image")
        counts: dict[str, dict[str, int]] = {}
        with torch.no_grad():
            self._run(x, self.tasks, counts)
        every_head = {self.base_task: self.head,
                      **{t: self.subtask(t).head for t in self.subtasks}}
        counted = count_flops(MultiTaskNet(self.encoder, every_head), tuple(x.shape[1:]))
        base_encoder, heads = counted.encoder, dict(counted.heads)
        per_image = self.encoder.patch.grid[0] * self.encoder.patch.grid[1]
        # The rest of the encoder (the attention products, whose shapes are the sub-tasks' too)
        # is the counter's total minus the linear layers' dense count.
        linear = sum(2 * per_image * layer.in_features * layer.out_features
                     for layer in map(self.encoder.linear_layer, self.encoder.linear_names))
        attention = base_encoder - linear
        if attention < 0:
            raise RuntimeError("the FLOP counter saw fewer FLOPs than the linear layers have")
        tokens = images * per_image
        encoder: dict[str, float] = {self.base_task: float(base_encoder)}
        for task in self.subtasks:
            layers = sum(self.subtask(task).layer(name).flops(tokens, nnz)
                         for name, nnz in counts[task].items())
            encoder[task] = layers / images + attention
        dense = sum(base_encoder + heads[t] for t in self.tasks)
        return SharedFlops(encoder, heads, dense, images)

    def stored_parameters(self) -> StoredParameters:
        """Stored entries: the base (encoder and head), per sub-task its non-zero deltas, their
        CSR indices, own state and head; against one encoder per task plus every head."""
        encoder = _numel(self.encoder)
        subtasks = {}
        for task in self.subtasks:
            sub = self.subtask(task)
            layers = [sub.layer(name) for name in self.encoder.linear_names]
            subtasks[task] = SubTaskParameters(
                delta_values=sum(layer.nnz for layer in layers),
                delta_indices=sum(layer.index_entries for layer in layers),
                own_state=sum(v.numel() for v in sub.own_state().values()),
                head=_numel(sub.head))
        heads = _numel(self.head) + sum(s.head for s in subtasks.values())
        return StoredParameters(self.base_task, encoder + _numel(self.head), subtasks,
                                encoder * len(self.tasks) + heads)

    def density(self, task: str) -> float:
        """Fraction of the linear weights' entries a sub-task's deltas keep."""
        layers = [self.subtask(task).layer(n) for n in self.encoder.linear_names]
        return sum(layer.nnz for layer in layers) / sum(
            layer.shape[0] * layer.shape[1] for layer in layers)

    def thresholds(self, task: str) -> dict[str, float]:
        """A sub-task's activation threshold per linear layer."""
        return {n: self.subtask(task).layer(n).threshold for n in self.encoder.linear_names}

    def extra_repr(self) -> str:
        return f"base={self.base_task}, subtasks={', '.join(self.subtasks) or '-'}"


# -- the bundle --------------------------------------------------------------------------------

BASE_FILE = "weights/base.pt"


def _subtask_file(index: int) -> str:
    return f"weights/sub{index}.pt"


def _tensor_bytes(state: Mapping[str, Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
    return buffer.getvalue()


def _subtask_state(sub: SubTask) -> dict[str, Tensor]:
    """What a sub-task's weight file holds: own state, head, and per layer the CSR parts of
    ``M⊙Δ`` (only where it has non-zeros), the bias difference is derived, the threshold."""
    state = {f"own.{k}": v for k, v in sub.own_state().items()}
    state.update({f"head.{k}": v for k, v in sub.head.state_dict().items()})
    for name in sub.index:
        layer = sub.layer(name)
        if layer.nnz:
            state.update({f"delta.{name}.crow": layer.crow, f"delta.{name}.col": layer.col,
                          f"delta.{name}.values": layer.values})
        state[f"threshold.{name}"] = torch.tensor(layer.threshold, dtype=torch.float64)
    return state


def save_shared(
    shared: SharedMultiTaskViT,
    folder: str | Path,
    *,
    model: NetworkFactory | str | Mapping[str, Any],
    size: float | None = None,
    data: MultiTaskData | None = None,
    tasks: TaskSet | Sequence[Task] | None = None,
    input_shape: Sequence[int] | None = None,
    inputs: Tensor | None = None,
    flops: SharedFlops | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``shared`` as a bundle in ``folder`` (replaced if it is a bundle; refused if it is
    anything else) and return ``folder``.

    Args:
        model: the network factory (and options) that rebuilds the base ViT and every head.
        size: its encoder size (default: the base encoder's).
        data: the data set trained on: gives the tasks, input shape and input format.
        tasks, input_shape: without ``data``: the tasks (those of ``shared`` at least) and one
            input's shape; raw inputs are then plain tensors.
        inputs: a batch whose counted FLOPs the manifest records (optional).
        flops: FLOPs already counted (:meth:`SharedMultiTaskViT.counted_flops`) for the
            manifest, instead of ``inputs`` (giving both is a ``ValueError``).
        metadata: anything JSON to keep under ``metadata``.

    The bundle is written beside ``folder`` and loaded back (checksums, rebuild, equal
    outputs) before it replaces anything.
    """
    import mtlgroup
    from mtlgroup.export.bundle import (
        MANIFEST,
        check_bundle_out,
        input_format,
        replacing,
        task_record,
        write_json,
    )
    from mtlgroup.models.network_factory import NetworkFactory
    from mtlgroup.study.weights import sha256_bytes, state_dict_bytes, write_atomic

    factory = NetworkFactory.of(model)
    folder = Path(folder)
    check_bundle_out(folder)
    if data is not None:
        task_set, shape, form = data.tasks, tuple(data.input_shape), input_format(data)
    elif tasks is not None and input_shape is not None:
        from mtlgroup.tasks import TaskSet

        task_set = tasks if isinstance(tasks, TaskSet) else TaskSet(tasks)
        shape, form = tuple(input_shape), {"kind": "tensor"}
    else:
        raise ValueError("save_shared needs data=, or tasks= and input_shape=")
    chosen = task_set.subset(list(shared.tasks))
    if flops is not None and inputs is not None:
        raise ValueError("save_shared takes inputs= or flops=, not both")
    if inputs is not None:
        flops = shared.counted_flops(inputs)
    stored = shared.stored_parameters()
    with replacing(folder) as tmp:
        files = {shared.base_task: (BASE_FILE, state_dict_bytes(
            MultiTaskNet(shared.encoder, {shared.base_task: shared.head})))}
        for index, task in enumerate(shared.subtasks):
            payload = _tensor_bytes(_subtask_state(shared.subtask(task)))
            files[task] = (_subtask_file(index), payload)
        for file, payload in files.values():
            write_atomic(tmp / file, payload)

        def record(task: str) -> dict[str, Any]:
            file, payload = files[task]
            entry: dict[str, Any] = {
                "task": task, "weights": file, "sha256": sha256_bytes(payload),
                "bytes": len(payload), "params": stored.per_task[task],
                "flops": None if flops is None else flops.per_task[task]}
            if task != shared.base_task:
                entry["density"] = shared.density(task)
                entry["thresholds"] = shared.thresholds(task)
            return entry

        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": {"mtlgroup": mtlgroup.__version__, "torch": torch.__version__,
                         "python": platform.python_version()},
            "base_task": shared.base_task,
            "tasks": [task_record(task, data) for task in chosen],
            "input": {"shape": list(shape), "format": form},
            "served_by": {t: "shared" for t in shared.tasks},
            "model": {"name": factory.name, "options": dict(factory.options),
                      "version": factory.version},
            "size": float(shared.encoder.size if size is None else size),
            "base": record(shared.base_task),
            "subtasks": [record(t) for t in shared.subtasks],
            "params": {"total": stored.total, "independent": stored.independent},
            "flops": None if flops is None else {
                "total": flops.total, "dense_equivalent": flops.dense_equivalent,
                "images": flops.images},
            "metadata": dict(metadata or {}),
        }
        write_json(tmp / MANIFEST, manifest)
        _check_round_trip(shared, load_shared(tmp), shape)
    return folder


def _check_round_trip(shared: SharedMultiTaskViT, loaded: SharedMultiTaskViT,
                      shape: tuple[int, ...]) -> None:
    device = module_device(shared.encoder)
    probe = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        before, after = shared(probe), loaded.to(device)(probe)
    different = [t for t in shared.tasks if not torch.equal(before[t], after[t])]
    if different:
        raise RuntimeError(f"the written bundle does not reproduce task {different[0]}; "
                           "this is a bug")


def load_shared(folder: str | Path, device: str | torch.device = "cpu") -> SharedMultiTaskViT:
    """The shared model of a bundle written by :func:`save_shared`, in ``eval`` mode on
    ``device``; its ``metadata`` is the manifest.

    Raises :class:`~mtlgroup.export.bundle.BundleError` naming the file for a missing or
    tampered weight file, a newer format version or a factory that does not build here.
    """
    from mtlgroup.export.bundle import (
        MANIFEST,
        BundleError,
        checked_weights,
        read_manifest,
        rebuild_tasks,
    )
    from mtlgroup.models.network_factory import NetworkFactory
    from mtlgroup.study.weights import read_state_dict

    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{folder / MANIFEST}: a {manifest.get('format')} bundle, not a "
                          f"shared model ({FORMAT}); load it with mtlgroup.load_grouped")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(f"{folder / MANIFEST}: shared bundle format version {version}; this "
                          f"mtlgroup reads versions up to {FORMAT_VERSION}: upgrade mtlgroup")

    def state(entry: dict[str, Any]) -> dict[str, Tensor]:
        path = checked_weights(folder, entry, f"task {entry['task']}")
        try:
            return read_state_dict(path)
        except ValueError as error:
            raise BundleError(str(error)) from None

    tasks = rebuild_tasks(manifest)
    base_task = manifest["base_task"]
    names = [base_task, *(entry["task"] for entry in manifest["subtasks"])]
    spec = manifest["model"]
    try:
        factory = NetworkFactory.of({"name": spec["name"], **spec["options"]})
        network = factory.build(tasks.subset(names), tuple(manifest["input"]["shape"]),
                                manifest["size"])
    except ValueError as error:
        raise BundleError(f"{folder / MANIFEST}: the shared model is built by {spec['name']}, "
                          f"which cannot build it here: {error}") from None
    if not isinstance(network, MultiTaskNet):
        raise BundleError(f"{folder / MANIFEST}: {spec['name']} does not build a MultiTaskNet")
    base = MultiTaskNet(network.encoder, {base_task: network.heads[base_task]})
    def fitted(entry: dict[str, Any], load: Callable[[dict[str, Tensor]], R]) -> R:
        loaded = state(entry)
        try:
            return load(loaded)
        except (RuntimeError, KeyError, ValueError) as error:
            raise BundleError(f"{folder / entry['weights']}: does not fit the network "
                              f"{spec['name']} builds for task {entry['task']} "
                              f"({type(error).__name__}: {str(error).splitlines()[0]})") from None

    fitted(manifest["base"], base.load_state_dict)
    encoder = vit_encoder(base)
    subtasks = {
        entry["task"]: fitted(entry, functools.partial(
            _subtask_from_state, encoder, head=network.heads[entry["task"]]))
        for entry in manifest["subtasks"]}
    model = SharedMultiTaskViT.from_subtasks(base, base_task, subtasks)
    model.metadata = manifest
    return model.to(torch.device(device)).eval()


def _subtask_from_state(base: ViTEncoder, state: Mapping[str, Tensor], *,
                        head: nn.Module) -> SubTask:
    own = {k.removeprefix("own."): v for k, v in state.items() if k.startswith("own.")}
    head.load_state_dict({k.removeprefix("head."): v for k, v in state.items()
                          if k.startswith("head.")})
    layers = {}
    for name in base.linear_names:
        layer = base.linear_layer(name)
        shape = (layer.out_features, layer.in_features)
        prefix = f"delta.{name}."
        empty = layer.weight.new_zeros(0)
        crow, col, values = (state.get(prefix + part, empty) for part in ("crow", "col", "values"))
        own_bias = own.get(f"{name}.bias")
        bias_delta = None if own_bias is None or layer.bias is None else (
            own_bias - layer.bias.detach())
        layers[name] = SparseDeltaLinear(crow, col, values, shape, bias_delta,
                                         float(state[f"threshold.{name}"]))
    return SubTask(base, layers, own, head)
