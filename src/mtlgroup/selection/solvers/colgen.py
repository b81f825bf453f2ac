"""Column generation: selection over every subset without listing them (ALGORITHMS §1.6).

The LP relaxation of §1's program is solved over columns ``(G, S)`` — network ``G`` serving the
tasks ``S ⊆ G`` — added as pricing (:mod:`~mtlgroup.selection.solvers.pricing`) finds ones of
negative reduced cost; with none left, the LP value is a bound on every selection. Then the
exact program (:func:`~mtlgroup.selection.solvers.milp.solve_milp`) runs over the networks
generated. Its value minus the bound is the proven gap; when positive, every network whose
reduced cost is below the gap is added (no better selection can use any other: its value is at
least the bound plus the reduced costs of its networks) and the program solved again, which
closes the gap unless there are more than :data:`CLOSE_AT_MOST` of them.

Works on an :class:`~mtlgroup.selection.implicit.ImplicitProblem` (families priced by
enumeration or a small binary program per group size) and on a listed problem (pricing by
enumeration over the list).

Example:
    >>> import numpy as np
    >>> from mtlgroup.selection import problem_from_affinity, solve_milp
    >>> A = np.random.default_rng(0).normal(size=(8, 8))
    >>> problem = problem_from_affinity([f"t{i}" for i in range(8)], A, max_groups=3)
    >>> mine, exact = solve_colgen(problem), solve_milp(problem)
    >>> mine.names == exact.names, mine.gap
    (True, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np

from mtlgroup.selection.implicit import ImplicitProblem
from mtlgroup.selection.problem import (
    Candidate,
    InfeasibleError,
    SelectionProblem,
    Solution,
)
from mtlgroup.selection.ranking import REL_TOL, close, make_solution
from mtlgroup.selection.solvers.clock import Clock
from mtlgroup.selection.solvers.milp import solve_milp
from mtlgroup.selection.solvers.pricing import Duals, FamilyPricer, Priced, price_rows

CLOSE_AT_MOST = 2000
"""Most networks added to close a gap; beyond, the gap that remains is reported."""
_PER_ROUND = 30
"""Most columns one pricing (of the listed networks, or of one group size) adds per round."""
_MAX_ROUNDS = 2000
PRICE_SECONDS = 1.0
"""Time limit of one pricing program; past it, its proven bound enters the LP bound (below)."""
_STARTS = 6
"""Local-search starts per group size when the heuristic prices (the master's best networks of
that size, then random subsets)."""


def solve_colgen(
    problem: SelectionProblem | ImplicitProblem, *, time_limit: float | None = None
) -> Solution:
    """Best selection by column generation, with its proven gap (``Solution.gap``, 0 when
    optimal).

    Raises:
        InfeasibleError: no selection within the budget serves every task (its ``required`` is
            the LP bound on the cheapest cover).
        SolverTimeLimit: ``time_limit`` seconds passed first.
    """
    clock = Clock(time_limit)
    master = _Master.of(problem)
    bound = master.generate(clock)
    restricted = master.restricted(master.networks_used())
    solution = _integer(restricted, clock)
    gap = _gap(solution.objective, bound, problem.sense)
    if gap > 0:
        below = gap + _tolerance(bound)
        extra = master.networks_below(below, CLOSE_AT_MOST + 1, clock)
        closable = len(extra) <= CLOSE_AT_MOST and master.complete
        restricted = master.restricted(master.networks_used() | set(extra[:CLOSE_AT_MOST]))
        solution = _integer(restricted, clock)
        gap = 0.0 if closable else _gap(solution.objective, bound, problem.sense)
    if isinstance(problem, SelectionProblem):  # the listed problem's own candidates
        chosen = [problem.index(c.name) for c in solution.networks]
        solution = make_solution(problem, chosen, "colgen")
    return replace(solution, solver="colgen", gap=gap)


def _integer(restricted: SelectionProblem, clock: Clock) -> Solution:
    return solve_milp(restricted, time_limit=clock.remaining() if clock.limited else None)


def _tolerance(value: float) -> float:
    return 1e3 * REL_TOL * max(1.0, abs(value))


def _gap(objective: float, bound: float, sense: str) -> float:
    """Objective (problem's sense) minus the bound (minimisation form), 0 within tolerance."""
    gap = (objective if sense == "min" else -objective) - bound
    return 0.0 if gap <= _tolerance(bound) else float(gap)


@dataclass(eq=False)
class _Network:
    key: tuple[object, ...]
    """Order of the listed problem: listed candidates first, then families by size, subset."""
    candidate: Candidate
    losses: np.ndarray
    """Minimisation form, ``inf`` where not carried."""


@dataclass(eq=False)
class _Master:
    """The restricted master LP: columns (network, served tasks) and the networks they use."""

    problem: SelectionProblem | ImplicitProblem
    sign: float
    listed: list[_Network]
    listed_losses: np.ndarray
    listed_costs: np.ndarray
    pricers: list[FamilyPricer]
    networks: dict[tuple[object, ...], _Network] = field(default_factory=dict)
    columns: list[tuple[tuple[object, ...], np.ndarray]] = field(default_factory=list)
    seen: set[tuple[tuple[object, ...], bytes]] = field(default_factory=set)
    duals: Duals | None = None
    turn: int = 0
    """The enumerated size where the next round's partial pricing starts."""
    open: list[tuple[float, float]] = field(default_factory=list)
    """Group sizes pricing left unproven: (proven bound on their reduced costs, least cost of
    one of their members)."""
    complete: bool = True
    """Whether :meth:`networks_below` found every network below its threshold."""

    @classmethod
    def of(cls, problem: SelectionProblem | ImplicitProblem) -> _Master:
        sign = 1.0 if problem.sense == "min" else -1.0
        tasks = problem.tasks
        column = {t: j for j, t in enumerate(tasks)}
        position: dict[str, tuple[object, ...]] = {}
        families = problem.families if isinstance(problem, ImplicitProblem) else ()
        for f, family in enumerate(families):
            for key, candidate in family.overrides.items():
                group = tuple(sorted(column[t] for t in key))
                position[candidate.name] = (1, f, len(group), group)
        listed_candidates = (problem.listed() if isinstance(problem, ImplicitProblem)
                             else problem.candidates)
        listed = []
        for i, candidate in enumerate(listed_candidates):
            losses = np.full(len(tasks), np.inf)
            for task, value in candidate.values.items():
                losses[column[task]] = sign * value
            listed.append(_Network(position.get(candidate.name, (0, i)), candidate, losses))
        pricers = []
        for family in families:
            excluded = {sum(1 << column[t] for t in key) for key in family.overrides}
            assert isinstance(problem, ImplicitProblem)
            for candidate in listed_candidates:  # a member named like a listed network
                found = _member_group(candidate.name, family.suffix, column)
                if found is not None and len(found) >= family.min_size and \
                        problem.member_name(family, found) == candidate.name:
                    excluded.add(sum(1 << j for j in found))
            pricers.append(FamilyPricer(family, sign, excluded))
        empty = np.zeros((0, len(tasks)))
        master = cls(problem, sign, listed,
                     np.array([n.losses for n in listed]) if listed else empty,
                     np.array([n.candidate.cost for n in listed]), pricers)
        for network in listed:
            master.add(network, np.isfinite(network.losses))
        for f, pricer in enumerate(pricers):  # the all-task member: the family's cheapest cover
            everything = tuple(range(len(tasks)))
            if sum(1 << j for j in everything) not in pricer.excluded:
                network = master.member(f, everything)
                master.add(network, np.ones(len(tasks), dtype=bool))
        return master

    # -- networks and columns ---------------------------------------------------------------

    def member(self, f: int, group: tuple[int, ...]) -> _Network:
        key = (1, f, len(group), group)
        if key not in self.networks:
            problem = self.problem
            assert isinstance(problem, ImplicitProblem)
            family = problem.families[f]
            from mtlgroup.selection.affinity import group_scores

            scores = group_scores(family.matrix, np.array([group]))[0]
            losses = np.full(len(problem.tasks), np.inf)
            losses[list(group)] = self.sign * scores[list(group)]
            candidate = Candidate(problem.member_name(family, group), family.cost(group),
                                  {problem.tasks[j]: float(scores[j]) for j in group})
            self.networks[key] = _Network(key, candidate, losses)
        return self.networks[key]

    def add(self, network: _Network, served: np.ndarray) -> bool:
        """Add the column; False if it is already there (or serves nothing)."""
        if not served.any():
            return False
        marker = (network.key, np.packbits(served).tobytes())
        if marker in self.seen:
            return False
        self.seen.add(marker)
        self.networks.setdefault(network.key, network)
        self.columns.append((network.key, served.copy()))
        return True

    def networks_used(self) -> set[tuple[object, ...]]:
        return {key for key, _ in self.columns}

    def restricted(self, keys: set[tuple[object, ...]]) -> SelectionProblem:
        """The listed problem over these networks, in the full problem's order."""
        chosen = sorted((self.networks[k] for k in keys), key=lambda n: n.key)
        return SelectionProblem(self.problem.tasks, tuple(n.candidate for n in chosen),
                                self.problem.budget, self.problem.sense)

    # -- the LP ------------------------------------------------------------------------------

    def solve_lp(self, phase_one: bool, penalty: float) -> tuple[float, Duals, float]:
        """LP value, duals and the artificial cover left. Phase two: every task may also be
        covered by an artificial column costing ``penalty`` (so the LP is always feasible while
        the columns that serve only part of a network are still missing). Phase one: the least
        cost of covering every task at least once (budget ignored)."""
        from scipy.optimize import linprog
        from scipy.sparse import csr_matrix, hstack, identity

        n = len(self.problem.tasks)
        served = csr_matrix(np.array([s for _, s in self.columns]).T.astype(float))
        costs = np.array([self.networks[k].candidate.cost for k, _ in self.columns])
        if phase_one:
            result = linprog(costs, A_ub=-served, b_ub=-np.ones(n), bounds=(0, None),
                             method="highs")
            self._check(result)
            return float(result.fun), Duals(-np.asarray(result.ineqlin.marginals), 1.0,
                                            0.0), 0.0
        values = np.array([float(np.where(s, self.networks[k].losses, 0.0).sum())
                           for k, s in self.columns])
        budget = self.problem.budget
        limited = bool(np.isfinite(budget))
        cover = hstack([served, identity(n, format="csr")]).tocsr()
        spend = csr_matrix(np.append(costs, np.zeros(n))[None, :])
        result = linprog(np.append(values, np.full(n, penalty)),
                         A_ub=spend if limited else None,
                         b_ub=[budget * (1 + REL_TOL)] if limited else None,
                         A_eq=cover, b_eq=np.ones(n), bounds=(0, None), method="highs")
        self._check(result)
        mu = -float(result.ineqlin.marginals[0]) if limited else 0.0
        artificial = float(result.x[len(costs):].sum())
        return (float(result.fun) - penalty * artificial,
                Duals(np.asarray(result.eqlin.marginals, dtype=float), max(mu, 0.0), 1.0),
                artificial)

    @staticmethod
    def _check(result: Any) -> None:
        if result.status != 0:
            raise RuntimeError(f"column generation: the LP failed ({result.message})")

    def generate(self, clock: Clock) -> float:
        """Columns until none has a negative reduced cost; the LP bound (min form)."""
        scale = 1.0 + float(np.abs(self.listed_losses[np.isfinite(self.listed_losses)]).max()
                            if np.isfinite(self.listed_losses).any() else 0.0)
        scale += sum(float(np.abs(p.family.matrix).max()) for p in self.pricers)
        penalty = 1e3 * scale * len(self.problem.tasks)
        phase_one, raised = False, 0
        for _ in range(_MAX_ROUNDS):
            clock.check()
            value, duals, artificial = self.solve_lp(phase_one, penalty)
            self.duals = duals
            if self.price(duals, -_tolerance(value), clock):
                continue
            if phase_one:  # the cheapest cover is known
                if value > self.problem.budget and not close(value, self.problem.budget):
                    raise InfeasibleError(value, self.problem.budget)
                phase_one = False
                if raised == 3:  # coverable within the budget, yet not in the LP
                    raise RuntimeError("column generation: artificial columns remain")
                penalty, raised = penalty * 1e3, raised + 1
            elif artificial > 1e-9:  # infeasible, or the penalty too small: find out which
                phase_one = True
            else:
                return value - self.penalty()
        raise RuntimeError(f"column generation did not converge in {_MAX_ROUNDS} rounds")

    def price(self, duals: Duals, below: float, clock: Clock) -> bool:
        """Add columns of reduced cost below ``below``: the listed ones and the families' sizes
        that enumeration prices first, the binary programs only when those found none."""
        added = False
        if len(self.listed):
            reduced, served = price_rows(self.listed_losses, self.listed_costs, duals)
            for i in np.argsort(reduced, kind="stable")[:_PER_ROUND]:
                if reduced[i] < below:
                    added |= self.add(self.listed[i], served[i])
        # partial pricing: from where the last round stopped, until enough columns are found
        sizes = [(f, m) for f, p in enumerate(self.pricers) for m in p.sizes() if p.enumerable(m)]
        before = len(self.columns)
        for step in range(len(sizes)):
            f, size = sizes[(self.turn + step) % len(sizes)]
            added |= self._add_priced(f, self.pricers[f].enumerate(size, duals, below, _PER_ROUND),
                                      duals, below)
            if len(self.columns) - before >= 2 * _PER_ROUND:
                self.turn = (self.turn + step + 1) % len(sizes)
                break
        if added:
            return True
        for f, pricer in enumerate(self.pricers):
            for size in pricer.sizes():
                if not pricer.enumerable(size):
                    found = pricer.improve(self._starts(f, size, duals), duals, below)
                    added |= self._add_priced(f, found[:_PER_ROUND], duals, below)
        if added:
            return True
        self.open = []
        for f, pricer in enumerate(self.pricers):
            for size in pricer.sizes():
                if not pricer.enumerable(size):
                    priced, lower = pricer.solve(size, duals, self._seconds(clock))
                    added |= self._add_priced(f, [priced] if priced else [], duals, below)
                    if lower < below:
                        floor = pricer.family.encoder + float(np.sort(pricer.heads)[:size].sum())
                        self.open.append((lower, floor))
        return added

    def penalty(self) -> float:
        """How far below the LP value a selection may be through the open sizes' columns
        (Lagrangian bound): at most ``n`` of them in all (each serves a task), within the
        budget in cost, each of reduced cost at least its size's proven bound."""
        if not self.open:
            return 0.0
        worst = max(-lower for lower, _ in self.open)
        per_cost = max(-lower / floor if floor > 0 else np.inf for lower, floor in self.open)
        return float(min(len(self.problem.tasks) * worst, self.problem.budget * per_cost))

    def _seconds(self, clock: Clock) -> float:
        return min(PRICE_SECONDS, clock.remaining())

    def _starts(self, f: int, size: int, duals: Duals) -> list[tuple[int, ...]]:
        """Local-search starts: the generated members of this size of least reduced cost, and
        random subsets (seeded: the same problem gives the same answer)."""
        mine = [n for n in self.networks.values() if n.key[:3] == (1, f, size)]
        if mine:
            reduced, _ = price_rows(np.array([n.losses for n in mine]),
                                    np.array([n.candidate.cost for n in mine]), duals)
            mine = [mine[i] for i in np.argsort(reduced, kind="stable")[:_STARTS // 2]]
        starts: list[tuple[int, ...]] = [cast(tuple[int, ...], n.key[3]) for n in mine]
        rng = np.random.default_rng(size)
        n = len(self.problem.tasks)
        starts += [tuple(sorted(int(j) for j in rng.choice(n, size, replace=False)))
                   for _ in range(_STARTS - len(starts))]
        return starts

    def _add_priced(self, f: int, priced: list[Priced], duals: Duals, below: float) -> bool:
        added = False
        for column in priced:
            network = self.member(f, column.group)
            # re-priced exactly from the member's values (the program's solution is rounded)
            reduced, served = price_rows(network.losses[None, :],
                                         np.array([network.candidate.cost]), duals)
            if reduced[0] < below:
                added |= self.add(network, served[0])
        return added

    def networks_below(self, below: float, most: int, clock: Clock) -> list[tuple[object, ...]]:
        """Networks of least reduced cost (final duals) below ``below``: up to ``most``."""
        duals = self.duals
        assert duals is not None
        found: list[tuple[object, ...]] = []
        if len(self.listed):
            reduced, _ = price_rows(self.listed_losses, self.listed_costs, duals)
            found += [self.listed[i].key for i in np.flatnonzero(reduced < below)]
        for f, pricer in enumerate(self.pricers):
            for size in pricer.sizes():
                if len(found) >= most:
                    return found[:most]
                clock.check()
                if pricer.enumerable(size):
                    priced = pricer.enumerate(size, duals, below, most - len(found))
                    found += [self.member(f, p.group).key for p in priced]
                elif self.open:  # the bound is open anyway: no programs, only a better answer
                    self.complete = False
                else:
                    found += self._solve_below(f, pricer, size, below, most - len(found), clock)
        return found[:most]

    def _solve_below(self, f: int, pricer: FamilyPricer, size: int, below: float, most: int,
                     clock: Clock) -> list[tuple[object, ...]]:
        """Members of ``size`` below ``below`` one program at a time, each cut off after."""
        duals = self.duals
        assert duals is not None
        cut = set(pricer.excluded)
        found: list[tuple[object, ...]] = []
        try:
            while len(found) < most:
                priced, lower = pricer.solve(size, duals, self._seconds(clock))
                if priced is None or priced.reduced_cost >= below:
                    self.complete &= lower >= below
                    break
                found.append(self.member(f, priced.group).key)
                pricer.excluded.add(sum(1 << j for j in priced.group))
        finally:
            pricer.excluded.clear()
            pricer.excluded.update(cut)
            pricer.forget_cuts(size, keep=cut)
        return found


def _member_group(name: str, suffix: str, column: dict[str, int]) -> tuple[int, ...] | None:
    """The task positions of a family member called ``name``, or ``None`` if it is none."""
    if not name.endswith(suffix):
        return None
    parts = name[:len(name) - len(suffix)].split("+")
    if not all(p in column for p in parts):
        return None
    return tuple(sorted(column[p] for p in parts))
