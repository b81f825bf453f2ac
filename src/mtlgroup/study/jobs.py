"""Jobs: one candidate network trained in one setting, named by a stable key.

A :class:`JobSpec` holds everything that determines a training's result: the candidate (tasks,
encoder size, budget share), the dataset and its loader options, the training configuration, the
seed and :data:`~mtlgroup.training.TRAINER_VERSION`. Its :attr:`~JobSpec.key` hashes exactly
those, so a finished key never needs training again. Where the job runs (``device``) is carried
along but is not part of the key.

A job may also be an *affinity job* (``affinity={"method": "tag", "options": {...}}``): one
joint training of the candidate's tasks with an affinity estimator's probes
(:func:`mtlgroup.affinity.estimate_affinity`), whose outcome carries the affinity matrix in
``extra["affinity"]`` (read it back with :func:`outcome_affinity`). It is a job of the study's
setting like any other (stored, resumed, never trained twice), but not a candidate network:
the store leaves it out of loss tables.

:func:`run_job` is the function executors call in a worker: it loads the data (once per worker
process, then from a cache), trains the network and returns a :class:`JobOutcome`.

Example:
    >>> from mtlgroup.study.plans import Candidate
    >>> spec = JobSpec.create(Candidate(("bright",)), "synthetic", {"n_train": 64},
    ...                       {"max_steps": 2})
    >>> spec.data_options["n_val"], len(spec.key)
    (64, 64)
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mtlgroup.data.registry import cached_dataset, canonical_data_options, data_identity
from mtlgroup.models.network_factory import NetworkFactory
from mtlgroup.study.plans import Candidate

if TYPE_CHECKING:
    from mtlgroup.affinity import Affinity
    from mtlgroup.data.base import MultiTaskData
    from mtlgroup.training import TrainConfig, TrainResult
    from mtlgroup.training.callbacks import Callback

KEY_FORMAT = 2
"""Bump if the layout of the hashed record changes (it would change every key). Adding the
optional ``affinity`` entry did not: it is hashed only when set, so every key of a job without
it is what it was, and a job with it cannot share a key with one without."""

SPLITS = ("val", "test", "early")
"""Score splits a job reports: ``early`` is validation at 20% of the budget (ESA)."""

ESA_REVISION = 2
"""Hashed into the key of every job with a budget share below 1 (only those: full jobs keep
their keys). 2: the job is the prefix of the full run (ALGORITHMS §1.2); before it, its own
schedule over the share and its best checkpoint restored, results no longer reused."""

_RUN_ONLY_FIELDS = ("seed", "device", "progress")
"""TrainConfig fields a JobSpec carries elsewhere (``seed``) or leaves out of the key."""


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace (the input of every hash here)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def training_options(config: TrainConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The result-defining fields of a training configuration, validated by
    :class:`~mtlgroup.training.TrainConfig`, with numbers in their declared types (so that
    ``lr=1`` and ``lr=1.0`` give one key). ``seed``, ``device`` and ``progress`` are left out."""
    from mtlgroup.training import TrainConfig

    if not isinstance(config, TrainConfig):
        unknown = sorted(set(config) - {f.name for f in dataclasses.fields(TrainConfig)})
        if unknown:
            raise ValueError(f"unknown training option {unknown[0]!r}")
        config = TrainConfig(**config)
    values = config.result_defining()  # fields added since keys exist: only when not default
    for f in dataclasses.fields(TrainConfig):
        value = values.get(f.name)
        if value is None or isinstance(value, bool):
            continue
        declared = str(f.type)
        if declared.startswith("float"):
            values[f.name] = float(value)
        elif declared.startswith("dict[str, float]"):
            values[f.name] = {str(k): float(v) for k, v in value.items()}
    # result_defining leaves out new fields at their defaults (budget_unit): old keys stay
    defining = config.result_defining()
    return {k: v for k, v in values.items() if k in defining and k not in _RUN_ONLY_FIELDS}


@dataclass(frozen=True, eq=False)
class JobSpec:
    """One training to run. Build it with :meth:`create`, which normalises the options.

    Two specs are equal when their keys are equal; ``device`` and ``track`` (where the
    training logs to: ``{"kind": "mlflow", ...}``, see :mod:`mtlgroup.tracking`) are not part
    of the key.
    ``affinity`` (``{"method": ..., "options": {...}}``) makes it an affinity job (see the
    module's docstring); it is part of the key. ``strategy`` (``{"name": "pcgrad",
    "options": {...}}``, see :func:`strategy_request`) is the update strategy it trains with
    (``None``: the joint sum); it is part of the *setting*, see :attr:`setting`.
    """

    candidate: Candidate
    dataset: str
    data_options: dict[str, Any]
    train_config: dict[str, Any]
    seed: int = 0
    device: str = field(default="auto")
    model: NetworkFactory = field(default_factory=NetworkFactory)
    affinity: Mapping[str, Any] | None = None
    data_identity: Mapping[str, Any] = field(default_factory=dict)
    track: Mapping[str, Any] | None = None
    strategy: Mapping[str, Any] | None = None

    @classmethod
    def create(
        cls,
        candidate: Candidate,
        dataset: str,
        data_options: Mapping[str, Any] | None = None,
        train_config: TrainConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        model: NetworkFactory | str | Mapping[str, Any] | None = None,
        affinity: Mapping[str, Any] | None = None,
        strategy: str | Mapping[str, Any] | None = None,
    ) -> JobSpec:
        """A spec with the dataset's loader defaults filled in and the training configuration
        validated; ``train_config``'s own seed/device/progress are ignored (pass ``seed``).
        ``model`` is the network factory (default ``conv``); ``affinity`` makes it an
        affinity job (``{"method": "tag", "options": {"every": 10}}``); ``strategy`` the
        update strategy (a name or ``{"name": ..., "options": {...}}``; default joint)."""
        options = canonical_data_options(dataset, data_options or {})
        training = training_options(train_config or {})
        check_esa_share(candidate, training.get("early_fraction"))
        return cls(
            candidate=candidate,
            dataset=dataset,
            data_options=options,
            train_config=training,
            seed=int(seed),
            device=device,
            model=NetworkFactory.of(model),
            affinity=affinity_request(affinity),
            data_identity=data_identity(dataset, options),
            strategy=strategy_request(strategy),
        )

    def _setting_record(self) -> dict[str, Any]:
        return {
            "format": KEY_FORMAT,
            "trainer_version": _trainer_version(),
            "dataset": self.dataset,
            "data": self.data_options,
            "training": self.train_config,
            "seed": self.seed,
            "model": self.model.identity(),
            # Only when the dataset has one (a table's file hash): other keys stay as they were.
            **({"data_identity": dict(self.data_identity)} if self.data_identity else {}),
            # The strategy is part of the setting, not of the candidate: the store builds a
            # loss table from the jobs of one setting, and the same tasks trained under two
            # strategies must not meet there as one network name. Only when set (and not the
            # plain joint sum, which strategy_request turns into None): every other key stays.
            **({"strategy": dict(self.strategy)} if self.strategy is not None else {}),
        }

    @property
    def key(self) -> str:
        """sha256 of everything that determines the result (hex, 64 characters)."""
        record = self._setting_record()
        record["network"] = {
            "tasks": list(self.candidate.tasks),
            "size": self.candidate.size,
            "budget_fraction": self.candidate.budget_fraction,
        }
        if self.affinity is not None:  # only when set: the keys of other jobs stay as they were
            record["network"]["affinity"] = dict(self.affinity)
        revision = self.model.size_revision(self.candidate.size)
        if revision is not None:  # likewise: only sizes whose architecture changed
            record["network"]["architecture_revision"] = revision
        if not self.candidate.is_full_budget:  # likewise: only ESA jobs, defined anew
            record["network"]["esa_revision"] = ESA_REVISION
        return _sha256(record)

    @property
    def setting(self) -> str:
        """Hash of the setting shared by every job of one study (all but the candidate): the
        loss tables of a study are built from the jobs of one setting."""
        return _sha256(self._setting_record())

    @property
    def network(self) -> str:
        return self.candidate.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobSpec) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": list(self.candidate.tasks),
            "size": self.candidate.size,
            "budget_fraction": self.candidate.budget_fraction,
            "dataset": self.dataset,
            "data_options": self.data_options,
            "train_config": self.train_config,
            "seed": self.seed,
            "device": self.device,
            "model": {"name": self.model.name, "options": dict(self.model.options)},
            **({"affinity": dict(self.affinity)} if self.affinity is not None else {}),
            **({"data_identity": dict(self.data_identity)} if self.data_identity else {}),
            **({"track": dict(self.track)} if self.track else {}),
            **({"strategy": dict(self.strategy)} if self.strategy is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        candidate = Candidate(tuple(data["tasks"]), data["size"], data["budget_fraction"])
        return cls(candidate, data["dataset"], dict(data["data_options"]),
                   dict(data["train_config"]), int(data["seed"]), data.get("device", "auto"),
                   NetworkFactory.of(data.get("model")), affinity_request(data.get("affinity")),
                   dict(data.get("data_identity") or {}), data.get("track"),
                   strategy_request(data.get("strategy")))

    def train_config_for(self, data: MultiTaskData | None = None) -> TrainConfig:
        """The :class:`TrainConfig` this job trains with (``data`` is not needed: the budget
        is counted by the trainer). A candidate with a budget share below 1 (ESA) is the
        prefix of the full run (ALGORITHMS §1.2): the full budget and schedule, stopped at
        ``prefix_fraction`` = its share; its early losses are recorded where the full run's are
        (``early_fraction``), or at its stop step if the setting records none."""
        from mtlgroup.training import TrainConfig

        config = TrainConfig(**self.train_config, seed=self.seed, device=self.device,
                             progress=False)
        if self.candidate.is_full_budget:
            return config
        share = self.candidate.budget_fraction
        return dataclasses.replace(config, prefix_fraction=share,
                                   early_fraction=config.early_fraction or share)


def check_esa_share(candidate: Candidate, early_fraction: float | None) -> None:
    """Refuse an ESA candidate whose share of the budget ends before ``early_fraction``: its
    prefix would stop before the step the early losses are defined at. A larger share records
    both, each at its own step (early losses at ``early_fraction``, ``val`` at the share).

    >>> check_esa_share(Candidate(("a",), budget_fraction=0.1), 0.2)
    Traceback (most recent call last):
    ...
    ValueError: candidate a: a budget share 0.1 ends before early_fraction 0.2 ...
    """
    share = candidate.budget_fraction
    if not candidate.is_full_budget and early_fraction is not None and share < early_fraction:
        raise ValueError(
            f"candidate {candidate.name}: a budget share {share:g} ends before early_fraction "
            f"{early_fraction:g} of the training, where its early losses are recorded; give a "
            "share of at least early_fraction (ALGORITHMS §1.2)")


def affinity_request(affinity: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{"method": str, "options": {...}}`` (validated JSON) or ``None``.

    >>> affinity_request({"method": "tag", "options": {"every": 5}})
    {'method': 'tag', 'options': {'every': 5}}
    """
    if affinity is None:
        return None
    unknown = sorted(set(affinity) - {"method", "options"})
    if unknown or not isinstance(affinity.get("method"), str):
        raise ValueError(f"an affinity job needs {{'method': str, 'options': {{...}}}}, "
                         f"got {dict(affinity)!r}")
    request = {"method": affinity["method"], "options": dict(affinity.get("options") or {})}
    canonical_json(request)  # options must be JSON: they are hashed into the key
    return request


def strategy_request(strategy: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{"name": str, "options": {...}}`` (validated JSON), or ``None`` for the plain joint
    sum, whether given as ``None``, ``"joint"`` or ``{"name": "joint"}``: a job trained that
    way keeps the key it had before strategies were part of jobs. The name is not looked up
    here (a registry import per spec); :func:`run_job` creates the strategy.

    >>> strategy_request("pcgrad"), strategy_request({"name": "joint", "options": {}})
    ({'name': 'pcgrad', 'options': {}}, None)
    """
    if strategy is None:
        return None
    if isinstance(strategy, str):  # a name, or NAME:KEY=VALUE,... as on a command line
        parsed = parse_strategy(strategy)
        strategy = {"name": parsed} if isinstance(parsed, str) else parsed
    unknown = sorted(set(strategy) - {"name", "options"})
    if unknown or not isinstance(strategy.get("name"), str) or not strategy["name"]:
        raise ValueError(f"a strategy is a name or {{'name': str, 'options': {{...}}}}, "
                         f"got {dict(strategy)!r}")
    options = strategy.get("options") or {}
    if not isinstance(options, Mapping):
        raise ValueError(f"strategy {strategy['name']}: options must be a mapping, "
                         f"got {options!r}")
    if strategy["name"] == "joint" and not options:
        return None
    request = {"name": strategy["name"], "options": dict(options)}
    canonical_json(request)  # options must be JSON: they are hashed into the key
    return request


def parse_strategy(text: str) -> str | dict[str, Any]:
    """A strategy written on a command line, ``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE``
    (:func:`mtlgroup.training.strategy_catalog.parse_strategy_spec`): the name alone, or
    ``{"name", "options"}``.

    >>> parse_strategy("pcgrad"), parse_strategy("cagrad:c=0.4,rescale=1")
    ('pcgrad', {'name': 'cagrad', 'options': {'c': 0.4, 'rescale': 1}})
    """
    from mtlgroup.training.strategy_catalog import parse_strategy_spec

    name, options = parse_strategy_spec(text)
    return {"name": name, "options": options} if options else name


def parse_strategies(text: str) -> list[str | dict[str, Any]]:
    """A comma-separated list of :func:`parse_strategy` items. A part that is ``KEY=VALUE``
    (no ``NAME:`` before it) is one more option of the strategy before it, so
    ``joint,cagrad:c=0.4,rescale=1,upgrad`` is three strategies.

    >>> parse_strategies("joint, cagrad:c=0.4,rescale=1,upgrad:pref_vector=[1, 2]")
    ['joint', {'name': 'cagrad', 'options': {'c': 0.4, 'rescale': 1}}, {'name': 'upgrad', \
'options': {'pref_vector': [1, 2]}}]
    """
    items: list[str] = []
    depth, current = 0, ""
    for char in text + ",":
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(char, 0)
        if char != "," or depth:
            current += char
            continue
        part, current = current.strip(), ""
        key, equals, _ = part.partition("=")
        if items and equals and ":" not in key:  # an option of the strategy before
            items[-1] += f",{part}"
        elif part:
            items.append(part)
    return [parse_strategy(item) for item in items]


def make_strategy(request: Mapping[str, Any] | None) -> Any:
    """A fresh :class:`~mtlgroup.training.UpdateStrategy` of a :func:`strategy_request`
    (``None``: joint). An unknown name raises the registry's error, which lists the valid
    ones; a strategy whose extra is missing, its install hint."""
    if request is None:
        return None
    from mtlgroup.training import create_strategy

    try:
        return create_strategy(request["name"], **request["options"])
    except ImportError as error:  # a missing extra: its message says what to install
        raise StrategyUnavailable(str(error)) from error


class StrategyUnavailable(ImportError, ValueError):
    """A strategy whose optional dependency is not installed (an ``ImportError``, and a
    ``ValueError`` so that the command line shows its install hint as one line)."""


def _trainer_version() -> str:
    from mtlgroup.training import TRAINER_VERSION

    return TRAINER_VERSION


@dataclass
class JobOutcome:
    """What a finished job reports back to the driver (JSON-serialisable).

    ``scores[split][task]`` holds ``{"loss": ..., metric: ...}`` for ``val``, ``test`` and, when
    recorded, ``early``. ``flops`` are the forward FLOPs of one input of ``input_shape``; the
    relative cost (ALGORITHMS §7) is computed from them when tables are exported, against the
    study's reference network. ``worker`` names the process (``host:pid``) and
    ``data_cache_hit`` says whether it reused data it had loaded for an earlier job.
    ``batches`` and ``optimizer_steps`` are the training's two counts (see
    :class:`~mtlgroup.training.TrainResult`; 0 in outcomes stored before they existed).
    """

    network: str
    tasks: list[str]
    size: float
    budget_fraction: float
    scores: dict[str, dict[str, dict[str, float]]]
    flops: float
    input_shape: list[int]
    wall_time: float
    steps: int = 0
    total_steps: int = 0
    batches: int = 0
    optimizer_steps: int = 0
    best_step: int = 0
    stopped_early: bool = False
    device: str = "cpu"
    dataset_spec: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    worker: str = ""
    data_cache_hit: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    """Job-kind specific results (JSON), e.g. ``{"affinity": ...}`` of an affinity job, and
    ``{"weights": {"file", "bytes", "sha256", ...}}`` once the store kept the network."""
    weights: bytes | None = field(default=None, repr=False, compare=False)
    """The trained network's best-validation ``state_dict`` (an ESA job's: at its stop step;
    ``torch.save`` bytes) on its way from the worker to the store; not part of the JSON (the
    store writes it to its own file)."""

    def loss(self, split: str = "val") -> dict[str, float]:
        """Per-task loss on ``split`` (``val``, ``test`` or ``early``), in the network's task
        order."""
        if split not in self.scores:
            raise ValueError(f"network {self.network} has no {split} scores")
        scores = self.scores[split]
        return {t: scores[t]["loss"] for t in self.tasks if t in scores}

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON values (without :attr:`weights`)."""
        return {f.name: copy.deepcopy(getattr(self, f.name))
                for f in dataclasses.fields(self) if f.name != "weights"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobOutcome:
        return cls(**{k: v for k, v in data.items() if k != "weights"})

    @property
    def weights_record(self) -> dict[str, Any] | None:
        """``{"file", "bytes", "sha256", ...}`` of the weights the store kept, or ``None``."""
        record = self.extra.get("weights")
        return dict(record) if record else None

    @classmethod
    def from_train_result(
        cls,
        spec: JobSpec,
        result: TrainResult,
        input_shape: Sequence[int],
        wall_time: float,
        cache_hit: bool,
    ) -> JobOutcome:
        scores = {"val": result.val, "test": result.test}
        if result.early_val is not None:
            scores["early"] = result.early_val
        return cls(
            network=spec.network,
            tasks=list(spec.candidate.tasks),
            size=spec.candidate.size,
            budget_fraction=spec.candidate.budget_fraction,
            scores=scores,
            flops=float(result.extra["flops"]),
            input_shape=list(input_shape),
            wall_time=wall_time,
            steps=result.steps,
            total_steps=result.total_steps,
            batches=result.batches,
            optimizer_steps=result.optimizer_steps,
            best_step=result.best_step,
            stopped_early=result.stopped_early,
            device=result.device,
            dataset_spec=dict(result.extra.get("dataset", {})),
            history=list(result.history),
            worker=worker_name(),
            data_cache_hit=cache_hit,
        )


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job(spec: JobSpec) -> JobOutcome:
    """Train the job's network and return its scores, FLOPs and timing (runs in a worker).

    A network job's outcome carries the trained (best-validation) network's ``state_dict`` in
    ``weights`` for the store to keep. An affinity job trains the joint network with its
    estimator's probes and returns the affinity matrix in ``extra["affinity"]`` instead."""
    from mtlgroup.study.weights import state_dict_bytes
    from mtlgroup.tracking import finish_on_error
    from mtlgroup.training import train_network

    started = time.perf_counter()
    data, cache_hit = cached_dataset(spec.dataset, spec.data_options)
    config = spec.train_config_for(data)
    extra: dict[str, Any] = {}
    weights: bytes | None = None
    callbacks = job_callbacks(spec)
    with finish_on_error(callbacks):  # a training that raises ends its tracker runs as failed
        if spec.affinity is None:
            network, result = train_network(spec.candidate.tasks, data, spec.candidate.size,
                                            config, callbacks, make_strategy(spec.strategy),
                                            model=spec.model)
            weights = state_dict_bytes(network)
        else:
            from mtlgroup.affinity import estimate_affinity

            # tag and cs probe a training of any strategy; the estimator builds it per fit
            strategy = {"strategy": dict(spec.strategy)} if spec.strategy is not None else {}
            affinity = estimate_affinity(
                data, spec.candidate.tasks, method=spec.affinity["method"], config=config,
                size=spec.candidate.size, model=spec.model, callbacks=callbacks,
                **spec.affinity["options"], **strategy,
            )
            assert affinity.result is not None  # estimate_affinity always trains
            result = affinity.result
            extra["affinity"] = _affinity_record(affinity)
    outcome = JobOutcome.from_train_result(
        spec, result, data.input_shape, time.perf_counter() - started, cache_hit
    )
    if spec.strategy is not None:
        extra["strategy"] = dict(spec.strategy)
    outcome.extra = extra
    outcome.weights = weights
    return outcome


def job_callbacks(spec: JobSpec) -> list[Callback]:
    """The training callbacks a job runs with: its tracker's, if it has one. The run is named
    after the network; a short (ESA) run's name adds its budget share, an affinity job's its
    method (``a+b (budget 0.2)``, ``a+b+c (tag affinity)``)."""
    if not spec.track:
        return []
    from mtlgroup.tracking import tracking_callbacks

    name = spec.network
    if not spec.candidate.is_full_budget:
        name += f" (budget {spec.candidate.budget_fraction:g})"
    if spec.affinity is not None:
        name += f" ({spec.affinity['method']} affinity)"
    params = {"network": spec.network, "size": spec.candidate.size,
              "budget_fraction": spec.candidate.budget_fraction, "dataset": spec.dataset,
              **{f"data.{k}": v for k, v in spec.data_options.items()},
              "model": spec.model.describe(), "seed": spec.seed,
              "job_key": spec.key,
              **({"affinity": canonical_json(spec.affinity)} if spec.affinity else {})}
    return tracking_callbacks(spec.track, name, params)


def _affinity_record(affinity: Affinity) -> dict[str, Any]:
    """The affinity as JSON: its sidecar (without the training, which the outcome holds)
    plus the matrix (NaN as ``null``)."""
    record = affinity.sidecar()
    record.pop("training", None)
    record["matrix"] = [[v if math.isfinite(v) else None for v in row]
                        for row in affinity.matrix.tolist()]
    return record


def outcome_affinity(outcome: JobOutcome) -> Affinity:
    """The :class:`~mtlgroup.affinity.Affinity` an affinity job's outcome carries."""
    import numpy as np

    from mtlgroup.affinity import Affinity

    record = outcome.extra.get("affinity")
    if record is None:
        raise ValueError(f"job {outcome.network} is not an affinity job (no affinity in its "
                         "outcome)")

    def matrix(rows: list[list[float | None]]) -> np.ndarray:
        return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)

    return Affinity(
        tuple(record["tasks"]), matrix(record["matrix"]), record["method"],
        dict(record["settings"]), int(record["n_probes"]),
        [(h["step"], matrix(h["matrix"])) for h in record.get("history", [])],
        dict(record.get("extra", {})),
    )
