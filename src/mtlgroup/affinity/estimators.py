"""Affinity estimators: one joint training run in, an :class:`~mtlgroup.affinity.Affinity` out.

Estimators follow scikit-learn's contract: hyper-parameters in ``__init__``, the work in
:meth:`AffinityEstimator.fit`, learned state in attributes ending in ``_`` (``affinity_``,
``result_``, ``model_``). A registry names them for configs and the CLI:

=============  ==============================================================  ==============
name           what is measured                                                training rule
=============  ==============================================================  ==============
``tag``        lookahead affinity ``Z`` (ALGORITHMS §2), every ``every`` steps  joint
``cs``         gradient cosine similarity of the shared parameters, same probes joint
``proximal``   proximal affinity (ALGORITHMS §3)                               STGU
=============  ==============================================================  ==============

Estimators can also ride along a training you run yourself: pass ``estimator.callback`` (and,
for ``proximal``, ``estimator.strategy``) to a :class:`~mtlgroup.training.Trainer`, then call
``estimator.affinity()``.

Example:
    >>> from mtlgroup.data import load_dataset
    >>> from mtlgroup.training import TrainConfig
    >>> data = load_dataset("synthetic", n_train=32, n_val=8, n_test=8)
    >>> config = TrainConfig(max_steps=3, batch_size=16)
    >>> affinity = estimate_affinity(data, method="cs", config=config, size=0.25, every=1)
    >>> affinity.method, affinity.n_probes, affinity.result.steps
    ('cs', 3, 3)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import nn

from mtlgroup.affinity.callback import LookaheadProbe
from mtlgroup.affinity.matrix import Affinity
from mtlgroup.affinity.steps import StepRule
from mtlgroup.affinity.stgu import SelectiveGroupStrategy
from mtlgroup.data.base import MultiTaskData
from mtlgroup.models.network_factory import NetworkFactory
from mtlgroup.registry import Registry
from mtlgroup.training.callbacks import Callback, TrainState
from mtlgroup.training.result import TrainResult
from mtlgroup.training.strategies import UpdateStrategy
from mtlgroup.training.trainer import TrainConfig, Trainer, train_network

ESTIMATORS: Registry[type[AffinityEstimator]] = Registry("affinity method")
"""Affinity estimator classes by ``method`` name (``tag``, ``cs``, ``proximal``, …)."""


def register_estimator(cls: type[AffinityEstimator]) -> type[AffinityEstimator]:
    """Class decorator: make an estimator available by its ``method`` name."""
    return ESTIMATORS.register(cls.method, cls)


def create_estimator(name: str, **options: Any) -> AffinityEstimator:
    """An estimator by name (``tag``, ``cs``, ``proximal``) with its hyper-parameters.

    An unknown name raises :class:`~mtlgroup.registry.UnknownNameError` (a ``ValueError``)
    listing the valid ones; an unknown option, a ``ValueError`` naming the method.
    """
    estimator = ESTIMATORS.get(name)
    try:
        return estimator(**options)
    except TypeError as error:  # an option the method does not have: say which are valid
        raise ValueError(f"affinity method {name!r}: {error}") from None


def available_estimators() -> list[str]:
    """The registered method names, sorted."""
    return sorted(ESTIMATORS.names())


class AffinityEstimator(ABC):
    """Base class. Call order: ``fit`` builds the standard network for the tasks (seeded by
    ``config.seed``), trains it once with :meth:`training_parts`, then sets ``affinity_``,
    ``result_`` and ``model_``."""

    method: ClassVar[str] = "abstract"

    def fit(
        self,
        data: MultiTaskData,
        tasks: Sequence[str] | None = None,
        config: TrainConfig | None = None,
        size: float = 1.0,
        model: nn.Module | NetworkFactory | str | Mapping[str, Any] | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> AffinityEstimator:
        """Train one network on ``tasks`` (default: all of ``data``'s) and measure affinity.

        ``model`` is the network factory that builds the network (default ``conv``; a name,
        ``package.module:function`` or a :class:`~mtlgroup.models.NetworkFactory`), or a
        module of your own used as it is. Either must return ``{task: prediction}`` and expose
        its shared parameters (see :func:`~mtlgroup.affinity.lookahead.shared_parameters`).
        ``callbacks`` watch the training too, after the estimator's own (e.g. a tracker's).
        """
        config = config or TrainConfig()
        names = list(tasks or data.tasks.names)
        self._start()
        probes, strategy = self.training_parts()
        callbacks = [*probes, *callbacks]
        if not isinstance(model, nn.Module):
            model, result = train_network(names, data, size, config, callbacks, strategy,
                                          model=model)
        else:
            result = Trainer(config, callbacks, strategy).fit(model, data, names)
        self.model_: nn.Module = model
        self.result_: TrainResult = result
        self.affinity_: Affinity = self.affinity()
        self.affinity_.result = result
        self.affinity_.settings.setdefault("size", size)
        self.affinity_.settings.update(self._recorded_settings())
        return self

    def _recorded_settings(self) -> dict[str, Any]:
        """What the fitted affinity's ``settings`` record beside the probes' own (default:
        nothing more)."""
        return {}

    def _start(self) -> None:
        """Fresh callbacks/strategy for a new fit."""
        self._parts: tuple[list[Callback], UpdateStrategy | None] | None = None

    def training_parts(self) -> tuple[list[Callback], UpdateStrategy | None]:
        """The callbacks and strategy of this estimator's training (made once per fit)."""
        if getattr(self, "_parts", None) is None:
            self._parts = self._make_parts()
        assert self._parts is not None
        return self._parts

    @abstractmethod
    def _make_parts(self) -> tuple[list[Callback], UpdateStrategy | None]: ...

    @abstractmethod
    def affinity(self) -> Affinity:
        """The affinity measured by the callbacks/strategy so far."""

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters, as given to ``__init__``."""
        return dict(self._params())

    @abstractmethod
    def _params(self) -> dict[str, Any]: ...

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"


class _ProbeEstimator(AffinityEstimator):
    """Estimators that read a :class:`LookaheadProbe` during a joint training."""

    def __init__(
        self, every: int, step: StepRule, divide_by_lr: bool, lookahead: bool,
        batched: bool | None, strategy: str | Mapping[str, Any] | None = None,
    ):
        self.every = every
        self.step = step
        self.divide_by_lr = divide_by_lr
        self.batched = batched
        self.strategy = strategy
        self._lookahead = lookahead
        LookaheadProbe(every, step, divide_by_lr)  # validate now, not after data loading
        self._update_strategy()  # likewise: an unknown strategy fails here

    @property
    def callback(self) -> LookaheadProbe:
        """The probe to pass to a :class:`~mtlgroup.training.Trainer`."""
        probe = self.training_parts()[0][0]
        assert isinstance(probe, LookaheadProbe)
        return probe

    def _make_parts(self) -> tuple[list[Callback], UpdateStrategy | None]:
        probe = LookaheadProbe(self.every, self.step, self.divide_by_lr, self._lookahead,
                               self.batched)
        return [probe], self._update_strategy()

    def _update_strategy(self) -> UpdateStrategy | None:
        """A fresh strategy of ``strategy`` (a name or ``{"name", "options"}``; ``None``: the
        joint sum): the probes measure affinity along that training's trajectory."""
        if self.strategy is None:
            return None
        from mtlgroup.training.strategies import create_strategy

        if isinstance(self.strategy, str):  # a name or NAME:KEY=VALUE,...
            from mtlgroup.training.strategy_catalog import strategy_from_spec

            return strategy_from_spec(self.strategy)
        return create_strategy(self.strategy["name"], **dict(self.strategy.get("options") or {}))

    def _recorded_settings(self) -> dict[str, Any]:
        # the affinity says which training it was measured along (only when not joint)
        if self.strategy is None:
            return {}
        if isinstance(self.strategy, str):
            from mtlgroup.training.strategy_catalog import parse_strategy_spec

            name, options = parse_strategy_spec(self.strategy)
            return {"strategy": {"name": name, "options": options}}
        return {"strategy": {"name": self.strategy["name"],
                             "options": dict(self.strategy.get("options") or {})}}

    def _with_strategy(self, params: dict[str, Any]) -> dict[str, Any]:
        # only when set: the parameters (and reprs) of a joint training stay as they were
        return {**params, "strategy": self.strategy} if self.strategy is not None else params


@register_estimator
class TagEstimator(_ProbeEstimator):
    """TAG lookahead affinity (ALGORITHMS §2) from one joint training run.

    Args:
        every: probe every ``every`` steps.
        step: ``"sgd"`` (``θ − η·g_i``, default) or ``"optimizer"`` (the optimizer's own step).
        divide_by_lr: divide ``Z`` by ``η`` like the released code (rescales only).
        batched: ``vmap`` the lookahead passes (``None``: except on the CPU, where a loop of
            ``functional_call`` measured faster).
        strategy: the update strategy of the probed training (a name such as ``"pcgrad"`` or
            ``{"name": ..., "options": {...}}``; default: the joint sum).
        first_order: report first-order TAG, ``⟨θ − θ'_i, g_j⟩ / L_j`` (ALGORITHMS §2), from
            the gradients alone: no lookahead passes, the cost of ``cs``. Default: exact TAG.

    The fitted estimator carries the gradient cosines of the same probes in ``cosine_`` (an
    :class:`Affinity` with method ``cs``) and first-order TAG in ``first_order_`` (free given
    the gradients, so an exact run reports both and their agreement can be measured).
    """

    method = "tag"

    def __init__(
        self, every: int = 10, step: StepRule = "sgd", divide_by_lr: bool = False,
        batched: bool | None = None, strategy: str | Mapping[str, Any] | None = None,
        first_order: bool = False,
    ):
        self.first_order = first_order
        super().__init__(every, step, divide_by_lr, lookahead=not first_order, batched=batched,
                         strategy=strategy)

    def affinity(self) -> Affinity:
        self.cosine_ = self.callback.cosine_affinity()
        self.first_order_ = self.callback.first_order_affinity()
        return self.first_order_ if self.first_order else self.callback.lookahead_affinity()

    def _params(self) -> dict[str, Any]:
        params = self._with_strategy({"every": self.every, "step": self.step,
                                      "divide_by_lr": self.divide_by_lr, "batched": self.batched})
        # only when set, like strategy: the parameters of exact TAG stay as they were
        return {**params, "first_order": True} if self.first_order else params


@register_estimator
class CosineEstimator(_ProbeEstimator):
    """Gradient cosine similarity (the CS baseline of ALGORITHMS §2) from one joint run.

    Only gradients are computed at each probe (no lookahead passes), so it is cheaper than TAG.
    """

    method = "cs"

    def __init__(self, every: int = 10, strategy: str | Mapping[str, Any] | None = None):
        super().__init__(every, "sgd", False, lookahead=False, batched=None, strategy=strategy)

    def affinity(self) -> Affinity:
        return self.callback.cosine_affinity()

    def _params(self) -> dict[str, Any]:
        return self._with_strategy({"every": self.every})


class _AffinityHistory(Callback):
    """Records the STGU tracker's matrix at each validation and at the end."""

    def __init__(self, strategy: Any):
        self.strategy = strategy
        self.history: list[tuple[int, Any]] = []

    def on_evaluate(
        self, state: TrainState, split: str, scores: dict[str, dict[str, float]]
    ) -> None:
        self.history.append((state.step, self.strategy.tracker_.matrix.copy()))

    def on_train_end(self, state: TrainState, result: TrainResult) -> None:
        if not self.history or self.history[-1][0] != state.step:
            self.history.append((state.step, self.strategy.tracker_.matrix.copy()))
        result.extra["groups_over_time"] = self.strategy.groups_over_time()


@register_estimator
class ProximalEstimator(AffinityEstimator):
    """Proximal affinity (ALGORITHMS §3) while training with selective task group updates.

    Args:
        beta: moving-average rate (paper: 1e-3).
        warmup: batches with every task alone before grouping starts (default: 10% of the
            run's budget in batches, between 1 and 100; the one used is in
            ``extra["warmup"]``).
        regroup_every: batches between regroupings.
        preference: affinity propagation's preference (default: median similarity).
        seed: seed of the group visiting order.
        normalize: report the affinity with column ``t`` divided by the self-affinity
            ``A[t, t]`` (the matrix STGU's grouping clusters, ALGORITHMS §3; default), so that
            ``mtlgroup select --affinity`` groups on the same numbers. ``False``: the raw
            moving average. Either way the other one is in ``extra["raw_matrix"]`` /
            recomputable with :meth:`Affinity.normalized`.

    ``affinity_.extra["groups_over_time"]`` lists ``{"step": …, "groups": […]}`` at every
    change of grouping, ``extra["final_groups"]`` the groups at the end.
    """

    method = "proximal"

    def __init__(
        self,
        beta: float = 1e-3,
        warmup: int | None = None,
        regroup_every: int = 1,
        preference: float | None = None,
        seed: int = 0,
        normalize: bool = True,
    ):
        self.beta = beta
        self.warmup = warmup
        self.regroup_every = regroup_every
        self.preference = preference
        self.seed = seed
        self.normalize = normalize
        SelectiveGroupStrategy(**self._strategy_params())  # validate now

    @property
    def strategy(self) -> UpdateStrategy:
        """The STGU strategy to pass to a :class:`~mtlgroup.training.Trainer`."""
        strategy = self.training_parts()[1]
        assert strategy is not None
        return strategy

    @property
    def callback(self) -> Callback:
        """Records the affinity's history; pass it along with :attr:`strategy`."""
        return self.training_parts()[0][0]

    def _make_parts(self) -> tuple[list[Callback], UpdateStrategy | None]:
        strategy = SelectiveGroupStrategy(**self._strategy_params())
        return [_AffinityHistory(strategy)], strategy

    def affinity(self) -> Affinity:
        strategy: Any = self.strategy
        if not hasattr(strategy, "tracker_"):
            raise ValueError("the STGU strategy has not trained yet: nothing to report")
        history = self.callback.history if isinstance(self.callback, _AffinityHistory) else []
        raw = Affinity(
            strategy.tracker_.tasks, strategy.tracker_.matrix.copy(), method=self.method,
            settings=self._params(), n_probes=strategy.tracker_.n_updates, history=list(history),
            extra={"groups_over_time": strategy.groups_over_time(), "warmup": strategy.warmup_,
                   "final_groups": [list(g) for g in strategy.groups_]},
        )
        if not self.normalize:
            return raw
        normalized = raw.normalized()
        normalized.extra["raw_matrix"] = raw.matrix.tolist()
        return normalized

    def _strategy_params(self) -> dict[str, Any]:
        return {"beta": self.beta, "warmup": self.warmup, "regroup_every": self.regroup_every,
                "preference": self.preference, "seed": self.seed}

    def _params(self) -> dict[str, Any]:
        return {**self._strategy_params(), "normalize": self.normalize}


def estimate_affinity(
    data: MultiTaskData,
    tasks: Sequence[str] | None = None,
    method: str = "tag",
    config: TrainConfig | None = None,
    size: float = 1.0,
    model: nn.Module | NetworkFactory | str | Mapping[str, Any] | None = None,
    callbacks: Sequence[Callback] = (),
    **options: Any,
) -> Affinity:
    """Train one network (seeded by ``config.seed``) on ``tasks`` with the ``method``'s probe or
    strategy and return its affinity; ``affinity.result`` is the training's
    :class:`~mtlgroup.training.TrainResult`. ``model`` is a network factory (default ``conv``)
    or a module of your own; ``callbacks`` watch the training too (e.g. a tracker's);
    ``options`` are the estimator's hyper-parameters (e.g. ``every=10`` for ``tag``/``cs``,
    ``warmup=100`` for ``proximal``)."""
    estimator = create_estimator(method, **options)
    return estimator.fit(data, tasks, config, size, model, callbacks).affinity_
