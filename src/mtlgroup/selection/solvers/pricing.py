"""Pricing for column generation (ALGORITHMS §1.6): the columns of least reduced cost.

A column is a network ``G`` with the tasks ``S ⊆ G`` it serves. Under the cover duals ``π`` and
the budget dual ``μ ≥ 0`` (minimisation form) its reduced cost is
``μ·c(G) + Σ_{t∈S} (L(G, t) − π_t)``, least with ``S = {t ∈ G : L(G, t) < π_t}``.

- listed networks: by enumeration (a matrix product);
- a pair family's members of size ``m``: by enumeration where ``C(n, m)`` is small, else a binary
  program over task variables ``g_u`` (``u ∈ G``) and ``s_t`` (``t`` served), with the products
  ``z_{u,t} = s_t·g_u`` linearised: ``z_{u,t} ≤ g_u`` and ``Σ_{u≠t} z_{u,t} = (m − 1)·s_t``
  (the constraint ``Σ g = m`` multiplied by ``s_t``), exact for binary ``g, s`` and much tighter
  than the plain McCormick inequalities. Excluded subsets (listed overrides) are cut off lazily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations

import numpy as np

from mtlgroup.selection.affinity import group_scores
from mtlgroup.selection.implicit import PairFamily

ENUMERATE_UP_TO = 100_000
"""Sizes with at most this many subsets are priced by enumeration (vectorised)."""


@dataclass(frozen=True)
class Duals:
    """Cover duals ``pi`` per task, budget dual ``mu ≥ 0``; ``value_scale`` 0 prices cost
    alone (the phase that finds a cover)."""

    pi: np.ndarray
    mu: float
    value_scale: float = 1.0


@dataclass(frozen=True)
class Priced:
    """A column: ``group`` (task positions), ``served`` (bool per task), reduced cost."""

    group: tuple[int, ...]
    served: np.ndarray
    reduced_cost: float


def price_rows(
    losses: np.ndarray, costs: np.ndarray, duals: Duals
) -> tuple[np.ndarray, np.ndarray]:
    """Least reduced cost of each row of ``losses`` (``[N, n]``, ``inf`` where not carried)
    and the served sets (``[N, n]`` bool)."""
    carried = np.isfinite(losses)
    reduced = np.where(carried, duals.value_scale * np.where(carried, losses, 0.0) - duals.pi,
                       np.inf)
    served = reduced < 0
    return duals.mu * costs + np.where(served, reduced, 0.0).sum(axis=1), served


@dataclass(eq=False)
class FamilyPricer:
    """Prices the members of one family (min form: ``sign`` −1 turns scores into losses)."""

    family: PairFamily
    sign: float
    excluded: set[int]
    """Bit masks of subsets the family must not offer (overridden or named like a listed one)."""
    _cuts: dict[int, list[int]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.family.matrix)

    @cached_property
    def heads(self) -> np.ndarray:
        return self.family.head_costs()

    def sizes(self) -> range:
        return range(self.family.min_size, self.n + 1)

    def enumerable(self, size: int) -> bool:
        return math.comb(self.n, size) <= ENUMERATE_UP_TO

    def _groups(self, size: int) -> np.ndarray:
        cache: dict[int, np.ndarray] = self.__dict__.setdefault("_group_cache", {})
        if size not in cache:
            cache[size] = np.array(list(combinations(range(self.n), size)), dtype=np.int64)
        return cache[size]

    def _masks(self, size: int) -> np.ndarray:
        cache: dict[int, np.ndarray] = self.__dict__.setdefault("_mask_cache", {})
        if size not in cache:
            cache[size] = (np.int64(1) << self._groups(size)).sum(axis=1)
        return cache[size]

    def forget_cuts(self, size: int, keep: set[int]) -> None:
        """Drop the cuts of ``size`` except those of ``keep`` (temporary exclusions)."""
        self._cuts[size] = [c for c in self._cuts.get(size, []) if c in keep]

    def enumerate(self, size: int, duals: Duals, below: float, most: int) -> list[Priced]:
        """Up to ``most`` members of ``size`` with reduced cost below ``below``, least first."""
        groups = self._groups(size)
        losses = np.full((len(groups), self.n), np.inf)
        scores = self.sign * group_scores(self.family.matrix, groups)
        np.put_along_axis(losses, groups, np.take_along_axis(scores, groups, axis=1), axis=1)
        costs = self.family.encoder + self.heads[groups].sum(axis=1)
        reduced, served = price_rows(losses, costs, duals)
        if self.excluded:
            reduced[np.isin(self._masks(size), list(self.excluded))] = np.inf
        candidates = np.flatnonzero(reduced < below)
        best = candidates[np.argsort(reduced[candidates], kind="stable")[:most]]
        return [Priced(tuple(int(j) for j in groups[i]), served[i], float(reduced[i]))
                for i in best]

    def solve(self, size: int, duals: Duals, time_limit: float | None) -> tuple[Priced | None,
                                                                                float]:
        """The member of ``size`` of least reduced cost (``None`` if none is allowed) and a
        proven lower bound on it, by the binary program of the module docstring."""
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_matrix

        n, m = self.n, size
        u_index, t_index = np.nonzero(~np.eye(n, dtype=bool))  # z variables, off the diagonal
        n_z = len(u_index)
        weights = duals.value_scale * self.sign * self.family.matrix[u_index, t_index] / (m - 1)
        objective = np.concatenate([duals.mu * self.heads, -duals.pi, weights])
        constant = duals.mu * self.family.encoder
        g = np.arange(n)
        s = n + np.arange(n)
        z = 2 * n + np.arange(n_z)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        low: list[float] = []
        high: list[float] = []

        def add(columns: np.ndarray, values: np.ndarray, lo: float, hi: float) -> None:
            rows.append(np.full(len(columns), len(low)))
            cols.append(columns)
            vals.append(values)
            low.append(lo)
            high.append(hi)

        add(g, np.ones(n), m, m)
        for t in range(n):
            add(np.array([s[t], g[t]]), np.array([1.0, -1.0]), -np.inf, 0.0)
            mine = z[t_index == t]
            add(np.append(mine, s[t]), np.append(np.ones(len(mine)), -(m - 1.0)), 0.0, 0.0)
        for k in range(n_z):
            add(np.array([z[k], g[u_index[k]]]), np.array([1.0, -1.0]), -np.inf, 0.0)
        for cut in self._cuts.get(m, []):
            members = np.array([j for j in range(n) if cut >> j & 1])
            add(g[members], np.ones(len(members)), -np.inf, m - 1.0)
        matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(len(low), 2 * n + n_z)).tocsr()
        integrality = np.concatenate([np.ones(2 * n), np.zeros(n_z)])
        options: dict[str, float] = {"mip_rel_gap": 0.0}
        if time_limit is not None:
            options["time_limit"] = max(time_limit, 0.01)
        while True:
            result = milp(objective, constraints=LinearConstraint(matrix, low, high),
                          integrality=integrality, bounds=Bounds(0.0, 1.0), options=options)
            bound = getattr(result, "mip_dual_bound", None)
            lower = constant + (float(bound) if bound is not None and np.isfinite(bound)
                                else (result.fun if result.x is not None else -np.inf))
            if result.x is None:
                if result.status == 2:  # every member of this size is excluded
                    return None, np.inf
                raise RuntimeError(f"pricing failed: {result.message}")
            chosen = tuple(int(j) for j in np.flatnonzero(result.x[g] > 0.5))
            mask = sum(1 << j for j in chosen)
            if mask not in self.excluded:
                served = np.zeros(n, dtype=bool)
                served[list(chosen)] = result.x[s][list(chosen)] > 0.5
                return Priced(chosen, served, float(constant + result.fun)), lower
            # an overridden subset: cut it off and solve again (cuts are kept for later rounds)
            self._cuts.setdefault(m, []).append(mask)
            members = np.array(chosen)
            extra = coo_matrix((np.ones(len(members)), (np.zeros(len(members), dtype=int),
                                                        g[members])), shape=(1, matrix.shape[1]))
            from scipy.sparse import vstack

            matrix = vstack([matrix, extra]).tocsr()
            low.append(-np.inf)
            high.append(m - 1.0)
