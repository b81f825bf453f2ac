"""Studies: train every candidate network of a plan, resumably, on local processes or Ray.

A :class:`Study` turns a plan (``all``, ``pairs`` for HOA, ``esa``, or a list of networks) into
jobs with stable keys, runs them on an :class:`Executor` and keeps every result in a SQLite
:class:`StudyStore`, from which it writes the loss tables ``mtlgroup select`` reads.

Example:
    >>> from mtlgroup.study import plan_candidates
    >>> len(plan_candidates("all", ["a", "b", "c"]))  # 2^3 - 1 subsets + 3 half-size singles
    10
"""

from mtlgroup.study.executors import (
    Executor,
    ExecutorUnavailable,
    InlineExecutor,
    JobError,
    LocalExecutor,
    RayExecutor,
    available_executors,
    create_executor,
    register_executor,
)
from mtlgroup.study.jobs import JobOutcome, JobSpec, run_job
from mtlgroup.study.plans import (
    ESA_FRACTION,
    Candidate,
    available_plans,
    parse_candidate,
    parse_candidates,
    plan_candidates,
)
from mtlgroup.study.status import (
    StorePathError,
    StudyStatus,
    needed_networks,
    prune_store,
    study_status,
)
from mtlgroup.study.store import JobRecord, StoreError, StudyStore
from mtlgroup.study.study import JobFailure, Study, StudySummary

__all__ = [
    "ESA_FRACTION",
    "Candidate",
    "Executor",
    "ExecutorUnavailable",
    "InlineExecutor",
    "JobError",
    "JobFailure",
    "JobOutcome",
    "JobRecord",
    "JobSpec",
    "LocalExecutor",
    "RayExecutor",
    "StoreError",
    "StorePathError",
    "Study",
    "StudyStatus",
    "StudyStore",
    "StudySummary",
    "available_executors",
    "available_plans",
    "create_executor",
    "needed_networks",
    "parse_candidate",
    "parse_candidates",
    "plan_candidates",
    "prune_store",
    "register_executor",
    "run_job",
    "study_status",
]
