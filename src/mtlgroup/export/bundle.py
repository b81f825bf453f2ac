"""The export bundle: a run's chosen networks as a folder that loads without the study or the
data.

``mtlgroup export RUN --budget B --out DIR`` (:func:`export_bundle`) writes::

    DIR/manifest.json        what load_grouped needs, and what a person wants to know
    DIR/weights/net0.pt      one state_dict per chosen network (torch.save, weights only)
    DIR/model.ts|.onnx|.pt2  optional: the grouped model in other formats (--format)

``manifest.json`` holds: ``format`` and ``format_version`` (:data:`FORMAT_VERSION`); the tasks
(name, kind, channels, loss, head factory, and for a table target how to read its predictions:
mean/std or classes); the input (shape and the format raw inputs take: image scaling, a
table's feature encodings); per network its name, tasks, which of them it serves, encoder size,
cost and serving cost (in standard networks), the factory and options that rebuild it, its
weight file with sha256 and bytes, and its validation/test metrics; the budget, the run and
the versions of mtlgroup, torch and Python.

:func:`load_grouped` checks the format version and every weight file's checksum, rebuilds each
network with its factory (a user's factory must import: otherwise a clear error) and returns a
:class:`~mtlgroup.export.grouped.GroupedModel` whose ``metadata`` is the manifest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shlex
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlgroup.export.choice import RunChoice, run_choice
from mtlgroup.export.grouped import GroupedModel, serving_network

if TYPE_CHECKING:
    from torch import nn

    from mtlgroup.data.base import MultiTaskData
    from mtlgroup.sharing.model import SharedMultiTaskViT
    from mtlgroup.tasks import Task, TaskSet

FORMAT = "mtlgroup-bundle"
FORMAT_VERSION = 1
"""Bump when a reader of the previous version could misread a new bundle."""
LOADERS = {"mtlgroup-shared": "mtlgroup.sharing.model:load_shared"}
"""Other bundle formats :func:`load_grouped` serves → the loader (imported by name when such a
bundle is loaded: those modules build on this one's helpers, so this one cannot import them)."""
MANIFEST = "manifest.json"
WEIGHTS_DIR = "weights"


class BundleError(ValueError):
    """A bundle that cannot be loaded: missing or tampered file, newer format, factory that
    does not import here. The message names the file."""


def export_command(run: str | Path, budget: float, out: str | Path | None = None) -> str:
    """The command that exports ``run``'s choice at ``budget``.

    >>> export_command("runs/demo", 2.5)
    'mtlgroup export runs/demo --budget 2.5 --out runs/demo/export-2.5'
    """
    out = Path(run) / f"export-{budget:g}" if out is None else Path(out)
    return (f"mtlgroup export {shlex.quote(str(run))} --budget {budget:g} "
            f"--out {shlex.quote(str(out))}")


def grouped_model(run: str | Path, budget: float, store: str | Path | None = None) -> GroupedModel:
    """The grouped model of ``run``'s choice at ``budget``, straight from its store (no bundle
    written), in ``eval`` mode on the CPU."""
    choice = run_choice(run, budget, store)
    tasks = choice.data().tasks
    networks = {name: choice.build(name, tasks) for name in choice.networks}
    return GroupedModel(networks, choice.served_by).eval()


def export_bundle(
    run: str | Path,
    budget: float,
    out: str | Path,
    store: str | Path | None = None,
    formats: Sequence[str] = (),
) -> Path:
    """Write the bundle of ``run``'s choice at ``budget`` to ``out`` (replaced if it is a bundle
    already; refused if it is anything else) and return ``out``.

    The bundle is assembled in a temporary folder beside ``out`` and renamed into place, so an
    interrupted export leaves no half bundle; it is loaded back (checksums, rebuild) before it
    replaces anything.
    """
    from mtlgroup.export.formats import FORMATS, write_format

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format {unknown[0]!r}; expected one of {', '.join(FORMATS)}")
    out = Path(out)
    check_bundle_out(out)
    choice = run_choice(run, budget, store)
    data = choice.data()
    with replacing(out) as tmp:
        (tmp / WEIGHTS_DIR).mkdir()
        manifest = _manifest(choice, data, tmp)
        write_json(tmp / MANIFEST, manifest)
        model = load_grouped(tmp)
        assert isinstance(model, GroupedModel)  # export_bundle writes the grouped format
        for name in formats:
            manifest["formats"][name] = write_format(name, model, tmp, manifest)
        write_json(tmp / MANIFEST, manifest)
    return out


@contextmanager
def replacing(folder: Path) -> Iterator[Path]:
    """A new empty folder beside ``folder`` to assemble a bundle in; when the ``with`` block
    ends without an error it replaces ``folder`` (removed first if it exists) by a rename, so
    an interrupted or failed write leaves no half bundle and the old one untouched. The
    temporary folder is removed in every case.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with replacing(root / "bundle") as tmp:
    ...     _ = (tmp / "manifest.json").write_text("{}")
    >>> sorted(p.name for p in root.rglob("*"))
    ['bundle', 'manifest.json']
    """
    tmp = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_bundle_out(out: Path) -> None:
    """Refuse ``out`` unless it is absent, empty or a bundle (which will be replaced)."""
    if out.is_file() or (out.is_dir() and any(out.iterdir())
                         and not (out / MANIFEST).is_file()):
        raise ValueError(f"{out} exists and is not an export bundle; choose another --out")
    if not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)


def _manifest(choice: RunChoice, data: MultiTaskData, folder: Path) -> dict[str, Any]:
    import torch

    import mtlgroup
    from mtlgroup.cost import CostModel, count_flops
    from mtlgroup.study.weights import sha256_file

    # Every task of a chosen network, auxiliary ones too: their heads are in its weights.
    trained = {t for r in choice.records.values() for t in r.candidate.tasks}
    tasks = data.tasks.subset([t for t in data.tasks.names if t in trained])
    input_shape = choice.input_shape()
    # The cost unit: the mean standard single-task network over the run's tasks (all served).
    costs = CostModel(data.tasks.subset(list(choice.served_by)), input_shape, choice.factory)
    networks = []
    for index, name in enumerate(choice.networks):
        record = choice.records[name]
        assert record.outcome is not None
        serves = [t for t in choice.served_by if choice.served_by[t] == name]
        file = Path(WEIGHTS_DIR) / f"net{index}.pt"
        with_weights = folder / file
        shutil.copyfile(choice.weights_path(name), with_weights)
        network = choice.build(name, data.tasks)
        serving = serving_network(network, serves)
        networks.append({
            "name": name,
            "tasks": list(record.candidate.tasks),
            "serves": serves,
            "size": record.candidate.size,
            "cost": costs.cost(record.candidate.tasks, record.candidate.size),
            "serving_cost": count_flops(serving, input_shape).total / costs.reference_flops,
            "model": {"name": record.spec.model.name, "options": dict(record.spec.model.options),
                      "version": record.spec.model.version},
            "weights": file.as_posix(),
            "sha256": sha256_file(with_weights),
            "bytes": with_weights.stat().st_size,
            "job_key": record.key,
            "metrics": {split: {t: record.outcome.scores[split][t] for t in serves
                                if t in record.outcome.scores.get(split, {})}
                        for split in ("val", "test")},
        })
    row = choice.row
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": {"mtlgroup": mtlgroup.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "run": str(choice.run.resolve()),
        "dataset": {"name": data.name, "spec": dict(data.spec)},
        "budget": choice.budget,
        "cost": sum(n["cost"] for n in networks),
        "serving_cost": sum(n["serving_cost"] for n in networks),
        "cost_unit": "forward FLOPs of one standard single-task network",
        "test_total": row.get("test_total"),
        "tasks": [task_record(task, data) for task in tasks],
        "input": {"shape": list(input_shape), "format": input_format(data)},
        "served_by": dict(choice.served_by),
        "networks": networks,
        "formats": {},
    }


def task_record(task: Task, data: MultiTaskData | None) -> dict[str, Any]:
    """What rebuilds ``task``'s head and reads its outputs, as JSON (a table target's reading
    comes from ``data``'s schema, if any)."""
    from mtlgroup.imports import import_object

    head = None
    if task.head is not None:
        head = f"{task.head.__module__}:{task.head.__qualname__}"
        try:
            found = import_object(head)
        except ValueError:
            found = None
        if found is not task.head:
            raise ValueError(f"task {task.name}: its head factory {head} cannot be imported by "
                             "that name, so a bundle could not rebuild it; define it at module "
                             "level in an importable module")
    record: dict[str, Any] = {
        "name": task.name, "kind": task.kind, "channels": task.channels,
        "loss": task.loss if isinstance(task.loss, str) else None, "head": head,
    }
    target = _table_target(task.name, data)
    if target is not None:
        record["target"] = target
    return record


def _table_target(task: str, data: MultiTaskData | None) -> dict[str, Any] | None:
    schema = getattr(data, "schema", None)
    if schema is None:
        return None
    for target in schema.targets:
        if target.column == task:
            return _json_values(dataclasses.asdict(target))
    return None


def input_format(data: MultiTaskData) -> dict[str, Any]:
    """How raw inputs become the model's input (see ``MultiTaskData.input_format``); a table's
    from its schema: the feature encodings and the imputation rule."""
    schema = getattr(data, "schema", None)
    if schema is not None:
        return {"kind": "table",
                "features": [_json_values(dataclasses.asdict(f)) for f in schema.features],
                "impute": data.spec.get("impute")}
    return dict(data.input_format or {"kind": "tensor"})


def _json_values(value: Any) -> Any:
    """Tuples as lists and NumPy scalars as Python numbers (JSON round-trips them equal)."""
    if isinstance(value, dict):
        return {k: _json_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_values(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Write ``value`` as indented JSON to ``path`` atomically (a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


# -- loading -----------------------------------------------------------------------------------


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """A bundle's manifest, with its format and version checked."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"{folder}: no {MANIFEST}: not an export bundle (mtlgroup export "
                          "writes one)")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in (FORMAT, *LOADERS):
        raise BundleError(f"{path}: not an mtlgroup bundle manifest (format "
                          f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
    if manifest["format"] != FORMAT:
        return manifest  # its loader checks its own version
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        written = manifest.get("versions", {}).get("mtlgroup", "?")
        raise BundleError(f"{path}: bundle format version {version} (written by mtlgroup "
                          f"{written}); this mtlgroup reads versions up to {FORMAT_VERSION}: "
                          "upgrade mtlgroup")
    return manifest


def checked_weights(folder: Path, entry: dict[str, Any], owner: str) -> Path:
    """The weight file of a manifest ``entry`` (its ``weights`` and ``sha256``) in ``folder``,
    once it is there and its checksum matches; else a :class:`BundleError` naming the file and
    ``owner`` (``"network net0"``, ``"task depth"``)."""
    from mtlgroup.study.weights import sha256_file

    path = folder / entry["weights"]
    if not path.is_file():
        raise BundleError(f"{path}: weight file of {owner} is missing")
    if sha256_file(path) != entry["sha256"]:
        raise BundleError(f"{path}: checksum mismatch for {owner} (the file was changed or is "
                          "corrupt); export the bundle again")
    return path


def load_grouped(folder: str | Path, device: str = "cpu") -> GroupedModel | SharedMultiTaskViT:
    """The grouped model of an export bundle, in ``eval`` mode on ``device`` (for a bundle of
    another format in :data:`LOADERS`, such as a shared multi-task ViT, that format's model).

    Raises :class:`BundleError` naming the file for a missing or tampered weight file (the
    manifest's sha256), a bundle written by a newer format version, or a network factory that
    does not import here.
    """
    import torch

    from mtlgroup.study.weights import read_state_dict

    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest["format"] in LOADERS:
        from mtlgroup.imports import import_object

        loaded: SharedMultiTaskViT = import_object(LOADERS[manifest["format"]])(folder, device)
        return loaded
    tasks = rebuild_tasks(manifest)
    shape = tuple(manifest["input"]["shape"])
    networks: dict[str, nn.Module] = {}
    for entry in manifest["networks"]:
        path = checked_weights(folder, entry, f"network {entry['name']}")
        network = _build(entry, tasks, shape, path)
        network.load_state_dict(read_state_dict(path))
        networks[entry["name"]] = network
    model = GroupedModel(networks, manifest["served_by"], manifest)
    return model.to(torch.device(device)).eval()


def _build(entry: dict[str, Any], tasks: TaskSet, shape: tuple[int, ...], path: Path) -> nn.Module:
    from mtlgroup.models.network_factory import NetworkFactory

    spec = entry["model"]
    try:
        factory = NetworkFactory.of({"name": spec["name"], **spec["options"]})
        return factory.build(tasks.subset(entry["tasks"]), shape, entry["size"])
    except ValueError as error:
        raise BundleError(f"{path.parent.parent / MANIFEST}: network {entry['name']} is built "
                          f"by {spec['name']}, which cannot build it here: {error}") from None


def rebuild_tasks(manifest: dict[str, Any]) -> TaskSet:
    """The bundle's tasks, enough to build heads (loss functions are not needed to predict:
    a custom one is replaced by ``l1``)."""
    from mtlgroup.imports import import_object
    from mtlgroup.tasks import Task, TaskSet

    names = {t for entry in manifest.get("networks", ()) for t in entry["tasks"]}
    known = {record["name"]: record for record in manifest["tasks"]}
    missing = sorted(names - set(known))
    if missing:  # an auxiliary task of a network: its record is there for its head
        raise BundleError(f"manifest lists no task {missing[0]}")
    tasks = []
    for name in sorted(known):
        record = known[name]
        head = None
        if record.get("head"):
            try:
                head = import_object(record["head"])
            except ValueError as error:
                raise BundleError(f"task {name}: its head factory does not import here: "
                                  f"{error}") from None
        tasks.append(Task(name, record["kind"], int(record["channels"]),
                          record.get("loss") or "l1", head=head))
    return TaskSet(tasks)
