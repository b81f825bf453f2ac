"""Estimators: what the pipeline trains to know which tasks to group, and the selection
problems that follow from it.

An estimator is one class registered in :data:`ESTIMATOR_CLASSES` (a
:class:`~mtlgroup.registry.Registry`); the config's ``pipeline.estimator`` names it. Call order
(the ``estimate`` and ``select`` stages): :meth:`Estimator.estimate` trains what it needs and
returns its saved value (written to ``OUT/stages/estimate.json``), then
:meth:`Estimator.problems` turns that value back into one selection problem per budget.

Built in:

- loss-table estimators, from a study of candidate networks: ``hoa`` (pairs plan, larger
  networks predicted), ``esa`` (every candidate for 20% of the budget, early losses),
  ``exhaustive`` (every subset);
- affinity estimators, from one joint training that is a job of the same store: ``tag``,
  ``cs``, ``proximal``.

Adding one (e.g. a loss-table estimator on the ``all`` plan's early losses)::

    @register_estimator("early-all")
    class EarlyAll(LossTableEstimator):
        plan, split = "all", "early"

>>> ESTIMATORS[:3], "tag" in ESTIMATORS
(('hoa', 'esa', 'exhaustive'), True)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast, overload

from mtlgroup.registry import Registry

if TYPE_CHECKING:
    from mtlgroup.config import PipelineConfig
    from mtlgroup.pipeline.context import RunContext
    from mtlgroup.selection import LossTable, SelectionProblem


class Estimator(ABC):
    """Base class of the pipeline's estimators (see the module's docstring for the call order).

    ``name`` is the registry name (set by :func:`register_estimator`).
    """

    name: ClassVar[str] = "abstract"

    def chosen_on(self) -> str:
        """What the selection reads, for the report."""
        return "validation losses"

    def affinity_caption(self) -> str:
        """The caption of the heat map of the ``affinity`` file :meth:`estimate` names."""
        return f"{self.name} affinity, row = source."

    @classmethod
    def from_config(cls, pipeline: PipelineConfig | None) -> Estimator:
        """The estimator with its options from the ``pipeline`` section (default: none)."""
        return cls()

    @abstractmethod
    def estimate(self, context: RunContext) -> dict[str, Any]:
        """Train what the estimate needs and write its files to ``context.out``; returns the
        saved value (JSON): at least ``keys`` and ``failures`` (see
        :meth:`RunContext.record`), and ``affinity``, the CSV the report draws (or None)."""

    @abstractmethod
    def problems(
        self, context: RunContext, estimate: dict[str, Any], budgets: Sequence[float]
    ) -> list[SelectionProblem]:
        """One selection problem per budget, from the saved value of :meth:`estimate`."""


ESTIMATOR_CLASSES: Registry[type[Estimator]] = Registry("estimator")
"""Estimator classes by name (``hoa``, ``esa``, ``exhaustive``, ``tag``, ``cs``, ``proximal``)."""

E = TypeVar("E", bound=type[Estimator])


def register_estimator(name: str) -> Callable[[E], E]:
    """Class decorator: make an :class:`Estimator` available as ``pipeline.estimator: NAME``."""

    def decorate(cls: E) -> E:
        cls.name = name
        ESTIMATOR_CLASSES.register(name, cls)
        return cls

    return decorate


def create_estimator(name: str, pipeline: PipelineConfig | None = None) -> Estimator:
    """The estimator called ``name``, with its options from ``pipeline``."""
    return ESTIMATOR_CLASSES.get(name).from_config(pipeline)


class _Names(Sequence[str]):
    """The registered names, read live (an estimator registered later is valid at once)."""

    def __init__(self, registry: Registry[Any]):
        self._registry = registry

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return tuple(self._registry.names())[index]

    def __len__(self) -> int:
        return len(self._registry)

    def __repr__(self) -> str:
        return repr(tuple(self._registry.names()))


ESTIMATORS: Sequence[str] = _Names(ESTIMATOR_CLASSES)
"""The estimators' names (validated by :class:`~mtlgroup.config.PipelineConfig`)."""


# -- loss-table estimators (a study of candidate networks) ---------------------------------------


class LossTableEstimator(Estimator):
    """Train a study ``plan``, select on its ``split`` loss table.

    Writes ``OUT/selection_table.csv`` (the table the selection runs on, DESIGN's loss table
    format) and, when the study has pairs and half-size singles, the pairwise relative
    performance ``OUT/pairwise_affinity.csv`` the report draws.
    """

    plan: ClassVar[str] = "all"
    split: ClassVar[str] = "val"
    TABLE = "selection_table.csv"

    def affinity_caption(self) -> str:
        return ("Relative performance R[t,u] = L(t alone, half size) / L(t trained with u) - 1, "
                "drawn with the source u as row and the target t as column: blue = training "
                "with the row task helps the column task.")

    def estimate(self, context: RunContext) -> dict[str, Any]:
        from mtlgroup.errors import RunFailure
        from mtlgroup.selection import LossTable
        from mtlgroup.study.plans import parse_candidate, plan_candidates

        study = context.study
        # pipeline.sizes: each task set of the plan at each size (ALGORITHMS §1.4)
        specs = study.add_plan(self.plan if context.sizes is None else
                               plan_candidates(self.plan, study.tasks, context.sizes))
        summary = study.run(context.executor, context.progress, specs=specs)
        jobs = context.record(f"study ({self.plan} plan, {len(specs)} networks)", summary)
        losses = study.store.losses(self.split, keys=jobs["keys"])
        if not losses:
            raise RunFailure(f"no {self.split} losses: "
                             f"{summary.shared_failure() or 'every training of the study failed'}")
        costs = {name: context.cost_of(parse_candidate(name)) for name in losses}
        trained = LossTable.from_losses(losses, costs, source=f"study {self.split} table")
        table = self.prepare(context, trained)
        table.write_csv(context.out / self.TABLE)
        return {"table": self.TABLE, "affinity": _pairwise_affinity(context), **jobs,
                **self.flags(context, trained)}

    def flags(self, context: RunContext, table: LossTable) -> dict[str, Any]:
        """What the saved estimate says about how :meth:`prepare` read ``table`` (default:
        nothing)."""
        return {}

    def prepare(self, context: RunContext, table: LossTable) -> LossTable:
        """The table to select on, from the study's (HOA predicts; default: as it is)."""
        return table

    def problems(
        self, context: RunContext, estimate: dict[str, Any], budgets: Sequence[float]
    ) -> list[SelectionProblem]:
        from mtlgroup.pipeline.baseline_candidates import with_baselines
        from mtlgroup.selection import problem_from_table, read_loss_table
        from mtlgroup.selection.objectives import settings_objective

        table = read_loss_table(context.out / estimate["table"])
        table = with_baselines(context, table, self.split)  # candidates at every budget (§1.4)
        table = settings_objective(context.settings).transform(table)  # raw, relative… (§1.5)
        return [problem_from_table(table, budget=budget) for budget in budgets]


@register_estimator("hoa")
class HoaEstimator(LossTableEstimator):
    """Pairs study; networks of three or more tasks predicted from pairs (ALGORITHMS §1.1),
    each predicted network costed by its own FLOPs."""

    plan = "pairs"

    def prepare(self, context: RunContext, table: LossTable) -> LossTable:
        from mtlgroup.selection import hoa_table

        if context.sizes is not None:  # each size predicted from its own pairs (§1.4)
            from mtlgroup.pipeline.sized_hoa import hoa_by_size

            return hoa_by_size(table, context.sizes, _sized_cost(context)).table
        if _hoa_implicit(context, table):
            return table  # §1.6: the predictions stay implicit, built in problems()
        flops_cost = None if context.cost_unit == "nominal" else context.costs.cost
        return hoa_table(table, cost=flops_cost)

    def problems(
        self, context: RunContext, estimate: dict[str, Any], budgets: Sequence[float]
    ) -> list[SelectionProblem]:
        from dataclasses import replace

        from mtlgroup.selection import LossTable, read_loss_table
        from mtlgroup.selection.approx import hoa_problem

        if not _hoa_implicit(context, read_loss_table(context.out / estimate["table"])):
            return super().problems(context, estimate, budgets)
        # the real networks with baselines and objective as usual; HOA predicts from them
        # (its mean commutes with the objective's per-task scaling) without listing subsets
        listed = super().problems(context, estimate, [0.0])[0]
        flops_cost = None if context.cost_unit == "nominal" else context.costs.cost
        problem = hoa_problem(LossTable.from_rows(
            [(c.name, c.cost, t, v) for c in listed.candidates for t, v in c.values.items()]),
            budget=0.0, cost=flops_cost)
        known = {c.name for c in problem.listed()}
        larger = tuple(c for c in listed.candidates if c.name not in known)  # baselines
        problem = replace(problem, candidates=problem.candidates + larger)
        # solve() and the sweep take an implicit problem wherever they take a listed one
        return [cast("SelectionProblem", problem.with_budget(b)) for b in budgets]

    def flags(self, context: RunContext, table: LossTable) -> dict[str, Any]:
        """``extrapolated``: each size whose pairs are incomplete, "extrapolated from size-1
        pairs" (its larger networks are predicted from those)."""
        from mtlgroup.pipeline.sized_hoa import sizes_without_pairs

        if context.sizes is None:
            return {}
        return {"extrapolated": {f"{size:g}": "extrapolated from size-1 pairs"
                                 for size in sizes_without_pairs(table, context.sizes)}}


def _hoa_implicit(context: RunContext, table: LossTable) -> bool:
    """HOA over so many tasks that its predictions are not listed (ALGORITHMS §1.6)."""
    from mtlgroup.selection.implicit import IMPLICIT_FROM

    return context.sizes is None and len(table.tasks) >= IMPLICIT_FROM


def _sized_cost(context: RunContext) -> Callable[[tuple[str, ...], float], float]:
    """``cost(tasks, size)`` in the run's unit (nominal: the size)."""
    from mtlgroup.study.plans import Candidate

    return lambda tasks, size: context.cost_of(Candidate(tasks, size))


@register_estimator("esa")
class EsaEstimator(LossTableEstimator):
    """Every candidate trained for 20% of the budget; selection on early losses (§1.2)."""

    plan, split = "esa", "early"

    def chosen_on(self) -> str:
        return "early-stopped validation losses (ESA)"


@register_estimator("exhaustive")
class ExhaustiveEstimator(LossTableEstimator):
    """Every subset of tasks (plus the half-size singles) trained in full."""

    plan = "all"


def _pairwise_affinity(context: RunContext) -> str | None:
    """Write the study's pairwise relative performance (§1.3); its file name, or None."""
    from mtlgroup.affinity import pairwise_affinity

    val = context.study.losses("val")
    rows = [(name, 0.0, task, loss) for name, per_task in val.items()
            for task, loss in per_task.items()]
    try:
        affinity = pairwise_affinity(rows, tasks=context.study.tasks)
    except ValueError:
        return None  # no half-size singles or pairs (e.g. an ESA-only study)
    affinity.to_csv(context.out / "pairwise_affinity.csv")
    return "pairwise_affinity.csv"


# -- affinity estimators (one joint training, a job of the store) --------------------------------


class JointAffinityEstimator(Estimator):
    """One joint training of every task with an affinity method's probes (a job of the
    study's store: trained once, reused by every later run); at each budget, the best grouping
    (§2.1) whose networks, each costed in the run's unit, fit the budget.

    Writes ``OUT/affinity.csv`` (and its sidecar ``affinity.json``).
    """

    method: ClassVar[str] = ""
    FILE = "affinity.csv"

    def __init__(self, **options: Any):
        self.options = options

    def chosen_on(self) -> str:
        return f"the {self.name} affinity matrix (one joint training run)"

    def estimate(self, context: RunContext) -> dict[str, Any]:
        from mtlgroup.errors import RunFailure
        from mtlgroup.study.jobs import outcome_affinity
        from mtlgroup.study.plans import Candidate

        study = context.study
        spec = study.spec(Candidate(study.tasks),
                          affinity={"method": self.method, "options": self.options})
        if study.store.jobs("done", keys=[spec.key]):
            context.echo(f"affinity: reusing the joint {self.name} run (job {spec.key[:12]} of "
                         f"{study.store.path.name})")
        else:
            context.echo(f"affinity: one joint training of {len(study.tasks)} tasks with "
                         f"{self.method} probes")
        jobs = context.record(f"affinity ({self.method})",
                              study.run(context.executor, context.progress, specs=[spec]))
        record = study.store.job(spec.key)
        if record.outcome is None:
            raise RunFailure(f"the joint {self.method} training failed: {record.error}")
        outcome_affinity(record.outcome).to_csv(context.out / self.FILE)
        return {"affinity": self.FILE, **jobs}

    def problems(
        self, context: RunContext, estimate: dict[str, Any], budgets: Sequence[float]
    ) -> list[SelectionProblem]:
        from mtlgroup.affinity import Affinity
        from mtlgroup.selection import Candidate, SelectionProblem, problem_from_affinity
        from mtlgroup.study.plans import parse_candidate

        affinity = Affinity.from_csv(context.out / estimate["affinity"])
        groups = problem_from_affinity(affinity.tasks, affinity.matrix,
                                       max_groups=len(affinity.tasks))
        if not isinstance(groups, SelectionProblem):  # ≥ 16 tasks: implicit (§1.6); each
            groups = groups.expand()  # group is re-costed below, so list them (or refuse)
        costed = tuple(Candidate(c.name, context.cost_of(parse_candidate(c.name)), c.values)
                       for c in groups.candidates)
        return [SelectionProblem(groups.tasks, costed, budget, "max") for budget in budgets]


class _ProbeAffinity(JointAffinityEstimator):
    """``tag`` and ``cs`` probe every ``pipeline.affinity_every`` steps."""

    @classmethod
    def from_config(cls, pipeline: PipelineConfig | None) -> Estimator:
        return cls(every=pipeline.affinity_every) if pipeline is not None else cls()


@register_estimator("tag")
class TagAffinity(_ProbeAffinity):
    """Lookahead affinity (TAG, ALGORITHMS §2)."""

    method = "tag"


@register_estimator("cs")
class CosineAffinity(_ProbeAffinity):
    """Gradient cosine similarity (the CS baseline of ALGORITHMS §2)."""

    method = "cs"


@register_estimator("proximal")
class ProximalAffinity(JointAffinityEstimator):
    """Proximal affinity while training with selective group updates (ALGORITHMS §3)."""

    method = "proximal"


STUDY_PLAN: dict[str, str] = {
    name: cls.plan for name in ESTIMATOR_CLASSES.names()
    if issubclass(cls := ESTIMATOR_CLASSES.get(name), LossTableEstimator)
}
"""The candidates each loss-table estimator trains; affinity estimators train one joint run."""
