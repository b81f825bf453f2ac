"""Exact selection as a mixed-integer program, solved with HiGHS (``scipy.optimize.milp``).

Program (ALGORITHMS §1): binary ``x_G`` (network chosen), ``y_{G,t} ∈ [0, 1]`` (task ``t`` served
by ``G``, only for ``t ∈ G``); minimise ``Σ L(G,t)·y_{G,t}`` subject to ``Σ_G y_{G,t} = 1`` per
task, ``y_{G,t} ≤ x_G`` and ``Σ c(G)·x_G ≤ B``. ``y`` need not be integer: with ``x`` fixed, each
task's best chosen network is an optimal ``y``.

Three steps keep large instances (all ``2^n`` subsets of 15 tasks: ~250 000 ``y``) fast and exact:

1. dominance presolve (:mod:`~mtlgroup.selection.presolve`);
2. reduced-cost fixing: the LP relaxation's duals ``u`` (per task) and ``β`` (budget; found by
   column generation, so the LP never holds every network) give, for
   any feasible choice, ``objective ≥ Σu − βB + Σ_G min(0, rc_G)`` with
   ``rc_G = β·c(G) − Σ_{t∈G} max(0, u_t − L(G,t))`` (weak Lagrangian duality, valid for any
   ``u`` and ``β ≥ 0``). Serving ``t`` from ``G`` raises that bound by
   ``max(0, rc_G) + max(0, L(G,t) − u_t)``. Given an incumbent of value ``UB`` (a small program
   over the columns of least reduced cost), every ``y_{G,t}`` whose raised bound exceeds ``UB``
   cannot occur in a solution as good as the incumbent and is removed, and so is every network
   left serving nothing;
3. lexicographic solve on what remains: best objective; then, with the objective held within
   :data:`~mtlgroup.selection.ranking.REL_TOL` of it, least cost; then fewest networks. Each
   later step's answer is re-scored exactly and kept only if it really ties.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlgroup.selection.feasibility import check_feasible
from mtlgroup.selection.matrix import CandidateMatrix
from mtlgroup.selection.presolve import undominated
from mtlgroup.selection.problem import SelectionProblem, Solution
from mtlgroup.selection.ranking import REL_TOL, close, make_solution
from mtlgroup.selection.solvers.clock import Clock, SolverTimeLimit

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

_FIXING_SLACK = 1e-7
"""Relative slack of reduced-cost fixing: far above the tie tolerance, so no tie is lost to
floating-point error in the bound."""
_FIRST_COLUMNS = 8
"""Column generation starts from each task's this many best carriers (and its cheapest)."""
_MAX_ROUNDS = 100
_NEGATIVE = 1e-9
"""Reduced costs below ``-_NEGATIVE`` let a network enter the LP."""
_HIGHS_EXACT = {
    # scipy passes options it does not list verbatim to HiGHS (documented; it warns). HiGHS's
    # default absolute gap (1e-6) would stop short of the optimum. (Tightening HiGHS's
    # feasibility tolerances instead made it report worse solutions as optimal.)
    "mip_abs_gap": 1e-12,
}
_ROW_SCALE = 1e3
"""A bound row ``a·z ≤ b`` is scaled so that ``|b| ≈ 1000``: HiGHS's absolute feasibility
tolerance (1e-6) then admits only a relative excess of about 1e-9 (:data:`REL_TOL`)."""


def solve_milp(
    problem: SelectionProblem, *, time_limit: float | None = None, reduce: bool = True
) -> Solution:
    """Exact best selection (ALGORITHMS §1) with HiGHS.

    Args:
        problem: the problem.
        time_limit: seconds; :class:`SolverTimeLimit` when exceeded.
        reduce: apply reduced-cost fixing before the exact solve (off only to measure it).

    Example:
        >>> from mtlgroup.selection import Candidate, SelectionProblem
        >>> problem = SelectionProblem(("a", "b"), (
        ...     Candidate("a", 1, {"a": 0.3}), Candidate("b", 1, {"b": 0.5}),
        ...     Candidate("a+b", 1, {"a": 0.35, "b": 0.4})), budget=2)
        >>> solve_milp(problem).names
        ('a', 'a+b')
    """
    check_feasible(problem)
    clock = Clock(time_limit)
    full = _Model.of(problem.matrix, undominated(problem.matrix), problem.budget)
    try:
        model, fixing = _reduce(full, problem.matrix, clock) if reduce else (full, None)
        chosen = _lexicographic(model, problem.matrix, clock, fixing)
    except HighsFailure:
        if not reduce:
            raise
        # HiGHS gave up on a program of the reduction; the plain program is another exact path.
        chosen = _lexicographic(full, problem.matrix, clock, None)
    return make_solution(problem, chosen, "milp")


class HighsFailure(RuntimeError):
    """HiGHS stopped without a solution on a program that has one (a numerical failure)."""


@dataclass(frozen=True)
class _Model:
    """The program's data: candidate ``rows`` (positions in the problem) with their losses
    (``inf`` where no ``y`` variable exists) and costs."""

    rows: np.ndarray
    losses: np.ndarray
    costs: np.ndarray
    budget: float

    @classmethod
    def of(cls, matrix: CandidateMatrix, rows: np.ndarray, budget: float) -> _Model:
        return cls(rows, matrix.losses[rows], matrix.costs[rows], budget)

    def restrict(self, pairs: np.ndarray) -> _Model:
        """Keep the ``y`` variables where ``pairs`` is true; drop networks left with none."""
        losses = np.where(pairs, self.losses, np.inf)
        columns = np.isfinite(losses).any(axis=1)
        return _Model(self.rows[columns], losses[columns], self.costs[columns], self.budget)

    def columns(self, keep: np.ndarray) -> _Model:
        return _Model(self.rows[keep], self.losses[keep], self.costs[keep], self.budget)

    @property
    def size(self) -> int:
        return int(np.isfinite(self.losses).sum())


@dataclass(frozen=True)
class _Program:
    """Sparse matrices of one model. Variables: ``x`` (one per network) then ``y`` (one per
    finite loss, row-major)."""

    model: _Model
    y_network: np.ndarray
    y_loss: np.ndarray
    cover: csr_matrix
    link: csr_matrix

    @classmethod
    def of(cls, model: _Model) -> _Program:
        from scipy.sparse import csr_matrix

        n_networks, n_tasks = model.losses.shape
        y_network, y_task = np.nonzero(np.isfinite(model.losses))
        n_y = len(y_network)
        y_columns = n_networks + np.arange(n_y)
        shape = (n_tasks, n_networks + n_y)
        cover = csr_matrix((np.ones(n_y), (y_task, y_columns)), shape=shape)
        link = csr_matrix(
            (np.r_[np.ones(n_y), -np.ones(n_y)],
             (np.r_[np.arange(n_y), np.arange(n_y)], np.r_[y_columns, y_network])),
            shape=(n_y, n_networks + n_y),
        )
        return cls(model, y_network, model.losses[y_network, y_task], cover, link)

    @property
    def n_variables(self) -> int:
        return self.cover.shape[1]

    def on_x(self, coefficients: np.ndarray) -> np.ndarray:
        return np.r_[coefficients, np.zeros(len(self.y_loss))]

    def on_y(self, coefficients: np.ndarray) -> np.ndarray:
        return np.r_[np.zeros(len(self.model.costs)), coefficients]

    def inequalities(self, extra: list[tuple[np.ndarray, float]]) -> tuple[Any, np.ndarray]:
        """``A_ub, b_ub``: links, the budget (if finite) and ``extra`` rows ``a·z ≤ b``."""
        from scipy.sparse import csr_matrix, vstack

        rows = [self.link]
        bounds = [np.zeros(self.link.shape[0])]
        if np.isfinite(self.model.budget):
            extra = [(self.on_x(self.model.costs), self.model.budget), *extra]
        for coefficients, bound in extra:
            rows.append(csr_matrix(coefficients[None, :]))
            bounds.append(np.array([bound]))
        return vstack(rows, format="csr"), np.concatenate(bounds)

    def solve(
        self, objective: np.ndarray, extra: list[tuple[np.ndarray, float]], clock: Clock
    ) -> np.ndarray | None:
        """Chosen networks (positions in the model) of an optimal solution; ``None`` if none
        is feasible."""
        from scipy.optimize import Bounds, LinearConstraint, milp

        a_ub, b_ub = self.inequalities(extra)
        constraints = [LinearConstraint(self.cover, 1.0, 1.0),
                       LinearConstraint(a_ub, -np.inf, b_ub)]
        integrality = self.on_x(np.ones(len(self.model.costs)))
        options: dict[str, Any] = {"mip_rel_gap": 0.0, **_HIGHS_EXACT}
        if clock.limited:
            options["time_limit"] = clock.remaining()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Unrecognized options", RuntimeWarning)
            result = milp(objective, constraints=constraints, integrality=integrality,
                          bounds=Bounds(0.0, 1.0), options=options)
        if result.status == 1:
            raise SolverTimeLimit(f"milp: no proven optimum within {clock.limit} s")
        if result.x is None:
            if result.status == 2:
                return None
            raise HighsFailure(f"HiGHS failed: {result.message}")
        return np.flatnonzero(result.x[: len(self.model.costs)] > 0.5)


def _lexicographic(model: _Model, matrix: CandidateMatrix, clock: Clock,
                   fixing: _Fixing | None) -> np.ndarray:
    """Best objective, then least cost, then fewest networks (see the module docstring)."""
    program = _Program.of(model)
    first = program.solve(program.on_y(program.y_loss), [], clock)
    if first is None:
        raise RuntimeError("milp: no feasible selection although the cover fits the budget")
    best_value = matrix.value(model.rows[first])
    if fixing is not None:
        # the optimum is the tightest incumbent: the ties live in a much smaller program
        kept = fixing.keep(model, best_value)
        first = np.flatnonzero(np.isin(kept.rows, model.rows[first]))
        model = kept
        program = _Program.of(model)

    def value(chosen: np.ndarray) -> float:
        return matrix.value(model.rows[chosen])

    def cost(chosen: np.ndarray) -> float:
        return matrix.cost(model.rows[chosen])

    def tie_break(objective: np.ndarray, rows: list[tuple[np.ndarray, float]]
                  ) -> np.ndarray | None:
        # A tie-breaking stage only refines an optimum already in hand: if HiGHS fails on its
        # (often degenerate) program, the optimum found so far is kept.
        try:
            return program.solve(objective, rows, clock)
        except HighsFailure:
            return None

    objective_row = _at_most(program.on_y(program.y_loss), best_value)
    cheapest = tie_break(program.on_x(model.costs), [objective_row])
    if cheapest is None or not close(value(cheapest), best_value):
        cheapest = first
    least_cost = cost(cheapest)
    cost_row = _at_most(program.on_x(model.costs), least_cost)
    count = program.on_x(np.ones(len(model.costs)))
    fewest = tie_break(count, [objective_row, cost_row])
    if fewest is None or not (close(value(fewest), best_value)
                              and close(cost(fewest), least_cost)):
        fewest = cheapest
    return model.rows[fewest]


def _at_most(coefficients: np.ndarray, value: float) -> tuple[np.ndarray, float]:
    """The row ``coefficients·z ≤ value`` (up to :data:`REL_TOL`), scaled (:data:`_ROW_SCALE`)."""
    scale = _ROW_SCALE / max(1.0, abs(value))
    return coefficients * scale, (value + REL_TOL * max(1.0, abs(value))) * scale


@dataclass(frozen=True)
class _Fixing:
    """Lower bounds from the LP duals: ``floor[G, t]`` bounds the objective of any choice in
    which ``G`` serves ``t`` (module docstring); rows follow the model it was computed on."""

    rows: np.ndarray
    floor: np.ndarray
    reduced_cost: np.ndarray

    def keep(self, model: _Model, upper: float) -> _Model:
        """``model`` without the ``y`` that cannot occur in a choice of value ``≤ upper``."""
        position = np.searchsorted(self.rows, model.rows)
        allowed = self.floor[position] <= upper + _FIXING_SLACK * max(1.0, abs(upper))
        return model.restrict(allowed)


def _reduce(model: _Model, matrix: CandidateMatrix, clock: Clock) -> tuple[_Model, _Fixing | None]:
    """Reduced-cost fixing with the LP relaxation's duals and an incumbent (module docstring).

    The incumbent comes from a small program over the networks of least reduced cost; while the
    program left after fixing is still much larger than that, a four times larger one is tried.
    """
    duals = _lp_duals(model, clock)
    if duals is None:
        return model, None
    u, beta = duals
    reduced_cost, bound = _lagrangian(model, u, beta)
    floor = bound + np.maximum(reduced_cost, 0.0)[:, None] + np.maximum(model.losses - u, 0.0)
    fixing = _Fixing(model.rows, floor, reduced_cost)
    reduced = model
    upper = np.inf
    count = max(50, 4 * model.losses.shape[1])
    while count < len(reduced.rows):
        order = np.argsort(fixing.reduced_cost[np.searchsorted(fixing.rows, reduced.rows)],
                           kind="stable")
        promising = reduced.columns(np.sort(order[:count]))
        program = _Program.of(promising)
        chosen = program.solve(program.on_y(program.y_loss), [], clock)
        value = np.inf if chosen is None else matrix.value(promising.rows[chosen])
        if value >= upper:
            break
        upper = value
        reduced = fixing.keep(model, upper)
        if len(reduced.rows) <= 4 * count:
            break
        count *= 4
    return reduced, fixing


def _lp_duals(model: _Model, clock: Clock) -> tuple[np.ndarray, float] | None:
    """``(u, β)``: duals of the cover rows and the budget row of the LP relaxation, by column
    generation.

    The LP over a few networks (each task's best and cheapest carriers) gives duals; networks of
    negative reduced cost under them enter, and so on until none is left (then the duals are
    optimal for the whole LP; a handful of rounds in practice). Each cover row has an artificial
    slack at a high price so that every restricted LP is feasible. The duals with the best bound
    are kept (any duals give a valid bound).
    """
    losses = model.losses
    carried = np.isfinite(losses)
    n_tasks = losses.shape[1]
    penalty = 2.0 * n_tasks * float(np.abs(losses[carried]).max()) + 1.0
    active = np.zeros(len(model.rows), dtype=bool)
    for t in range(n_tasks):
        active[np.argsort(np.where(carried[:, t], losses[:, t], np.inf))[:_FIRST_COLUMNS]] = True
        active[np.argmin(np.where(carried[:, t], model.costs, np.inf))] = True
    best: tuple[float, np.ndarray, float] | None = None
    for _ in range(_MAX_ROUNDS):
        duals = _restricted_lp_duals(model.columns(np.flatnonzero(active)), penalty, clock)
        if duals is None:
            break
        reduced_cost, bound = _lagrangian(model, *duals)
        if best is None or bound > best[0]:
            best = (bound, *duals)
        entering = np.flatnonzero((reduced_cost < -_NEGATIVE) & ~active)
        if not entering.size:
            break
        active[entering[np.argsort(reduced_cost[entering])[: max(50, 2 * n_tasks)]]] = True
    return None if best is None else (best[1], best[2])


def _restricted_lp_duals(
    model: _Model, penalty: float, clock: Clock
) -> tuple[np.ndarray, float] | None:
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, hstack, identity

    program = _Program.of(model)
    a_ub, b_ub = program.inequalities([])
    n_tasks = program.cover.shape[0]
    options: dict[str, Any] = {}
    if clock.limited:
        options["time_limit"] = clock.remaining()
    result = linprog(
        np.r_[program.on_y(program.y_loss), np.full(n_tasks, penalty)],
        A_ub=hstack([a_ub, csr_matrix((a_ub.shape[0], n_tasks))], format="csr"), b_ub=b_ub,
        A_eq=hstack([program.cover, identity(n_tasks)], format="csr"), b_eq=np.ones(n_tasks),
        bounds=(0.0, 1.0), method="highs-ds", options=options,
    )
    if result.status == 1:
        raise SolverTimeLimit(f"milp: LP relaxation not solved within {clock.limit} s")
    if result.status != 0:
        return None
    beta = -float(result.ineqlin.marginals[-1]) if np.isfinite(model.budget) else 0.0
    return np.asarray(result.eqlin.marginals, dtype=float), max(beta, 0.0)


def _lagrangian(model: _Model, u: np.ndarray, beta: float) -> tuple[np.ndarray, float]:
    """Reduced cost of every network and the lower bound (module docstring) for ``(u, β)``."""
    gain = np.maximum(u[None, :] - model.losses, 0.0)  # 0 where the task is not carried
    reduced_cost = beta * model.costs - gain.sum(axis=1)
    budget_term = beta * model.budget if np.isfinite(model.budget) else 0.0
    return reduced_cost, float(u.sum() - budget_term + np.minimum(reduced_cost, 0.0).sum())
