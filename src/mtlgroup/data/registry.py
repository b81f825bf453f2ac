"""Datasets by name, so configs and the CLI can say ``--dataset scenes`` or
``--dataset mypkg.data:load``.

A dataset is a registry name (``scenes``, ``fashion``, ``table``, ``synthetic``) or an import
path ``package.module:function`` to a user's function returning
:class:`~mtlgroup.data.MultiTaskData`; keyword options go to the loader either way. Worker
processes import a user's loader again by its path. :func:`dataset_tasks` and
:func:`resolve_tasks` answer "which tasks?" without training anything.

Example:
    >>> from mtlgroup.data import available_datasets, resolve_tasks
    >>> "scenes" in available_datasets()
    True
    >>> resolve_tasks("synthetic", "bright,parity")
    ['bright', 'parity']
"""

from __future__ import annotations

import functools
import inspect
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mtlgroup.data.base import MultiTaskData
from mtlgroup.imports import import_object, is_import_path
from mtlgroup.registry import Registry, UnknownNameError
from mtlgroup.tasks import TaskSet, parse_task_list


@dataclass(frozen=True)
class DatasetEntry:
    """How to describe a dataset without loading it, and how to load it.

    ``tasks`` lists the tasks without loading; ``None`` when they are known only after loading
    (a table's targets, a user's dataset), then :func:`dataset_tasks` loads it. ``identify``
    (optional) takes the loader's options and returns, cheaply, what the options alone do not
    say about the data (e.g. a hash of the file they name): it enters every job key, so a study
    never reuses results trained on an older version of the data. ``resolve`` (optional) maps
    the options to their canonical form where the same data can be named in several ways, e.g.
    a relative file path to an absolute one, so that worker processes with another working
    directory read the same file.
    """

    name: str
    description: str
    tasks: Callable[[], TaskSet] | None
    load: Callable[..., MultiTaskData]
    task_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    identify: Callable[..., Mapping[str, Any]] | None = None
    resolve: Callable[[dict[str, Any]], dict[str, Any]] | None = None


DATASETS: Registry[DatasetEntry] = Registry(
    "dataset",
    builtins=("mtlgroup.data.scenes", "mtlgroup.data.synthetic", "mtlgroup.data.table",
              "mtlgroup.data.fashion"),
)

UnknownDatasetError = UnknownNameError
"""The error of an unknown dataset name (kept for code that catches it by this name)."""


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Make ``entry`` available as ``--dataset NAME`` (a re-registered name is replaced)."""
    return DATASETS.register(entry.name, entry, replace=True)


def dataset_entry(name: str) -> DatasetEntry:
    """The entry of a registered name, or of a user's ``package.module:function``.

    Raises :class:`UnknownNameError` for an unknown name and
    :class:`~mtlgroup.imports.ImportPathError` for a path that does not import.
    """
    if is_import_path(name):
        return _user_entry(name)
    return DATASETS.get(name)


@functools.lru_cache(maxsize=32)
def _user_entry(path: str) -> DatasetEntry:
    function = import_object(path)
    if not callable(function):
        raise ValueError(f"dataset {path}: {type(function).__name__} is not callable; expected "
                         "a function returning MultiTaskData")

    @functools.wraps(function)
    def load(*args: Any, **options: Any) -> MultiTaskData:
        try:
            data = function(*args, **options)
        except Exception as error:  # the user's code failed: one line that says where
            raise ValueError(f"dataset {path} raised {type(error).__name__}: {error}") from error
        if not isinstance(data, MultiTaskData):
            raise ValueError(f"dataset {path} returned {type(data).__name__}; expected "
                             "mtlgroup.data.MultiTaskData")
        return data

    doc = (inspect.getdoc(function) or "").strip().splitlines()
    return DatasetEntry(path, doc[0] if doc else f"user dataset {path}", None, load, {})


def available_datasets() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(DATASETS.names())


def load_dataset(name: str, **options: Any) -> MultiTaskData:
    """Load a dataset by name or import path; ``options`` go to its loader (e.g.
    ``n_train=2000``)."""
    return dataset_entry(name).load(**options)


def canonical_data_options(dataset: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The loader's keyword arguments with its defaults filled in, so that ``{}`` and the
    explicit defaults name the same data (and the same job keys).

    Raises ``ValueError`` naming an option the dataset's loader does not accept, or a missing
    required one.
    """
    entry = dataset_entry(dataset)
    signature = inspect.signature(entry.load)
    var_keyword = [n for n, p in signature.parameters.items() if p.kind is p.VAR_KEYWORD]
    known = [
        name for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = sorted(set(options) - set(known))
    if unknown and not var_keyword:
        raise ValueError(
            f"dataset {dataset!r} has no option {unknown[0]!r}; "
            f"its options: {', '.join(known) or '(none)'}"
        )
    required = [n for n in known if signature.parameters[n].default is inspect.Parameter.empty]
    missing = [n for n in required if n not in options]
    if missing:
        raise ValueError(f"dataset {dataset!r} needs the option {missing[0]!r} "
                         f"(data: {{{missing[0]}: ...}} in a config)")
    bound = signature.bind_partial(**options)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    extra = arguments.pop(var_keyword[0], {}) if var_keyword else {}
    canonical = {**arguments, **extra}
    return entry.resolve(canonical) if entry.resolve is not None else canonical


def versioned(**identity: Any) -> Callable[..., dict[str, Any]]:
    """An ``identify`` for datasets whose options say everything but the code's version:
    ``identify=versioned(generator_version=3)``."""
    return lambda **_: dict(identity)


def data_identity(dataset: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies the data beyond its name and options (``{}`` for most datasets; a
    table's file hash), from the entry's ``identify``."""
    identify = dataset_entry(dataset).identify
    return dict(identify(**options)) if identify is not None else {}


_DATA_CACHE: OrderedDict[str, MultiTaskData] = OrderedDict()
_DATA_CACHE_SIZE = 2
"""Datasets a process keeps: a study uses one; finalize after a change of options, a second."""


def cached_dataset(dataset: str, options: Mapping[str, Any]) -> tuple[MultiTaskData, bool]:
    """``(data, cache_hit)``: each process loads a dataset once per options and keeps it."""
    # The identity too: a table edited on disk is new data, even in a process that loaded it.
    identity = data_identity(dataset, options)
    cache_key = json.dumps([dataset, dict(options), identity], sort_keys=True, default=str)
    if cache_key in _DATA_CACHE:
        _DATA_CACHE.move_to_end(cache_key)
        return _DATA_CACHE[cache_key], True
    data = _DATA_CACHE[cache_key] = load_dataset(dataset, **options)
    while len(_DATA_CACHE) > _DATA_CACHE_SIZE:
        _DATA_CACHE.popitem(last=False)
    return data, False


def dataset_tasks(dataset: str, options: Mapping[str, Any] | None = None) -> TaskSet:
    """The tasks of a dataset: from its entry when it lists them, else by loading it (once per
    process, see :func:`cached_dataset`)."""
    entry = dataset_entry(dataset)
    if entry.tasks is not None:
        return entry.tasks()
    return cached_dataset(dataset, canonical_data_options(dataset, options or {}))[0].tasks


def resolve_tasks(
    dataset: str, tasks: str | Sequence[str] | None, options: Mapping[str, Any] | None = None
) -> list[str]:
    """Task names from ``"all"`` (or ``None``), comma-separated names, a list, or
    ``set:NAME`` for one of the dataset's named task sets; in the order given.

    Raises :class:`~mtlgroup.tasks.UnknownTaskError` naming an unknown task and listing the
    valid ones, ``ValueError`` for an unknown task set or an empty list.
    """
    valid = dataset_tasks(dataset, options).names
    text = tasks.strip() if isinstance(tasks, str) else tasks
    if text is None or text == "all":
        return list(valid)
    if isinstance(text, str) and text.startswith("set:"):
        set_name = text[4:]
        task_sets = dataset_entry(dataset).task_sets
        if set_name not in task_sets:
            known = ", ".join(f"set:{k}" for k in task_sets) or "none"
            raise ValueError(f"unknown task set {text!r} of {dataset}; known: {known}")
        return list(task_sets[set_name])
    return parse_task_list(text, valid)
