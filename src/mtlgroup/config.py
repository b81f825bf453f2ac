"""Configuration files (YAML), validated with pydantic.

Each section is a model that forbids unknown keys, so a typo is an error that names the key,
and a value of the wrong type is an error that names the key and the expected type. Sections are
shared: ``mtlgroup study`` reads :class:`StudyFileConfig` (``data``, ``training``, ``study``,
``out``); a bigger pipeline config reuses the same :class:`DataConfig`, :class:`TrainingConfig`
and :class:`StudyConfig` models next to its own sections.

Example (``study.yaml``)::

    data:
      dataset: scenes
      tasks: [semseg, depth, normals]
      n_train: 1000
    training:
      epochs: 5
      batch_size: 64
    study:
      plan: pairs
      executor: local
      workers: 2
    out: runs/study

>>> config = parse_config({"data": {"dataset": "synthetic", "tasks": "all"},
...                        "training": {"epochs": 2}}, StudyFileConfig)
>>> config.training.to_train_config().epochs, config.study.executor
(2, 'local')
>>> parse_config({"training": {"epochs": "two"}}, StudyFileConfig)
Traceback (most recent call last):
...
mtlgroup.config.ConfigError: config: training.epochs: expected an integer, got 'two'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the file and the key."""


class Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    """Which dataset and tasks, and the loader options every built-in dataset accepts."""

    dataset: str = "scenes"
    tasks: str | list[str] = Field(
        "all", description="'all', comma-separated names, 'set:NAME', or a list of names"
    )
    n_train: int | None = Field(None, ge=1)
    n_val: int | None = Field(None, ge=1)
    n_test: int | None = Field(None, ge=1)
    image_size: int | None = Field(
        None, ge=8, validation_alias=AliasChoices("image_size", "size"),
        description="image side in pixels (the loaders' ``size``; either key is accepted)",
    )
    seed: int = 0
    options: dict[str, Any] = Field(
        default_factory=dict, description="further keyword arguments of the dataset's loader"
    )

    def loader_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`mtlgroup.data.load_dataset` (unset ones left out)."""
        given = {"n_train": self.n_train, "n_val": self.n_val, "n_test": self.n_test,
                 "size": self.image_size, "seed": self.seed}
        return {**{k: v for k, v in given.items() if v is not None}, **self.options}

    def task_text(self) -> str:
        return ",".join(self.tasks) if isinstance(self.tasks, list) else self.tasks


class TrainingConfig(Section):
    """The fields of :class:`mtlgroup.training.TrainConfig` (same names and defaults)."""

    epochs: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["constant", "cosine", "step"] = "constant"
    patience: int | None = Field(None, ge=1)
    eval_every: int | None = Field(None, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    early_fraction: float | None = Field(0.2, gt=0, le=1)
    loss_weights: dict[str, float] | None = None
    seed: int = 0
    device: str = "auto"

    def to_train_config(self):  # -> mtlgroup.training.TrainConfig (imports torch lazily)
        from mtlgroup.training import TrainConfig

        return TrainConfig(**self.model_dump())


class StudyConfig(Section):
    """Which networks a study trains and where (see ``docs/studies.md``)."""

    plan: str | None = Field(None, description="all, pairs or esa")
    networks: list[str] = Field(
        default_factory=list, description="network names to train as well (or instead)"
    )
    executor: str = "local"
    workers: int | None = Field(None, ge=1)
    threads_per_worker: int | None = Field(None, ge=1)
    address: str | None = None
    retry_failed: bool = True
    cost: Literal["flops", "nominal"] = "flops"

    @field_validator("plan")
    @classmethod
    def _known_plan(cls, value: str | None) -> str | None:
        from mtlgroup.study.plans import available_plans

        if value is not None and value not in available_plans():
            raise ValueError(f"unknown plan {value!r}; expected one of: "
                             f"{', '.join(available_plans())}")
        return value

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        from mtlgroup.study.executors import available_executors

        if value not in available_executors():
            raise ValueError(f"unknown executor {value!r}; expected one of: "
                             f"{', '.join(available_executors())}")
        return value

    @field_validator("networks", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    def executor_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`mtlgroup.study.create_executor` (which rejects an
        option the chosen executor does not use, e.g. ``address`` for ``local``)."""
        return {"workers": self.workers, "threads_per_worker": self.threads_per_worker,
                "address": self.address}


class StudyFileConfig(Section):
    """The config file of ``mtlgroup study``."""

    data: DataConfig = Field(default_factory=DataConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    study: StudyConfig = Field(default_factory=StudyConfig)
    out: Path | None = None


_TYPE_NAMES = {
    "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "an integer",
    "float_parsing": "a number", "float_type": "a number",
    "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "a string", "dict_type": "a mapping", "list_type": "a list",
    "model_type": "a mapping", "model_attributes_type": "a mapping",
}


def _location(loc: tuple[int | str, ...]) -> str:
    # pydantic names the union member it tried ("str", "list[str]"); users wrote a key path.
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p in _UNION_TAGS))]
    return ".".join(parts) or "(top level)"


_UNION_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed next to the unknown key at ``loc`` (for the error message)."""
    current: Any = model
    for part in loc[:-1]:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return list(getattr(current, "model_fields", {}))


def format_validation_error(
    error: ValidationError, model: type[BaseModel], source: str = "config"
) -> str:
    """One clause per bad key: ``source: key.path: what was expected, got what``."""
    problems: dict[str, list[str]] = {}
    expected: dict[str, list[str]] = {}
    got: dict[str, Any] = {}
    for item in error.errors():
        loc = tuple(item["loc"])
        where = _location(loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            known = _fields_at(model, loc)
            hint = f"; expected one of: {', '.join(known)}" if known else ""
            problems.setdefault(where, []).append(f"unknown key{hint}")
        elif kind in _TYPE_NAMES:
            # A key can fail against each member of a union: gather what each one wanted.
            expected.setdefault(where, []).append(_TYPE_NAMES[kind])
            got[where] = item.get("input")
        else:
            message = item["msg"].removeprefix("Value error, ")
            value = repr(item.get("input"))
            problems.setdefault(where, []).append(
                message if value in message else f"{message}, got {value}"
            )
    for where, names in expected.items():
        wanted = " or ".join(dict.fromkeys(names))
        problems.setdefault(where, []).append(f"expected {wanted}, got {got[where]!r}")
    return "; ".join(
        f"{source}: {where}: {message}" for where, messages in problems.items()
        for message in messages
    )


def parse_config(raw: Mapping[str, Any], model: type[M], source: str = "config") -> M:
    """Validate a mapping against ``model``; :class:`ConfigError` names each bad key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, "
                          f"got {type(raw).__name__}")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, model, source)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping (an empty file is an empty mapping)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}".replace("\n", " ")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, "
                          f"got {type(data).__name__}")
    return data


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_dotted(d, "training.epochs", 3)`` sets ``d["training"]["epochs"] = 3``."""
    *parents, last = dotted.split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config: {part}: expected a mapping, got {child!r}")
        node = child
    node[last] = value


def load_config(
    path: str | Path | None,
    model: type[M],
    overrides: Mapping[str, Any] | None = None,
) -> M:
    """Read ``path`` (or start empty), apply ``overrides`` (dotted keys such as
    ``"training.epochs"``; ``None`` values are skipped: command-line flags not given) and
    validate against ``model``."""
    raw = read_yaml(path) if path is not None else {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            set_dotted(raw, dotted, value)
    return parse_config(raw, model, str(path) if path is not None else "config")


class PipelineConfig(Section):
    """The ``pipeline`` section of ``mtlgroup run`` (see ``docs/pipeline.md``)."""

    estimator: str = "hoa"
    budgets: list[float] = Field(default_factory=lambda: [1.0 + 0.5 * i for i in range(9)])
    baseline_budgets: list[float] | None = None
    solver: str = "milp"
    affinity_every: int = Field(10, ge=1)

    @field_validator("estimator")
    @classmethod
    def _known_estimator(cls, value: str) -> str:
        from mtlgroup.pipeline import ESTIMATORS

        if value not in ESTIMATORS:
            raise ValueError(f"unknown estimator {value!r}; expected one of: "
                             f"{', '.join(ESTIMATORS)}")
        return value


class RunConfig(Section):
    """The config file of ``mtlgroup run``: the study's sections plus ``pipeline``."""

    data: DataConfig = Field(default_factory=DataConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    study: StudyConfig = Field(default_factory=StudyConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    out: Path = Path("runs/run")

    @field_validator("study")
    @classmethod
    def _plan_comes_from_the_estimator(cls, value: StudyConfig) -> StudyConfig:
        for key in ("plan", "networks"):
            if getattr(value, key):
                raise ValueError(f"{key}: not used by `mtlgroup run`, whose study trains what "
                                 "pipeline.estimator needs (use `mtlgroup study` for a plan)")
        return value

    def to_settings(self):  # -> mtlgroup.pipeline.PipelineSettings
        from mtlgroup.cli.options import resolve_tasks
        from mtlgroup.pipeline import PipelineSettings

        return PipelineSettings(
            dataset=self.data.dataset,
            data_options=self.data.loader_options(),
            tasks=resolve_tasks(self.data.dataset, self.data.task_text()),
            train=self.training.model_dump(),
            estimator=self.pipeline.estimator,
            budgets=self.pipeline.budgets,
            baseline_budgets=self.pipeline.baseline_budgets,
            executor=self.study.executor,
            workers=self.study.workers or 1,
            threads_per_worker=self.study.threads_per_worker,
            address=self.study.address,
            solver=self.pipeline.solver,
            cost=self.study.cost,
            seed=self.training.seed,
            device=self.training.device,
            affinity_every=self.pipeline.affinity_every,
        )


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate the YAML config of ``mtlgroup run``."""
    return load_config(path, RunConfig)
