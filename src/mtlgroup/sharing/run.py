"""A sharing run (``mtlgroup share``): single-task ViTs, a base task, sparse deltas, and the
measured savings against independent networks and a multi-task ViT at equal FLOPs.

:func:`run_sharing` does, in ``OUT``:

1. trains the single-task ViTs (``--model vit``, size 1) as jobs of one resumable study
   (``OUT/study.sqlite``; a rerun reads them back from the store);
2. chooses the base task (:func:`~mtlgroup.sharing.base_choice.choose_base`; a given base is
   kept, and the proxy ranking is still reported);
3. learns every sub-task's :class:`~mtlgroup.sharing.deltas.TaskDelta` at every sparsity level
   (:func:`~mtlgroup.sharing.train.train_task_delta`), each saved under ``OUT/deltas/`` as it
   finishes, so an interrupted run loses at most the delta in training;
4. builds the :class:`~mtlgroup.sharing.model.SharedMultiTaskViT` of each level, counts its
   FLOPs from the non-zeros of every test input (for the table) and its stored parameters;
5. trains, in the same study, the all-task ViT whose network FLOPs (encoder and every head,
   :class:`~mtlgroup.cost.CostModel`) are those of the shared model counted on the
   validation inputs (the largest size that does not exceed them: a choice made without
   the test split);
6. scores all of them on the test split, times their forwards on one CPU batch side by side,
   and, with ``video``, runs a scene clip with temporal reuse at two thresholds;
7. writes ``sharing.json``, ``sharing.csv``, ``sharing.png``, ``report.html`` and the first
   level's shared model as a bundle (``OUT/export``, read by
   :func:`mtlgroup.export.load_grouped`).

Example (minutes: it trains; not a doctest)::

    from mtlgroup.sharing import run_sharing

    result = run_sharing("scenes", "set:1", out="runs/share", weight_density=[0.02, 0.05, 0.2],
                         data_options={"n_train": 600, "n_val": 150, "n_test": 150},
                         train_config={"epochs": 4, "batch_size": 64, "lr": 2e-3})
    print(result.format())
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mtlgroup.sharing.levels import Level, Values, sharing_levels
from mtlgroup.sharing.table import SharingRow, SharingTable, ranking

if TYPE_CHECKING:
    import torch
    from torch import nn

    from mtlgroup.data.base import MultiTaskData
    from mtlgroup.models.multitask import MultiTaskNet
    from mtlgroup.sharing.deltas import TaskDelta
    from mtlgroup.sharing.train import DeltaConfig
    from mtlgroup.study import Executor, Study

BaseMethod = Literal["proxy", "measure", "both"]

SHARE_SCALE: dict[str, dict[str, Any]] = {
    # Two CPU cores finish the default run in a few minutes (docs/sharing.md gives the time):
    # small images, a few hundred of them, a few epochs per network and per delta phase.
    "data": {"n_train": 600, "n_val": 150, "n_test": 150, "size": 32, "tasks": "set:1"},
    "training": {"epochs": 4, "batch_size": 64, "lr": 2e-3},
    "delta": {"sparse_epochs": 2, "finetune_epochs": 2, "lr": 1e-3},
}
"""The demo-scale defaults of ``mtlgroup share`` (data, single-task training, delta training)."""

VIDEO_SPARSITIES: tuple[float, float] = (0.5, 0.9)
"""The two temporal thresholds of the video section, as the fraction of frame-to-frame input
changes each linear layer drops (calibrated on another clip of the same scenes)."""

DELTA_FORMAT = 1
"""Version of a saved delta file (part of its name: a new format never reads an old file)."""


@dataclass
class SharingResult:
    """What a sharing run measured (``sharing.json`` holds all of it).

    Attributes:
        table: one row per model (:class:`~mtlgroup.sharing.table.SharingTable`).
        base: ``{"task", "given", "method", "proxy_scores", "measured_scores", "agreement",
            "ranking"}``: the base task and how it was chosen.
        video: one entry per temporal threshold (empty without ``video``).
        trained, reused: networks and deltas this run trained, and those it read back.
        settings: what the run was made from.
        paths: every file written.
    """

    table: SharingTable
    base: dict[str, Any]
    video: list[dict[str, Any]] = field(default_factory=list)
    trained: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table.to_dict(), "base": self.base, "video": self.video,
                "trained": self.trained, "reused": self.reused, "settings": self.settings,
                "files": {k: str(v) for k, v in self.paths.items()}}

    def format(self) -> str:
        """The table, the base choice and the video lines, for a terminal or a log."""
        lines = [self.table.format(), "", base_sentence(self.base)]
        for entry in self.video:
            lines.append(video_sentence(entry))
        return "\n".join(lines)


def base_sentence(base: Mapping[str, Any]) -> str:
    """One line on the base task: given or chosen, the ranking and its agreement."""
    how = "given" if base["given"] else f"chosen by {base['method']}"
    text = f"base task: {base['task']} ({how}); proxy ranking {' > '.join(base['ranking'])}"
    if base.get("measured_ranking"):
        text += f"; measured ranking {' > '.join(base['measured_ranking'])}"
    if base.get("agreement") is not None:
        text += f"; agreement (Spearman) {base['agreement']:.2f}"
    return text


def video_sentence(entry: Mapping[str, Any]) -> str:
    """One line per temporal threshold."""
    tasks = ", ".join(f"{t} {m['name']} {m['temporal']:.4g} vs {m['full']:.4g}"
                      for t, m in entry["metrics"].items())
    return (f"video ({entry['frames']} frames, temporal sparsity {entry['sparsity']:g}, key "
            f"frame every {entry['key_every'] or 'clip'}): {entry['flops_per_frame'] / 1e6:.2f} "
            f"MFLOPs/frame vs {entry['full_flops_per_frame'] / 1e6:.2f} in full "
            f"({entry['flop_ratio']:.3f}x); temporal vs full: {tasks}")


def run_sharing(
    dataset: str = "scenes",
    tasks: Sequence[str] | str | None = None,
    *,
    base: str = "auto",
    base_method: BaseMethod = "both",
    weight_density: Values = 0.05,
    activation_sparsity: Values = 0.9,
    out: str | Path = "share",
    model: Mapping[str, Any] | str | None = None,
    data_options: Mapping[str, Any] | None = None,
    train_config: Any = None,
    delta_config: DeltaConfig | Mapping[str, Any] | None = None,
    executor: Executor | str | None = None,
    workers: int | None = None,
    seed: int = 0,
    device: str = "auto",
    video: bool = False,
    video_frames: int = 16,
    video_key_every: int | None = 8,
    latency_repeats: int = 15,
    latency_batch: int = 64,
    progress: bool | None = None,
    echo: Callable[[str], None] = print,
) -> SharingResult:
    """Run computation sharing end to end in ``out`` (see the module's docstring).

    Args:
        dataset, tasks, data_options: the data (as for :class:`~mtlgroup.study.Study`;
            ``tasks`` names, ``"set:1"`` or ``None`` for all; at least two).
        base: ``"auto"`` (chosen by ``base_method``) or the base task's name.
        base_method: how ``auto`` chooses: ``both`` (the default: the measurement's choice,
            with the proxy's ranking and their agreement reported), ``measure`` (short delta
            trainings from each candidate) or ``proxy`` (linear CKA of the single-task ViTs'
            representations: seconds, but it agreed with the measurement only weakly on
            scenes, Spearman 0.20, and not at all on fashion, -0.83; docs/sharing.md).
        weight_density, activation_sparsity: the sparsity levels (one each, or lists, see
            :func:`~mtlgroup.sharing.levels.sharing_levels`); the first level is exported.
        model: the ViT family's options (``{"base_width": 64, "depth": 4, ...}``) or
            ``"vit"``; another family is a ``ValueError`` (sharing needs the ViT's layers).
        train_config: training of the single-task and multi-task ViTs (a
            :class:`~mtlgroup.training.TrainConfig` or a dict of its fields).
        delta_config: the rest of :class:`~mtlgroup.sharing.train.DeltaConfig` (penalty,
            epochs of each phase, lr...); its level, seed and device come from here.
        executor, workers: where the study's trainings run (default ``local``).
        seed, device: every training's seed and device (measurements run on the CPU).
        video: also run a ``scenes`` clip (:func:`~mtlgroup.data.clips.scene_clip`) of
            ``video_frames`` frames with temporal reuse at the two thresholds of
            :data:`VIDEO_SPARSITIES`, a key frame every ``video_key_every`` frames.
        latency_repeats, latency_batch: the latency measurement (median of that many
            interleaved forwards of that many test images).
        progress, echo: progress on stderr, and where the stage lines and the table go.
    """
    from mtlgroup.study import Candidate, Study

    # Everything that can be wrong with the request fails here, before a store is created.
    levels = sharing_levels(weight_density, activation_sparsity)
    factory = _vit_factory(model)
    if base_method not in ("proxy", "measure", "both"):
        raise ValueError(f"unknown base method {base_method!r}; expected proxy, measure or both")
    requested = _task_list(dataset, tasks, data_options)
    if requested is not None and len(set(requested)) < 2:
        raise ValueError(f"computation sharing needs at least two tasks, got {requested}")
    if base != "auto" and requested is not None and base not in requested:
        raise ValueError(f"unknown base task {base!r}; expected auto or one of: "
                         f"{', '.join(requested)}")
    if video and dataset != "scenes":
        raise ValueError(f"video needs the scenes dataset (its clips have exact labels per "
                         f"frame), not {dataset!r}")
    delta_base = _delta_config(delta_config, levels[0], seed, device)
    out = Path(out)
    started = time.perf_counter()
    with Study(out / "study.sqlite", dataset, data_options, requested, train_config,
               seed=seed, device=device, model=factory) as study:
        names = list(study.tasks)
        if len(names) < 2:  # all of a one-task dataset
            raise ValueError(f"computation sharing needs at least two tasks, got {names}")
        if base != "auto" and base not in names:
            raise ValueError(f"unknown base task {base!r}; expected auto or one of: "
                             f"{', '.join(names)}")
        data = _data(study)
        runner = _runner(executor, workers)
        singles_specs = [study.spec(Candidate((t,), 1.0)) for t in names]
        trained_networks = reused_networks = 0
        with runner:
            echo(f"share on {dataset} ({', '.join(names)}), {factory.describe()}: "
                 f"{len(names)} single-task ViTs ({runner.describe()}, store {study.store.path})")
            summary = study.run(runner, progress, specs=singles_specs)
            _check(summary, "single-task ViTs")
            echo(summary.format())
            trained_networks, reused_networks = summary.done, summary.skipped
            singles = {t: _vit_network(study, (t,), 1.0) for t in names}

            single_keys = {t: spec.key for t, spec in zip(names, singles_specs, strict=True)}
            choice = _choose_base(singles, data, names, base, base_method, delta_base,
                                  out / "base-choice", single_keys)
            base_task = choice["task"]
            echo(base_sentence(choice))

            deltas, trained_deltas, reused_deltas = _all_deltas(
                out / "deltas", study, singles, base_task, data, levels, delta_base, progress,
                echo)
            inputs = _inputs(data.test)
            shared = {lv: _shared_model(singles[base_task], base_task, deltas[lv])
                      for lv in levels}
            counted = {lv: _shared_costs(model_, inputs, latency_batch)
                       for lv, model_ in shared.items()}

            # The comparator's size is a design decision: it is made from the FLOPs counted on
            # the validation split; the test count above is for the table only.
            val_inputs = _inputs(data.val)
            val_flops = {lv: _counted_flops(model_, val_inputs, latency_batch).total
                         for lv, model_ in shared.items()}
            costs = _cost_model(study, data, factory)
            sizes = {lv: costs.size_for_cost(names, val_flops[lv] / costs.reference_flops,
                                             decimals=2) for lv in levels}
            mtl_specs = {size: study.spec(Candidate(tuple(names), size))
                         for size in dict.fromkeys(sizes.values())}
            echo(f"multi-task ViTs at the shared models' FLOPs: sizes "
                 f"{', '.join(f'{s:g}' for s in mtl_specs)}")
            summary = study.run(runner, progress, specs=list(mtl_specs.values()))
            _check(summary, "multi-task ViTs")
            echo(summary.format())
            trained_networks += summary.done
            reused_networks += summary.skipped
            mtl = {size: _vit_network(study, tuple(names), size) for size in mtl_specs}

        table = _table(study, data, names, singles, single_keys, mtl,
                       {size: spec.key for size, spec in mtl_specs.items()}, sizes, shared,
                       counted, inputs, latency_batch, latency_repeats, echo)
        video_rows = (_video(singles[base_task], base_task, deltas[levels[0]], names, data,
                             seed, video_frames, video_key_every, echo) if video else [])
        settings = {"dataset": dataset, "data_options": study.data_options, "tasks": names,
                    "model": factory.describe(), "model_options": dict(factory.options),
                    "training": study.train_config, "seed": seed,
                    "delta": _config_fields(delta_base),
                    "levels": [dataclasses.asdict(lv) for lv in levels],
                    "base": base, "base_method": base_method, "video": video,
                    "latency": {"batch": latency_batch, "repeats": latency_repeats,
                                "threads": _threads()},
                    "input_shape": list(data.input_shape),
                    "seconds": None}
    result = SharingResult(table, choice, video_rows,
                           trained={"networks": trained_networks, "deltas": trained_deltas},
                           reused={"networks": reused_networks, "deltas": reused_deltas},
                           settings=settings)
    settings["seconds"] = round(time.perf_counter() - started, 1)
    result.paths = _write(result, out, shared[levels[0]], data, factory,
                          counted[levels[0]]["counted"])
    echo(result.format())
    echo(f"wrote {', '.join(str(p) for p in result.paths.values())}")
    return result


# -- inputs -----------------------------------------------------------------------------------


def _vit_factory(model: Mapping[str, Any] | str | None) -> Any:
    """The ViT network factory of ``model`` (its options, ``"vit"`` or ``None``); another
    family cannot share computation (it has no linear-layer hook)."""
    from mtlgroup.models.network_factory import NetworkFactory

    if model is None:
        return NetworkFactory("vit")
    if isinstance(model, Mapping) and "name" not in model:
        return NetworkFactory("vit", dict(model))
    factory = NetworkFactory.of(model)  # type: ignore[arg-type]
    if factory.name != "vit":
        raise ValueError(f"computation sharing needs the ViT family (--model vit), not "
                         f"{factory.describe()}: sub-tasks reuse the base's transformer layers")
    return factory


def _task_list(dataset: str, tasks: Sequence[str] | str | None,
               data_options: Mapping[str, Any] | None) -> list[str] | None:
    """The task names of ``tasks`` (names, ``"a,b"``, ``"set:1"``, ``"all"``, ``None``)."""
    from mtlgroup.data.registry import resolve_tasks

    return None if tasks is None else resolve_tasks(dataset, tasks, dict(data_options or {}))


def _delta_config(given: DeltaConfig | Mapping[str, Any] | None, level: Level, seed: int,
                  device: str) -> DeltaConfig:
    from mtlgroup.sharing.train import DeltaConfig

    if isinstance(given, DeltaConfig):
        fields = _config_fields(given)
    else:
        fields = {**SHARE_SCALE["delta"], **dict(given or {})}
    fields.update(weight_density=level.weight_density,
                  activation_sparsity=level.activation_sparsity, seed=seed, device=device)
    try:
        return DeltaConfig(**fields)
    except TypeError as error:  # an unknown field
        raise ValueError(f"delta configuration: {error}") from None


def _config_fields(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _data(study: Study) -> MultiTaskData:
    from mtlgroup.data.registry import cached_dataset

    return cached_dataset(study.dataset, study.data_options)[0]


def _runner(executor: Executor | str | None, workers: int | None) -> Executor:
    from mtlgroup.study import Executor, create_executor

    if isinstance(executor, Executor):
        return executor
    return create_executor(executor or "local", workers=workers)


def _vit_network(study: Study, tasks: tuple[str, ...], size: float) -> MultiTaskNet:
    """The study's trained ViT of ``tasks`` at ``size`` (read back from its store)."""
    from mtlgroup.models.multitask import MultiTaskNet
    from mtlgroup.study import Candidate

    network = study.network(Candidate(tasks, size))
    assert isinstance(network, MultiTaskNet)  # the vit family builds MultiTaskNets
    return network


def _check(summary: Any, what: str) -> None:
    from mtlgroup.errors import RunFailure

    if not summary.ok:
        raise RunFailure(f"training the {what} failed: {summary.failed[0].summary} (rerun the "
                         "same command to retry; finished trainings are kept)")


def _inputs(split: Any) -> torch.Tensor:
    """Every input of ``split``, in order (the FLOPs of the shared model depend on them)."""
    import torch

    return torch.cat([batch.inputs for batch in split.batches(256)])


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


# -- base and deltas --------------------------------------------------------------------------


def _choose_base(singles: Mapping[str, MultiTaskNet], data: MultiTaskData, names: list[str],
                 base: str, method: BaseMethod, config: DeltaConfig, folder: Path,
                 single_keys: Mapping[str, str]) -> dict[str, Any]:
    """The base task and how it was chosen (a given base: the proxy ranking is still shown).

    The measurement trains a delta for every (candidate base, sub-task) pair, so it runs with
    one epoch per phase (``DeltaConfig.short``): it ranks candidates, the real deltas follow.
    The choice is saved in ``folder`` under a hash of what it depends on (the single-task
    networks by their job keys, the method and the short configuration), so a rerun reads it
    instead of measuring again.
    """
    from mtlgroup.sharing.base_choice import choose_base
    from mtlgroup.study.weights import write_atomic

    asked = "proxy" if base != "auto" else method
    short = config.short()
    identity = {"format": DELTA_FORMAT, "tasks": names, "base": base, "method": asked,
                "keys": dict(single_keys),
                "config": {k: v for k, v in _config_fields(short).items() if k != "device"}}
    path = folder / f"{identity_digest(identity)}.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    choice = choose_base(singles, data, data.tasks.subset(names), method=asked, config=short)
    proxy = {t: float(v) for t, v in (choice.proxy_scores or {}).items()}
    measured = ({t: float(v) for t, v in choice.measured_scores.items()}
                if choice.measured_scores else None)
    record = {"task": base if base != "auto" else choice.base, "given": base != "auto",
              "method": choice.method, "proxy_scores": proxy, "measured_scores": measured,
              "agreement": None if choice.agreement is None else float(choice.agreement),
              "ranking": ranking(proxy),
              "measured_ranking": ranking(measured, higher_is_better=False) if measured else []}
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, indent=1, sort_keys=True).encode())
    return record


def _all_deltas(
    folder: Path, study: Study, singles: Mapping[str, MultiTaskNet], base_task: str,
    data: MultiTaskData, levels: Sequence[Level], config: DeltaConfig, progress: bool | None,
    echo: Callable[[str], None],
) -> tuple[dict[Level, dict[str, TaskDelta]], int, int]:
    """Every sub-task's delta at every level: read from ``folder`` when a previous run saved
    it (same base and single-task weights, same configuration), else trained and saved at
    once. Returns the deltas by level and task, and how many were trained and reused."""
    from mtlgroup.progress import progress_bar
    from mtlgroup.sharing.train import train_task_delta
    from mtlgroup.study import Candidate

    subtasks = [t for t in singles if t != base_task]
    weights = {t: study.spec(Candidate((t,), 1.0)).key for t in singles}
    found: dict[Level, dict[str, TaskDelta]] = {lv: {} for lv in levels}
    trained = reused = 0
    todo = []
    for level in levels:
        level_config = dataclasses.replace(config, weight_density=level.weight_density,
                                           activation_sparsity=level.activation_sparsity)
        for task in subtasks:
            path = folder / delta_file_name(base_task, task, level, level_config,
                                            weights[base_task], weights[task])
            if path.is_file():
                found[level][task] = load_delta(path, singles[task].heads[task], task)
                reused += 1
            else:
                todo.append((level, task, level_config, path))
    echo(f"deltas: {len(levels)} level(s) x {len(subtasks)} sub-task(s): {len(todo)} to train, "
         f"{reused} reused from {folder}")
    with progress_bar(len(todo), "deltas", progress) as advance:
        for level, task, level_config, path in todo:
            begun = time.perf_counter()
            delta = train_task_delta(singles[base_task], base_task, singles[task],
                                     data.tasks[task], data, level_config, progress=False)
            save_delta(delta, path)
            found[level][task] = delta
            trained += 1
            advance(1, description=f"deltas: {base_task}→{task} {level.label}",
                    line=f"delta {base_task}→{task} {level.label}: density "
                    f"{delta.density():.3f} in {time.perf_counter() - begun:.1f} s")
    return found, trained, reused


def delta_file_name(base_task: str, task: str, level: Level, config: DeltaConfig,
                    base_key: str, task_key: str) -> str:
    """``<base>-<task>-<level>-<hash>.pt``: the hash covers everything the delta depends on
    (the base's and the sub-task's trained weights by their job keys, the whole delta
    configuration but the device), so a changed setting never reads a stale delta."""
    fields = {k: v for k, v in _config_fields(config).items() if k != "device"}
    identity = {"format": DELTA_FORMAT, "base": base_task, "task": task, "base_key": base_key,
                "task_key": task_key, "config": fields}
    return f"{base_task}-{task}-{level.slug}-{identity_digest(identity)}.pt"


def identity_digest(identity: Mapping[str, Any]) -> str:
    """A short hash of a JSON-able description of what a saved result depends on."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def save_delta(delta: TaskDelta, path: Path) -> Path:
    """Write ``delta`` (tensors and numbers only, read back with ``weights_only=True``)
    atomically: a killed run leaves the whole file or none."""
    import torch

    from mtlgroup.study.weights import write_atomic

    state = {"task": delta.task,
             "weight_deltas": {k: v.detach().cpu() for k, v in delta.weight_deltas.items()},
             "own_state": {k: v.detach().cpu() for k, v in delta.own_state.items()},
             "head": {k: v.detach().cpu() for k, v in delta.head.state_dict().items()},
             "thresholds": {k: float(v) for k, v in delta.thresholds.items()}}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())
    return path


def load_delta(path: Path, head: nn.Module, task: str) -> TaskDelta:
    """A delta written by :func:`save_delta`; ``head`` is a module of the sub-task's head
    architecture (copied, then given the saved weights)."""
    from mtlgroup.sharing.deltas import TaskDelta
    from mtlgroup.study.weights import read_state_dict

    state: dict[str, Any] = dict(read_state_dict(path))
    if state.get("task") != task:
        raise ValueError(f"{path}: holds the delta of {state.get('task')!r}, not {task!r}")
    own_head = copy.deepcopy(head)
    own_head.load_state_dict(state["head"])
    return TaskDelta(task, dict(state["weight_deltas"]), dict(state["own_state"]), own_head,
                     {k: float(v) for k, v in state["thresholds"].items()})


# -- models and measurements ------------------------------------------------------------------


def _shared_model(base: MultiTaskNet, base_task: str, deltas: Mapping[str, TaskDelta]) -> Any:
    from mtlgroup.sharing.model import SharedMultiTaskViT

    return SharedMultiTaskViT(base, base_task, dict(deltas)).eval()


def _shared_costs(model: Any, inputs: torch.Tensor, batch: int) -> dict[str, Any]:
    """The shared model's counted FLOPs per image on ``inputs`` (``"counted"``, and its
    numbers) and its stored parameters."""
    flops = _counted_flops(model, inputs, batch)
    stored = model.stored_parameters()
    return {"flops": float(flops.total), "flops_per_task": _floats(flops.per_task),
            "dense_flops": float(flops.dense_equivalent), "params": int(stored.total),
            "params_per_task": _floats(stored.per_task), "counted": flops}


def _counted_flops(model: Any, inputs: torch.Tensor, batch: int) -> Any:
    """:meth:`~mtlgroup.sharing.model.SharedMultiTaskViT.counted_flops` over ``inputs`` in
    chunks of ``batch`` images: the sub-tasks' per-image means weighted by chunk size (the
    base encoder and heads are counted densely, the same for every chunk)."""
    import torch

    from mtlgroup.sharing.model import SharedFlops

    batch = max(1, batch)
    with torch.inference_mode():
        parts = [model.counted_flops(inputs[i:i + batch]) for i in range(0, len(inputs), batch)]
    if len(parts) == 1:
        return parts[0]
    images = sum(p.images for p in parts)
    encoder = {t: sum(p.encoder[t] * p.images for p in parts) / images
               for t in parts[0].encoder}
    return SharedFlops(encoder, parts[0].heads, parts[0].dense_equivalent, images)


def _floats(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()}


def _cost_model(study: Study, data: MultiTaskData, factory: Any) -> Any:
    from mtlgroup.cost import CostModel

    return CostModel(data.tasks.subset(study.tasks), data.input_shape, factory)


def parameter_count(module: nn.Module) -> int:
    """Parameters of ``module`` (every one is stored)."""
    return sum(p.numel() for p in module.parameters())


def _outcome(study: Study, key: str) -> Any:
    """The stored outcome of the finished job ``key`` (its test scores and FLOPs)."""
    outcome = study.store.job(key).outcome
    assert outcome is not None  # the runs were checked (_check) before the table
    return outcome


def _table(study: Study, data: MultiTaskData, names: list[str],
           singles: Mapping[str, MultiTaskNet], single_keys: Mapping[str, str],
           mtl: Mapping[float, nn.Module], mtl_keys: Mapping[float, str],
           sizes: Mapping[Level, float], shared: Mapping[Level, Any],
           counted: Mapping[Level, dict[str, Any]], inputs: torch.Tensor, latency_batch: int,
           repeats: int, echo: Callable[[str], None]) -> SharingTable:
    """Score, count and time every model (on the same test split; the study's ViTs by their
    stored outcomes, the shared models here on the CPU)."""
    from mtlgroup.cost import measure_latencies
    from mtlgroup.delta_m import task_metrics
    from mtlgroup.export.grouped import GroupedModel
    from mtlgroup.training.losses import evaluate

    tasks = data.tasks.subset(names)
    # The ViTs were scored on the test split and counted when the study trained them: their
    # outcomes in the store hold both; only the shared models are evaluated here.
    single = {t: _outcome(study, single_keys[t]) for t in names}
    independent = GroupedModel(dict(singles), {t: t for t in names}).eval()
    single_flops = {t: float(single[t].flops) for t in names}
    models: dict[str, nn.Module] = {"independent": independent}
    rows = [SharingRow("independent", "independent",
                       {t: dict(single[t].scores["test"][t]) for t in names},
                       flops=sum(single_flops.values()),
                       params=parameter_count(independent), flops_per_task=single_flops,
                       size=1.0)]
    for size, network in mtl.items():
        label = f"multi-task@{size:g}"
        models[label] = network.eval()
        outcome = _outcome(study, mtl_keys[size])
        rows.append(SharingRow(label, "multi-task", dict(outcome.scores["test"]),
                               flops=float(outcome.flops),
                               params=parameter_count(network), size=size))
    for level, model in shared.items():
        label = f"shared {level.label}"
        models[label] = model
        found = counted[level]
        rows.append(SharingRow(
            label, "shared", evaluate(model, data.test, tasks), flops=found["flops"],
            params=found["params"], flops_per_task=found["flops_per_task"],
            weight_density=level.weight_density, activation_sparsity=level.activation_sparsity,
            extra={"dense_flops": found["dense_flops"],
                   "params_per_task": found["params_per_task"],
                   "multi_task_at_equal_flops": f"multi-task@{sizes[level]:g}"}))
    echo(f"latency: {len(models)} models, batch of {min(latency_batch, len(inputs))} test "
         f"images, {repeats} interleaved repeats on {_threads()} CPU thread(s)")
    latencies = measure_latencies(models, inputs[:latency_batch], repeats, warmup=2)
    for row in rows:
        row.latency_s = latencies[row.label]
    return SharingTable(rows, task_metrics(study.dataset_tasks, names))


def _video(base: MultiTaskNet, base_task: str, deltas: Mapping[str, TaskDelta],
           names: list[str], data: MultiTaskData, seed: int, frames: int,
           key_every: int | None, echo: Callable[[str], None]) -> list[dict[str, Any]]:
    """Temporal reuse on one ``scenes`` clip: every task's network (the base, each sub-task's
    ``W_base + M ⊙ Δ``) reuses its previous frame's activations where they changed less than
    its layer's threshold; thresholds drop each :data:`VIDEO_SPARSITIES` fraction of the
    frame-to-frame changes on another clip (calibration), and the clip is scored against
    processing every frame in full."""
    from mtlgroup.data.clips import scene_clip
    from mtlgroup.delta_m import task_metrics
    from mtlgroup.sharing.deltas import subtask_network
    from mtlgroup.sharing.temporal import evaluate_clip, threshold_for_sparsity

    size = int(data.input_shape[-1])
    clip = scene_clip(seed, frames=frames, size=size, index=0)
    calibration = scene_clip(seed, frames=frames, size=size, index=1)
    networks = {t: base if t == base_task else subtask_network(base, deltas[t]) for t in names}
    echo(f"video: a {frames}-frame clip, temporal sparsities "
         f"{', '.join(f'{s:g}' for s in VIDEO_SPARSITIES)}")
    metrics = task_metrics(clip.tasks, names)
    entries = []
    for sparsity in VIDEO_SPARSITIES:
        found = {t: evaluate_clip(net, clip, [t],
                                  threshold_for_sparsity(net, calibration.images, sparsity),
                                  key_every)
                 for t, net in networks.items()}
        flops = sum(f.mean_flops for f in found.values())
        full = sum(f.full_flops for f in found.values())
        entries.append({
            "sparsity": sparsity, "frames": frames, "key_every": key_every,
            "flops_per_frame": flops, "full_flops_per_frame": float(full),
            "flop_ratio": flops / full,
            "metrics": {t: {"name": metrics[t].name,
                            "lower_is_better": metrics[t].lower_is_better,
                            "temporal": f.temporal[t][metrics[t].name],
                            "full": f.full[t][metrics[t].name]} for t, f in found.items()},
            "losses": {t: {"temporal": f.temporal[t]["loss"], "full": f.full[t]["loss"]}
                       for t, f in found.items()},
            "output_change": {t: f.output_change[t] for t, f in found.items()}})
    return entries


# -- outputs ----------------------------------------------------------------------------------


def _write(result: SharingResult, out: Path, exported: Any, data: MultiTaskData, factory: Any,
           flops: Any) -> dict[str, Path]:
    from mtlgroup.sharing.model import save_shared
    from mtlgroup.sharing.report import plot_sharing, write_sharing_report

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "sharing.json", "csv": out / "sharing.csv"}
    paths["csv"].write_text(result.table.csv())
    paths["png"] = plot_sharing(result.table, out / "sharing.png",
                                f"{result.settings['dataset']} "
                                f"({', '.join(result.settings['tasks'])})")
    # The bundle records the FLOPs counted on the test inputs for the table (its manifest).
    paths["export"] = save_shared(exported, out / "export", model=factory, data=data,
                                  flops=flops, metadata={"sharing": "sharing.json"})
    paths["html"] = out / "report.html"
    result.paths = paths
    write_sharing_report(paths["html"], result)
    paths["json"].write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return paths
