"""The one schema of a run's settings (:class:`Settings`), validated with pydantic.

YAML files, command-line flags (as dotted overrides such as ``training.epochs``) and the Python
API all build a :class:`Settings`; nothing else defines a setting or its default. Each section
forbids unknown keys, so a typo is an error that names the key, and a value of the wrong type
is an error that names the key and the expected type. ``data:`` is the exception that proves
the rule: besides ``dataset`` and ``tasks`` its keys are the dataset loader's own options, and
they are checked against the loader's signature (a user's loader included).

Example (``study.yaml``)::

    data:
      dataset: scenes          # or table, fashion, or mypkg.data:load
      tasks: [semseg, depth, normals]
      n_train: 1000
    model: conv                # or mlp, mypkg.nets:build, or {name: conv, base_width: 24}
    training:
      epochs: 5
      batch_size: 64
    study:
      plan: pairs
      executor: local
      workers: 2
    out: runs/study

>>> config = parse_config({"data": {"dataset": "synthetic", "tasks": "all", "n_train": 8},
...                        "training": {"epochs": 2}}, Settings)
>>> config.training.to_train_config().epochs, config.study.executor, config.model
(2, 'local', None)
>>> config.data.loader_options()
{'n_train': 8}
>>> parse_config({"training": {"epochs": "two"}}, Settings)
Traceback (most recent call last):
...
mtlgroup.config.ConfigError: config: training.epochs: expected an integer, got 'two'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

M = TypeVar("M", bound=BaseModel)


_REGISTRIES = {
    "plan": "mtlgroup.study.plans:PLANS",
    "executor": "mtlgroup.study.executors:EXECUTORS",
    "solver": "mtlgroup.selection.solvers:SOLVERS",
    "estimator": "mtlgroup.pipeline.estimators:ESTIMATOR_CLASSES",
    "strategy": "mtlgroup.training.strategies:STRATEGIES",
}
"""The registry each named setting is checked against (imported when a config is checked)."""

REFINE_KEYS = ("refine", "refine_max_trainings")
"""The keys ``pipeline.estimator`` may hold beside ``name`` (see :class:`PipelineConfig`)."""


def registered(kind: str, value: str) -> str:
    """``value`` if the registry of ``kind`` has it, else the registry's error (which lists
    the valid names)."""
    from mtlgroup.imports import import_object

    import_object(_REGISTRIES[kind]).get(value)
    return value


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the file and the key."""


class Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    """Which dataset and tasks; every other key is an option of the dataset's loader.

    ``dataset`` is a registry name (``scenes``, ``fashion``, ``table``, ``synthetic``) or a
    user's ``package.module:function`` returning :class:`~mtlgroup.data.MultiTaskData`. Keys
    other than ``dataset`` and ``tasks`` (e.g. ``n_train``, or a table's ``path`` and
    ``targets``) are passed to the loader, and a key the loader does not take is an error.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

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
    seed: int | None = None
    options: dict[str, Any] = Field(
        default_factory=dict, description="further keyword arguments of the dataset's loader"
    )

    @model_validator(mode="after")
    def _options_fit_the_loader(self) -> DataConfig:
        from mtlgroup.data.registry import canonical_data_options

        canonical_data_options(self.dataset, self.loader_options())
        return self

    def loader_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`mtlgroup.data.load_dataset` (unset ones left out)."""
        given = {"n_train": self.n_train, "n_val": self.n_val, "n_test": self.n_test,
                 "size": self.image_size, "seed": self.seed}
        extra = dict(self.model_extra or {})
        return {**{k: v for k, v in given.items() if v is not None}, **extra, **self.options}

    def task_text(self) -> str:
        return ",".join(self.tasks) if isinstance(self.tasks, list) else self.tasks

    def task_names(self) -> list[str]:
        """The tasks, resolved against the dataset (``all``, ``set:NAME`` or names)."""
        from mtlgroup.data.registry import resolve_tasks

        return resolve_tasks(self.dataset, self.task_text(), self.loader_options())


class TrainingConfig(Section):
    """The fields of :class:`mtlgroup.training.TrainConfig` (same names and defaults)."""

    epochs: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)
    budget_unit: Literal["batches", "optimizer_steps"] = Field(
        "batches", description="what max_steps and epochs count"
    )
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-3, description="positive and finite")
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["constant", "cosine", "step"] = "constant"
    patience: int | None = Field(None, ge=1)
    eval_every: int | None = Field(None, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    early_fraction: float | None = Field(0.2, gt=0, le=1)
    prefix_fraction: float | None = Field(
        None, gt=0, le=1, description="train only this first share of the run (ESA prefix)"
    )
    loss_weights: dict[str, float] | None = None
    seed: int = 0
    device: str = "auto"

    @field_validator("lr")
    @classmethod
    def _finite_positive_lr(cls, value: float) -> float:
        # one sentence for nan, inf and <= 0 alike (pydantic's gt=0 calls nan "not > 0")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"expected a positive finite learning rate such as 0.001, "
                             f"got {value!r}")
        return value

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
    keep_weights: Literal["all", "full", "none"] = Field(
        "all", description="trained networks the store keeps: all, full (not ESA's short "
        "runs) or none (mtlgroup.study.weights.KEEP_WEIGHTS)"
    )

    @field_validator("plan")
    @classmethod
    def _known_plan(cls, value: str | None) -> str | None:
        return None if value is None else registered("plan", value)

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        return registered("executor", value)

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
    error: ValidationError, model: type[BaseModel], source: str = "config",
    labels: Mapping[str, str] | None = None,
) -> str:
    """One clause per bad key: ``source: key.path: what was expected, got what``; a key that
    ``labels`` names (``{"training.lr": "--lr"}``: set by a flag) as ``--lr (training.lr): …``."""
    labels = labels or {}
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
            # A whole section's check (e.g. data: options against the loader) says it all.
            whole_section = isinstance(item.get("input"), Mapping)
            problems.setdefault(where, []).append(
                message if value in message or whole_section else f"{message}, got {value}"
            )
    for where, names in expected.items():
        wanted = " or ".join(dict.fromkeys(names))
        problems.setdefault(where, []).append(f"expected {wanted}, got {got[where]!r}")
    return "; ".join(
        f"{labels[where]} ({where}): {message}" if where in labels
        else f"{source}: {where}: {message}"
        for where, messages in problems.items() for message in messages
    )


def parse_config(raw: Mapping[str, Any], model: type[M], source: str = "config",
                 labels: Mapping[str, str] | None = None) -> M:
    """Validate a mapping against ``model``; :class:`ConfigError` names each bad key (or its
    label, see :func:`format_validation_error`)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, "
                          f"got {type(raw).__name__}")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, model, source, labels)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping. An empty one (no text, only comments, ``null`` or ``{}``) is an
    error: a config that sets nothing would silently start hours of work on the defaults."""
    import yaml

    from mtlgroup.textfiles import read_text

    try:
        text = read_text(path, "config file", ConfigError)  # a BOM is accepted
    except FileNotFoundError as error:
        raise ConfigError(str(error)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}".replace("\n", " ")) from None
    if data is None or data == {}:
        raise ConfigError(f"{path}: empty config (it sets nothing); write its sections, e.g. "
                          "data:, training:, study: or pipeline:")
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


def raw_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """Read ``path`` (or start empty) and apply ``overrides`` (dotted keys such as
    ``"training.epochs"``; ``None`` values are skipped: command-line flags not given), without
    validating yet."""
    raw = read_yaml(path) if path is not None else {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            set_dotted(raw, dotted, value)
    return raw


def load_config(
    path: str | Path | None,
    model: type[M],
    overrides: Mapping[str, Any] | None = None,
) -> M:
    """:func:`raw_config` validated against ``model``."""
    return parse_config(raw_config(path, overrides), model,
                        str(path) if path is not None else "config")


class PipelineConfig(Section):
    """The ``pipeline`` section of ``mtlgroup run`` and ``demo`` (see ``docs/pipeline.md``).

    ``estimator``: ``hoa`` (pairs study, larger networks predicted), ``esa`` (every candidate
    for 20% of the budget), ``exhaustive``, or an affinity estimator from one joint run
    (``tag``, ``cs``, ``proximal``). ``budgets``: inference budgets in standard networks, a
    list or text as ``select --budgets`` takes (``"1:5:0.5"``; see :mod:`mtlgroup.budgets`);
    ``baseline_budgets``: where the all-task and independent baselines are trained (default:
    every budget). ``sizes``: train each candidate of the estimator's plan at each of these
    encoder sizes (``[0.5, 1]``; default: the paper's pool, see docs/pipeline.md "Candidates
    and sizes"). ``affinity_every``: probe period of ``tag`` and ``cs`` (steps).
    ``recommend_budget``: the budget the report recommends networks for (one of ``budgets``;
    default: the knee of the validation curve, see :mod:`mtlgroup.report.recommend`).
    ``refine`` (loss-table estimators only): select, train the chosen networks the estimate
    only predicted, reselect on their real losses, until every chosen network is real or
    ``refine_max_trainings`` networks were trained (see :mod:`mtlgroup.pipeline.refine`);
    ``estimator`` may be written ``{name: hoa, refine: true, refine_max_trainings: 10}``.
    """

    estimator: str = "hoa"
    refine: bool = False
    refine_max_trainings: int | None = Field(None, ge=0)
    budgets: list[float] = Field(default_factory=lambda: [1.0 + 0.5 * i for i in range(9)])
    baseline_budgets: list[float] | None = None
    sizes: list[float] | None = Field(
        None, description="encoder sizes at which each candidate of the estimator's plan is "
        "trained (ALGORITHMS §1.4), e.g. [0.5, 1]; default: the paper's pool (size 1, "
        "singles also at 0.5)")
    solver: str = "auto"
    affinity_every: int = Field(10, ge=1)
    recommend_budget: float | None = None
    objective: str | dict[str, Any] = Field(
        "raw", description="what the selection minimises (ALGORITHMS §1.5): raw (the paper's "
        "sum of losses), relative (each task's loss over its single-task network's), or "
        "{kind: relative, weights: {task: 2}}; loss-table estimators only (docs/selection.md)")

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, value: str | dict[str, Any], info: ValidationInfo
                         ) -> str | dict[str, Any]:
        from mtlgroup.selection.objectives import Objective

        objective = Objective.parse(value)
        if objective.kind == "metric":
            raise ValueError("metric is not read from a run's store yet: select on a metric "
                             "table with `mtlgroup select --objective metric`")
        estimator = info.data.get("estimator")  # absent when it was invalid (reported alone)
        if estimator is not None and not objective.is_raw:
            from mtlgroup.pipeline.estimators import ESTIMATOR_CLASSES, LossTableEstimator

            if not issubclass(ESTIMATOR_CLASSES.get(estimator), LossTableEstimator):
                raise ValueError(f"{estimator} chooses groupings from affinity scores, not "
                                 "losses: an objective other than raw does not apply to it")
        # the short form when it says everything: the report shows the settings as given
        return objective.kind if not objective.weights else objective.to_dict()

    @field_validator("budgets", "baseline_budgets", mode="before")
    @classmethod
    def _budget_text(cls, value: Any) -> Any:
        # "1:5:0.5" or "1, 2" as on select's --budgets: the same parser, the same errors
        from mtlgroup.budgets import parse_budgets

        return parse_budgets(value, source="") if isinstance(value, str) else value

    @field_validator("sizes")
    @classmethod
    def _distinct_positive_sizes(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("no sizes: give at least one, e.g. [0.5, 1], or leave sizes out "
                             "for the paper's pool")
        bad = [s for s in value if not (math.isfinite(s) and s > 0)]
        if bad:
            raise ValueError(f"sizes must be positive numbers, got {bad[0]:g}")
        repeated = sorted({s for s in value if value.count(s) > 1})
        if repeated:
            raise ValueError(f"size {repeated[0]:g} is listed twice")
        return sorted(value)

    @field_validator("budgets", "baseline_budgets")
    @classmethod
    def _positive_budgets(cls, value: list[float] | None, info: ValidationInfo
                          ) -> list[float] | None:
        from mtlgroup.budgets import check_budgets

        if value is None:
            return None
        if not value and info.field_name == "budgets":  # no baselines at all is fine
            raise ValueError("no budgets: give at least one, e.g. [1, 2, 3] or '1:5:0.5'")
        return sorted(check_budgets(value, source=""))

    @field_validator("solver")
    @classmethod
    def _known_solver(cls, value: str) -> str:
        return registered("solver", value)

    @model_validator(mode="before")
    @classmethod
    def _estimator_mapping(cls, data: Any) -> Any:
        # {name: hoa, refine: true}: the refinement keys move beside a plain estimator name,
        # so the saved settings (and every run's estimator) name the estimator as text.
        if not isinstance(data, Mapping) or not isinstance(data.get("estimator"), Mapping):
            return data
        mapping = dict(data["estimator"])
        unknown = sorted(set(mapping) - {"name", *REFINE_KEYS})
        if unknown or "name" not in mapping:
            problem = (f"unknown key(s) {', '.join(map(str, unknown))}" if unknown
                       else "no name")
            raise ValueError(f"estimator: {problem}; expected {{name: hoa, refine: true, "
                             "refine_max_trainings: N}")
        given = {key: mapping[key] for key in REFINE_KEYS if key in mapping}
        clash = [key for key in given if key in data and data[key] != given[key]]
        if clash:
            raise ValueError(f"{clash[0]} is given twice, in estimator and beside it, with "
                             "different values: give it once")
        return {**data, **given, "estimator": mapping["name"]}

    @field_validator("estimator")
    @classmethod
    def _known_estimator(cls, value: str) -> str:
        return registered("estimator", value)

    @field_validator("refine")
    @classmethod
    def _refine_needs_a_loss_table(cls, value: bool, info: ValidationInfo) -> bool:
        from mtlgroup.pipeline.estimators import ESTIMATOR_CLASSES, LossTableEstimator

        estimator = info.data.get("estimator")  # absent when invalid (reported alone)
        if value and estimator is not None and not issubclass(
                ESTIMATOR_CLASSES.get(estimator), LossTableEstimator):
            raise ValueError(
                f"refine needs a loss-table estimator (hoa, esa, exhaustive): {estimator} "
                "chooses groupings from affinity scores, predicts no network's losses, and its "
                "chosen networks are served by their trained validation losses already")
        return value

    @field_validator("recommend_budget")
    @classmethod
    def _one_of_the_budgets(cls, value: float | None, info: ValidationInfo) -> float | None:
        import math

        budgets = info.data.get("budgets")  # absent when they were invalid (reported alone)
        if value is None or budgets is None:
            return value
        if not any(math.isclose(value, b) for b in budgets):
            listed = ", ".join(repr(b) for b in budgets)
            raise ValueError(f"{value!r} is not one of the budgets ({listed}); expected one "
                             "of them")
        return value


_JOINT_ONLY: list[str | dict[str, Any]] = ["joint"]


class BenchmarkConfig(Section):
    """The ``benchmark`` section of ``mtlgroup benchmark`` (see ``docs/benchmark.md``).

    ``strategies``: the all-task network's update strategies (names, ``cagrad:c=0.4``, or
    ``{name: cagrad, options: {c: 0.4}}``); ``seeds``: how many (``3`` = seeds 0, 1, 2) or
    which; ``grouping``: the affinity method that chooses the grouping row (``tag``, ``cs``;
    ``null``: none), into at most ``max_groups`` groups, probing every ``grouping_every``
    steps; ``metric``: the
    metric Δm compares per task (``metric``: each task's headline metric, ``loss``, or
    ``{task: metric}``); ``size``: the encoder size of the single-task and all-task networks.
    """

    strategies: list[str | dict[str, Any]] = Field(default_factory=lambda: _JOINT_ONLY[:])
    seeds: int | list[int] = 3
    grouping: Literal["tag", "cs"] | None = "tag"
    max_groups: int = Field(2, ge=2)
    grouping_every: int = Field(10, ge=1)
    metric: str | dict[str, str] = "metric"
    size: float = Field(1.0, gt=0, le=16)

    @field_validator("grouping", mode="before")
    @classmethod
    def _no_grouping(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.lower() == "none" else value

    @field_validator("strategies", mode="before")
    @classmethod
    def _split_strategies(cls, value: Any) -> Any:
        from mtlgroup.study.jobs import parse_strategies

        return parse_strategies(value) if isinstance(value, str) else value

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, value: list[str | dict[str, Any]]) -> list[str | dict[str, Any]]:
        if not value:
            raise ValueError("no strategies: give at least one, e.g. [joint, pcgrad]")
        for strategy in value:
            checked_strategy(strategy)
        return value

    @field_validator("seeds")
    @classmethod
    def _some_seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"expected at least one seed, got {value}")
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError(f"expected distinct seeds, at least one, got {value}")
        return value

    def seed_list(self) -> list[int]:
        """The seeds: ``seeds: 3`` is ``[0, 1, 2]``."""
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


def checked_strategy(value: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A strategy (a name or ``{name, options}``) as a job's request, its name checked against
    the strategy registry (whose error lists the valid names); ``None`` for the joint sum."""
    from mtlgroup.study.jobs import strategy_request

    request = strategy_request(value)
    if request is not None:
        registered("strategy", request["name"])
    return request


ModelSpec = str | dict[str, Any]


class Settings(Section):
    """Everything that defines a run: ``mtlgroup study``, ``run``, ``demo``, ``train`` and
    ``affinity`` read the sections they use; a flag given on the command line wins over the
    file. ``model`` is the network factory: a name (``conv``, ``mlp``), an import path
    ``package.module:function``, or ``{name: …, <option>: …}``; left out, the family that fits
    the data's inputs (``conv`` for images, ``mlp`` for feature vectors such as a table's)."""

    # Sections are built from an empty mapping (``model_validate``), so that a default section
    # goes through the same validators as a written one.
    data: DataConfig = Field(default_factory=lambda: DataConfig.model_validate({}))
    model: ModelSpec | None = None
    training: TrainingConfig = Field(default_factory=lambda: TrainingConfig.model_validate({}))
    study: StudyConfig = Field(default_factory=lambda: StudyConfig.model_validate({}))
    pipeline: PipelineConfig = Field(default_factory=lambda: PipelineConfig.model_validate({}))
    out: Path | None = None
    track: str | dict[str, Any] | None = Field(
        None, description="log every training to an experiment tracker: mlflow, tensorboard, "
        "or {kind: mlflow, uri: ..., experiment: ...} (see docs/tracking.md)"
    )
    strategy: str | dict[str, Any] | None = Field(
        None, description="the update strategy of every training of a study or an affinity "
        "run: a name (joint, stgu, pcgrad, ...; `mtlgroup strategies`) or {name: cagrad, "
        "options: {c: 0.4}}; default joint (the sum of losses)")
    benchmark: BenchmarkConfig = Field(
        default_factory=lambda: BenchmarkConfig.model_validate({}))

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy_text(cls, value: Any) -> Any:
        from mtlgroup.study.jobs import parse_strategy

        return parse_strategy(value) if isinstance(value, str) else value

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str | dict[str, Any] | None) -> dict[str, Any] | None:
        return checked_strategy(value)  # normalised: {"name", "options"}, None for joint

    @model_validator(mode="after")
    def _strategy_fits_the_estimator(self) -> Settings:
        # proximal affinity trains with its own strategy (STGU): another one cannot drive it
        if isinstance(self.strategy, dict) and self.pipeline.estimator == "proximal":
            raise ValueError(f"strategy {self.strategy['name']}: the proximal estimator trains "
                             "with its own strategy (STGU); use tag or cs, or leave strategy out")
        return self

    @field_validator("track")
    @classmethod
    def _known_tracker(cls, value: str | dict[str, Any] | None) -> dict[str, Any] | None:
        from mtlgroup.tracking.settings import track_request

        return track_request(value, source="")  # normalised: {"kind": ..., options given}

    @field_validator("model")
    @classmethod
    def _model_is_a_factory(cls, value: ModelSpec | None) -> ModelSpec | None:
        from mtlgroup.models.network_factory import NetworkFactory

        if value is not None:
            NetworkFactory.of(value).builder  # noqa: B018  (not registered, or no import)
        return value

    def factory(self, input_shape: Sequence[int]):  # -> NetworkFactory (imports torch lazily)
        """The network factory of ``model`` for inputs of ``input_shape`` (no ``model``: the
        built-in family that fits them, ``conv`` for images, ``mlp`` for feature vectors)."""
        from mtlgroup.models.network_factory import NetworkFactory

        return NetworkFactory.for_inputs(self.model, input_shape)

    def check_for_run(self) -> Settings:
        """``mtlgroup run`` trains what ``pipeline.estimator`` needs: a study plan is an error."""
        for key in ("plan", "networks"):
            if getattr(self.study, key):
                raise ConfigError(f"config: study: {key}: not used by `mtlgroup run`, whose "
                                  "study trains what pipeline.estimator needs (use "
                                  "`mtlgroup study` for a plan)")
        return self


StudyFileConfig = Settings
"""The config of ``mtlgroup study`` (the one schema; kept under its old name)."""
RunConfig = Settings
"""The config of ``mtlgroup run`` (the one schema; kept under its old name)."""


def load_run_config(path: str | Path) -> Settings:
    """Read and validate the YAML config of ``mtlgroup run``."""
    return load_config(path, Settings).check_for_run()
