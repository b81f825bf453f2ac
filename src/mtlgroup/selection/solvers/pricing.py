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

    def forget_cuts(self, size: int, keep: set[int]) -> None:
        """Drop the cuts of ``size`` except those of ``keep`` (temporary exclusions)."""
        self._cuts[size] = [c for c in self._cuts.get(size, []) if c in keep]

    @cached_property
    def off_diagonal(self) -> np.ndarray:
        matrix = np.array(self.family.matrix)
        np.fill_diagonal(matrix, 0.0)
        return matrix

    def evaluate(self, groups: np.ndarray, duals: Duals) -> tuple[np.ndarray, np.ndarray]:
        """Reduced costs ``[C]`` and served members ``[C, m]`` of the members ``groups``
        (``[C, m]`` task positions, one size), computed on the members alone."""
        parts = [self._evaluate(chunk, duals)
                 for chunk in np.array_split(groups, max(1, len(groups) // 20_000))]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _evaluate(self, groups: np.ndarray, duals: Duals) -> tuple[np.ndarray, np.ndarray]:
        size = groups.shape[1]
        # sub[c, a, b] = M[g_a, g_b]: column b summed is what member b gets from the others
        sub = self.off_diagonal[groups[:, :, None], groups[:, None, :]]
        values = self.sign * sub.sum(axis=1) / (size - 1)
        gain = duals.value_scale * values - duals.pi[groups]
        served = gain < 0
        costs = self.family.encoder + self.heads[groups].sum(axis=1)
        reduced = duals.mu * costs + np.where(served, gain, 0.0).sum(axis=1)
        if self.excluded:
            masks = (np.int64(1) << groups).sum(axis=1)
            reduced[np.isin(masks, list(self.excluded))] = np.inf
        return reduced, served

    def enumerate(self, size: int, duals: Duals, below: float, most: int) -> list[Priced]:
        """Up to ``most`` members of ``size`` with reduced cost below ``below``, least first."""
        return self._best(self._groups(size), duals, below, most)

    def _best(self, groups: np.ndarray, duals: Duals, below: float, most: int) -> list[Priced]:
        reduced, served = self.evaluate(groups, duals)
        candidates = np.flatnonzero(reduced < below)
        best = candidates[np.argsort(reduced[candidates], kind="stable")[:most]]
        found = []
        for i in best:
            mask = np.zeros(self.n, dtype=bool)
            mask[groups[i]] = served[i]
            found.append(Priced(tuple(int(j) for j in groups[i]), mask, float(reduced[i])))
        return found

    def improve(self, starts: list[tuple[int, ...]], duals: Duals, below: float,
                rounds: int = 30) -> list[Priced]:
        """Local search (a heuristic, no proof): from each start, swap one member for one
        non-member while that lowers the reduced cost; the ends below ``below``."""
        ends: dict[tuple[int, ...], Priced] = {}
        for start in starts:
            current = np.array(start)
            value = float(self.evaluate(current[None, :], duals)[0][0])
            for _ in range(rounds):
                outside = np.setdiff1d(np.arange(self.n), current)
                if not len(outside):
                    break
                swaps = np.repeat(current[None, :], len(current) * len(outside), axis=0)
                swaps[np.arange(len(swaps)), np.repeat(np.arange(len(current)), len(outside))] \
                    = np.tile(outside, len(current))
                swaps.sort(axis=1)
                reduced, _ = self.evaluate(swaps, duals)
                j = int(np.argmin(reduced))
                if not reduced[j] < value - 1e-12:
                    break
                current, value = swaps[j], float(reduced[j])
            if value < below:
                found = self._best(current[None, :], duals, below, 1)
                ends.update((p.group, p) for p in found)
        return sorted(ends.values(), key=lambda p: p.reduced_cost)

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
            add(np.array([z[k], s[t_index[k]]]), np.array([1.0, -1.0]), -np.inf, 0.0)
            if weights[k] > 0:  # z would be held low: z >= s + g - 1 (McCormick)
                add(np.array([z[k], s[t_index[k]], g[u_index[k]]]), np.array([1.0, -1.0, -1.0]),
                    -1.0, np.inf)
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
                if result.status == 1:  # out of time before any member was found
                    return None, -np.inf
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
