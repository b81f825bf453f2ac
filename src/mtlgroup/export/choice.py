"""A run's choice at one budget, found again in its run directory: :func:`run_choice`.

The ``select`` stage saved, per budget, the chosen networks and which serves which task
(``OUT/stages/select.json``); ``finalize`` trained them for real and the study store kept their
weights. :class:`RunChoice` gathers those pieces (the row, each network's finished job, the
dataset's tasks and input format) for :func:`~mtlgroup.export.grouped_model` and
:func:`~mtlgroup.export.export_bundle`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlgroup.study.plans import parse_candidate

if TYPE_CHECKING:
    from torch import nn

    from mtlgroup.data.base import MultiTaskData
    from mtlgroup.models.network_factory import NetworkFactory
    from mtlgroup.study.store import JobRecord
    from mtlgroup.tasks import TaskSet


class ChoiceError(ValueError):
    """The run has no usable choice at that budget (the message says what it has)."""


@dataclass
class RunChoice:
    """The networks a run chose at ``budget``.

    Attributes:
        run: the run directory.
        budget: the budget.
        networks: the chosen network names, as the run wrote them.
        served_by: task → network name, in the study's task order.
        records: network name → its finished full-budget job in the store.
        row: the saved ``evaluate`` row of the budget (or the ``select`` row before evaluate).
    """

    run: Path
    budget: float
    networks: list[str]
    served_by: dict[str, str]
    records: dict[str, JobRecord]
    row: dict[str, Any]
    store_path: Path

    @property
    def factory(self) -> NetworkFactory:
        return next(iter(self.records.values())).spec.model

    def data(self) -> MultiTaskData:
        """The run's dataset (for its tasks and input format; from the cache once loaded)."""
        from mtlgroup.data.registry import cached_dataset

        spec = next(iter(self.records.values())).spec
        return cached_dataset(spec.dataset, spec.data_options)[0]

    def input_shape(self) -> tuple[int, ...]:
        outcome = next(iter(self.records.values())).outcome
        assert outcome is not None
        return tuple(outcome.input_shape)

    def weights_path(self, name: str) -> Path:
        """The file in which the store kept network ``name``'s weights."""
        from mtlgroup.study.weights import WeightStore, weights_directory

        return WeightStore(weights_directory(self.store_path)).path(self.records[name].key)

    def build(self, name: str, tasks: TaskSet) -> nn.Module:
        """Network ``name`` rebuilt by its factory with the weights its job kept."""
        from mtlgroup.study.weights import read_state_dict

        record = self.records[name]
        network = record.spec.model.build(tasks.subset(record.candidate.tasks),
                                          self.input_shape(), record.candidate.size)
        network.load_state_dict(read_state_dict(self.weights_path(name)))
        return network.eval()


def saved_rows(run: Path) -> list[dict[str, Any]]:
    """The budget rows of a run: ``evaluate``'s if it ran, else ``finalize``'s (trained,
    refined; a run from before finalize saved rows has none), else ``select``'s."""
    for stage in ("evaluate", "finalize", "select"):
        path = run / "stages" / f"{stage}.json"
        if path.is_file():
            value = json.loads(path.read_text())
            if "rows" in value:
                rows: list[dict[str, Any]] = value["rows"]
                return rows
    raise ChoiceError(f"{run}: no stages/select.json: not a run directory, or its select stage "
                      "has not run (mtlgroup run / mtlgroup demo write one)")


def run_choice(run: str | Path, budget: float, store: str | Path | None = None) -> RunChoice:
    """The choice of the run in ``run`` at ``budget`` (its store: ``store`` or
    ``run/study.sqlite``).

    Raises :class:`ChoiceError` naming the budgets the run did select when it has no row at
    ``budget`` or the row is infeasible, and naming a chosen network whose finished job (or
    kept weights) the store does not have.
    """
    from mtlgroup.study.store import StudyStore

    run = Path(run)
    rows = saved_rows(run)
    row = next((r for r in rows if math.isclose(float(r["budget"]), budget, rel_tol=1e-9,
                                                abs_tol=1e-12)), None)
    feasible = [float(r["budget"]) for r in rows if r["feasible"]]
    selected = ", ".join(f"{b:g}" for b in feasible) or "none"
    if row is None:
        raise ChoiceError(f"{run} did not select at budget {budget:g}; it chose networks at "
                          f"budgets {selected}")
    if not row["feasible"]:
        raise ChoiceError(f"{run}: budget {budget:g} was infeasible ({row.get('note', '')}); "
                          f"it chose networks at budgets {selected}")
    store_path = Path(store) if store is not None else run / "study.sqlite"
    if not store_path.is_file():
        raise ChoiceError(f"{store_path}: no study store (pass the run's store with --store)")
    with StudyStore(store_path) as opened:
        done = [r for r in opened.jobs("done") if r.is_network and r.candidate.is_full_budget]
        by_network = {(frozenset(r.candidate.tasks), r.candidate.size): r for r in done}
        records = {}
        for name in row["networks"]:
            candidate = parse_candidate(name)
            record = by_network.get((frozenset(candidate.tasks), candidate.size))
            if record is None:
                raise ChoiceError(f"{store_path}: the chosen network {name} has no finished "
                                  "full-budget job (rerun the run's finalize stage)")
            if not opened.weights.has(record.key):
                raise ChoiceError(f"{store_path}: the weights of {name} were not kept (pruned, "
                                  "or trained with keep_weights none); retrain it by rerunning "
                                  "the run")
            records[name] = record
    order = _task_order(records)
    served = {t: row["served_by"][t] for t in sorted(row["served_by"], key=order.index)}
    return RunChoice(run, float(row["budget"]), list(row["networks"]), served, records, row,
                     store_path)


def _task_order(records: dict[str, JobRecord]) -> list[str]:
    """The dataset's task order (the order of a grouped model's outputs)."""
    from mtlgroup.data.registry import dataset_tasks

    spec = next(iter(records.values())).spec
    return list(dataset_tasks(spec.dataset, spec.data_options).names)
