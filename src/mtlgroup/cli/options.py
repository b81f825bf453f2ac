"""Flags shared by the commands, each defined once, and how they become :class:`Settings`.

Every flag that sets a run's setting has the default ``None`` ("not given") and names the key
of :class:`mtlgroup.config.Settings` it overrides in :data:`FLAG_KEYS`; the defaults live in the
schema only (the help texts quote them from there). A command collects the flags it was given
with :func:`overrides` and builds its settings with :func:`load_settings`, so a config file,
the flags and the Python API can never disagree about a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from mtlgroup.cli.app import UsageError

_DEFAULT = re.compile(r"\{default (\w+)\.(\w+)\}")


def _default(section: str, field: str) -> str:
    # A placeholder, filled by `fill_defaults` once a command is chosen: the schema pulls in
    # pydantic (half a second), which `mtlgroup --help` and `mtlgroup select` need not wait for.
    return f"{{default {section}.{field}}}"


def fill_defaults(command: Any) -> None:
    """Replace the placeholders of ``_default`` in the help texts of ``command`` (a click
    command) by the defaults of :class:`~mtlgroup.config.Settings`."""
    for param in command.params:
        text = getattr(param, "help", None)
        if text and _DEFAULT.search(text):
            param.help = _DEFAULT.sub(_schema_default, text)


def _schema_default(match: re.Match[str]) -> str:
    from mtlgroup.config import Settings

    model = Settings.model_fields[match[1]].annotation
    return str(model.model_fields[match[2]].default)  # type: ignore[union-attr]


CONFIG = typer.Option(None, "--config", "-c",
                      help="YAML config (sections data, model, training, study, pipeline, out); "
                      "flags given on the command line win over it.")
DATASET = typer.Option(
    None, "--dataset", "-d",
    help="Dataset: scenes (default), fashion, table, synthetic, or your own "
    "package.module:function returning MultiTaskData (see `mtlgroup datasets`).",
)
DATA_OPTION = typer.Option(
    None, "--data",
    help="A loader option KEY=VALUE (repeatable; VALUE is read as YAML), e.g. "
    "--data path=sales.csv --data 'targets=[sales, returns]' for --dataset table.",
)
TASKS = typer.Option(None, "--tasks", "-t",
                     help="Comma-separated tasks, 'all' (default: every task of the dataset, "
                     "e.g. scenes' 10), or a task set such as 'set:1'.")
MODEL = typer.Option(
    None, "--model",
    help="Network factory: conv (images), vit (images, a small vision transformer), mlp "
    "(feature vectors, tables), or your own "
    "package.module:function(tasks, input_shape, size, **options) returning an nn.Module "
    "(default: conv for image inputs, mlp otherwise).",
)
MODEL_OPTION = typer.Option(None, "--model-option",
                            help="An option of the network factory KEY=VALUE (repeatable).")
N_TRAIN = typer.Option(None, "--n-train", min=1, help="Training samples (default: the dataset's).")
N_VAL = typer.Option(None, "--n-val", min=1, help="Validation samples.")
N_TEST = typer.Option(None, "--n-test", min=1, help="Test samples.")
IMAGE_SIZE = typer.Option(None, "--image-size", min=8, help="Image side in pixels (scenes: 32).")
DATA_SEED = typer.Option(None, "--data-seed", help="Seed of the generated data or of the split.")

EPOCHS = typer.Option(
    None, "--epochs", min=1,
    help=f"Passes over the training split (default {_default('training', 'epochs')}).",
)
MAX_STEPS = typer.Option(None, "--max-steps", min=1, help="Optimizer steps (overrides --epochs).")
BATCH_SIZE = typer.Option(None, "--batch-size", min=1,
                          help=f"Default {_default('training', 'batch_size')}.")
LR = typer.Option(None, "--lr", help=f"Learning rate (default {_default('training', 'lr')}).")
OPTIMIZER = typer.Option(None, "--optimizer", help="adam (default) or sgd.")
SCHEDULE = typer.Option(None, "--schedule", help="constant (default), cosine or step.")
PATIENCE = typer.Option(None, "--patience", min=1,
                        help="Stop after this many validations without improvement.")
SEED = typer.Option(None, "--seed", help="Seed of weights and data order (default 0).")
DEVICE = typer.Option(None, "--device", help="auto (default: CUDA if present), cpu or cuda.")

EXECUTOR = typer.Option(None, "--executor", help="local (default), ray, inline.")
WORKERS = typer.Option(None, "--workers", "-j", min=1,
                       help="Jobs at once (local: processes; ray: CPUs).")
THREADS = typer.Option(None, "--threads", min=1,
                       help="Torch threads per local worker (default cores/workers).")
ADDRESS = typer.Option(None, "--address", help="Ray cluster address (default: start a local one).")
KEEP_WEIGHTS = typer.Option(
    None, "--keep-weights",
    help="Trained networks the store keeps: all, full (not ESA's short runs) or none "
    f"(default {_default('study', 'keep_weights')}).",
)

RECOMMEND_BUDGET = typer.Option(
    None, "--recommend-budget",
    help="The budget the report recommends networks for (one of the run's budgets; default: "
    "the knee of the validation curve).",
)

REFINE = typer.Option(
    None, "--refine", show_default=False,
    help="Refine the estimate (hoa, esa): train the chosen networks it only predicted, select "
    "again on their real losses, until every chosen network is trained (docs/pipeline.md, "
    "Refinement).",
)

STRATEGY = typer.Option(
    None, "--strategy",
    help="Update strategy of every training: joint (default: the sum of losses, one step), "
    "stgu, or another of `mtlgroup strategies` (pcgrad, upgrad, ...; the torchjd ones need "
    "pip install 'mtlgroup[torchjd]'); options as NAME:KEY=VALUE,..., e.g. cagrad:c=0.4.",
)

SIZE = typer.Option(1.0, "--size", help="Encoder size: 1 = standard, 0.5 = half the FLOPs.")
TRACK = typer.Option(
    None, "--track",
    help="Log every training to mlflow (default store OUT/mlflow.db, no server) or tensorboard "
    "(OUT/tensorboard); none turns a config's track off. Each needs mtlgroup's extra of its "
    "name (see docs/tracking.md).",
)
PROGRESS = typer.Option(
    None, "--progress/--no-progress",
    help="Show progress on stderr: a bar on a terminal, otherwise (a log) one line per finished "
    "job and a summary per stage. Default: on, unless MTLGROUP_PROGRESS=0.",
)

FLAG_KEYS: dict[str, str] = {
    "dataset": "data.dataset", "tasks": "data.tasks", "n_train": "data.n_train",
    "n_val": "data.n_val", "n_test": "data.n_test", "image_size": "data.image_size",
    "data_seed": "data.seed", "model": "model",
    "epochs": "training.epochs", "max_steps": "training.max_steps",
    "batch_size": "training.batch_size", "lr": "training.lr", "optimizer": "training.optimizer",
    "schedule": "training.schedule", "patience": "training.patience", "seed": "training.seed",
    "device": "training.device",
    "plan": "study.plan", "networks": "study.networks", "executor": "study.executor",
    "workers": "study.workers", "threads": "study.threads_per_worker",
    "address": "study.address", "retry_failed": "study.retry_failed", "cost": "study.cost",
    "keep_weights": "study.keep_weights",
    "estimator": "pipeline.estimator", "recommend_budget": "pipeline.recommend_budget",
    "refine": "pipeline.refine",
    "out": "out", "track": "track", "strategy": "strategy",
    "strategies": "benchmark.strategies", "seeds": "benchmark.seeds",
    "grouping": "benchmark.grouping", "max_groups": "benchmark.max_groups",
    "grouping_every": "benchmark.grouping_every", "metric": "benchmark.metric",
    "benchmark_size": "benchmark.size",
}
"""Flag (parameter name) → the :class:`~mtlgroup.config.Settings` key it sets."""


def parse_assignments(items: list[str] | None, flag: str) -> dict[str, Any]:
    """``["path=a.csv", "targets=[x, y]"]`` → ``{"path": "a.csv", "targets": ["x", "y"]}``
    (values read as YAML, so numbers and lists come out typed)."""
    import yaml

    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad {flag} {item!r}: expected KEY=VALUE")
        try:
            parsed[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed[key.strip()] = value
    return parsed


def overrides(flags: dict[str, Any], data: list[str] | None = None) -> dict[str, Any]:
    """The settings keys the given flags set: ``flags`` may hold a command's every parameter
    (pass ``locals()``); those named in :data:`FLAG_KEYS` and not left at ``None`` count.
    ``data`` are ``--data KEY=VALUE`` loader options."""
    result: dict[str, Any] = {FLAG_KEYS[name]: value for name, value in flags.items()
                              if name in FLAG_KEYS and value is not None}
    for key, value in parse_assignments(data, "--data").items():
        result[f"data.{key}"] = value
    return result


def load_settings(config: Path | None, given: dict[str, Any],
                  model_options: list[str] | None = None):  # -> Settings
    """The settings of ``config`` (or the defaults) with the flags in ``given`` applied, and
    ``--model-option KEY=VALUE`` merged into the model (of the flags or of the file); a bad
    key or value is a :class:`UsageError` that names it."""
    from mtlgroup.config import ConfigError, Settings, parse_config, raw_config

    try:
        raw = raw_config(config, given)
        extra = parse_assignments(model_options, "--model-option")
        if extra:
            model = raw.get("model")
            spec = {"name": model} if isinstance(model, str) else dict(model or {})
            if "name" not in spec:
                raise UsageError("--model-option needs a model to set it on: give --model NAME "
                                 "(or model: in the config)")
            raw["model"] = {**spec, **extra}
        return parse_config(raw, Settings, str(config) if config is not None else "config",
                            flag_labels(given))
    except ConfigError as error:
        raise UsageError(str(error)) from None


def flag_labels(given: dict[str, Any]) -> dict[str, str]:
    """Settings key → the flag that set it (``{"training.lr": "--lr"}``), so that a bad value
    given on the command line is named by its flag, not by a key the user never wrote."""
    flags = {key: "--" + name.replace("_", "-") for name, key in FLAG_KEYS.items()}
    return {key: flags.get(key, f"--data {key.removeprefix('data.')}") for key in given}


@dataclass
class Training:
    """What a command that trains one network needs: its settings, tasks, data and factory."""

    settings: Any
    tasks: list[str]
    data: Any
    factory: Any


def prepare_training(settings: Any, size: float, out: Path) -> Training:
    """Check ``size`` and the device, load the data, build the network of the tasks once and
    check its outputs, then create ``out``: everything that can fail on bad input fails before
    the folder exists or any training starts."""
    from mtlgroup.data import cached_dataset, canonical_data_options

    check_size(size)
    check_device(settings.training.device)
    check_outputs(out, settings)
    tasks = settings.data.task_names()
    # The cache task_names() may have filled already (a table is read once, not twice).
    dataset = settings.data.dataset
    data = cached_dataset(dataset,
                          canonical_data_options(dataset, settings.data.loader_options()))[0]
    factory = settings.factory(data.input_shape)
    factory.check(data.tasks.subset(tasks), data.input_shape, size)
    out.mkdir(parents=True, exist_ok=True)
    return Training(settings, tasks, data, factory)


def check_size(size: float) -> float:
    if not (0.0 < size <= 16.0):
        raise UsageError(f"bad --size {size}: the encoder size must be in (0, 16], e.g. 0.5 or 1")
    return size


def check_device(device: str) -> None:
    """A device that is not available is an error before any time is spent on data."""
    from mtlgroup.device import resolve_device

    resolve_device(device)


def check_writable(path: Path, what: str = "--out", file: bool = False) -> Path:
    """Check that the folder ``path`` (with ``file``: the folder of the file ``path``) exists
    and takes files, or can be created: its nearest existing ancestor is a folder we can write
    in. Nothing is created, so bad input found later still writes nothing; a location that
    cannot take the output is one :class:`UsageError` naming it before any work starts (rather
    than a traceback once a training finished). ``what`` names the location (a flag)."""
    path = Path(path)
    if file:
        if path.is_dir():
            raise UsageError(f"{what} {path} is a directory: give a file name")
        folder = path.parent
    else:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{what} {path} is a file, not a directory: give a directory")
        folder = path
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"cannot create {what} {path}: {existing} is a file, not a directory")
    try:  # the test that counts (permissions, read-only mounts, ACLs): write a file and remove it
        import tempfile

        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        verb = "write to" if existing == folder else "create"
        raise UsageError(f"cannot {verb} {what} {path}: {existing} is not writable "
                         f"({error.strerror or error})") from None
    return path


def study_out(settings: Any) -> Path:
    """The output folder of a command that runs a study (``settings.out``), checked before any
    work: given (else a :class:`UsageError`), writable (:func:`check_outputs`), the device
    available; its ``study.sqlite`` is what a Ctrl-C then says was kept."""
    from mtlgroup.cli.interrupt import keeps_work_in

    if settings.out is None:
        raise UsageError("no output directory: give --out DIR (or out: in the config)")
    out = Path(settings.out)
    check_outputs(out, settings)  # before any data is made or job trained
    check_device(settings.training.device)
    keeps_work_in(out / "study.sqlite")  # what a Ctrl-C then says was kept
    return out


def check_outputs(out: Path, settings: Any = None) -> None:
    """Every location a command that trains writes to: ``out`` and, for the ``scenes``
    dataset, its cache when the splits the run needs are not cached yet (see
    :func:`check_writable`)."""
    check_writable(out)
    if settings is not None and settings.data.dataset == "scenes":
        from mtlgroup.data import canonical_data_options
        from mtlgroup.data.scenes import CACHE_ENV, cache_root, split_cache_path

        options = canonical_data_options("scenes", settings.data.loader_options())
        root = cache_root(options["cache_dir"])
        counts = {"train": options["n_train"], "val": options["n_val"],
                  "test": options["n_test"]}
        if not all(split_cache_path(root, split, n, options["size"], options["seed"]).exists()
                   for split, n in counts.items()):  # a read-only cache that has them is fine
            check_writable(root / "scenes", f"the scenes cache (${CACHE_ENV})")
