"""The :class:`Affinity` value object: an inter-task affinity matrix and how it was measured.

Convention (DESIGN.md, ALGORITHMS §2): ``matrix[i, j]`` is the effect of task ``i`` (the *source*)
onto task ``j`` (the *target*); **row = source, column = target**. Positive means "helps".

On disk an affinity is a CSV (header ``source,<task>,…``, one row per source task) plus a JSON
*sidecar* next to it (same name, ``.json``) holding the method, its settings, the number of
probes, the matrix's history over training and free-form extras. The CSV alone is a valid
input everywhere (e.g. a matrix typed in from a paper); ``--transpose`` reads a target-major file.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> a = Affinity(("a", "b"), np.array([[1.0, 0.2], [-0.1, 1.0]]), method="tag")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "affinity.csv"
    >>> _ = a.to_csv(path)
    >>> path.read_text().splitlines()[0]
    'source,a,b'
    >>> b = Affinity.from_csv(path)
    >>> float(b.get("b", "a")), b.method
    (-0.1, 'tag')
    >>> b.pair_scores()
    {('a', 'b'): 0.05}
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlgroup.textfiles import read_text

if TYPE_CHECKING:
    from mtlgroup.training.result import TrainResult

History = list[tuple[int, np.ndarray]]
"""``[(step, matrix), …]``: the matrix at points of a training run."""

_SELF_GUARD = 1e-12
"""Self-affinities at or below this are treated as non-positive when normalising."""


@dataclass(eq=False)
class Affinity:
    """An ``n × n`` affinity matrix over ``tasks`` (row = source, column = target).

    Attributes:
        tasks: task names, the order of rows and columns.
        matrix: ``float`` array ``[n, n]``; ``NaN`` marks an entry that was never measured.
        method: how it was measured (``tag``, ``cs``, ``proximal``, ``pairwise``, ``file`` …).
        settings: the method's hyper-parameters (JSON values).
        n_probes: number of measurements averaged (probes, group updates, or table pairs).
        history: ``[(step, matrix)]`` over training (see each estimator for what an entry is).
        extra: other measured information (JSON values), e.g. STGU's groups over time.
        result: the training run that produced it, if any (saved in the sidecar).
    """

    tasks: tuple[str, ...]
    matrix: np.ndarray
    method: str = "file"
    settings: dict[str, Any] = field(default_factory=dict)
    n_probes: int = 0
    history: History = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    result: TrainResult | None = None

    def __post_init__(self) -> None:
        self.tasks = tuple(self.tasks)
        self.matrix = np.array(self.matrix, dtype=float)
        n = len(self.tasks)
        if len(set(self.tasks)) != n:
            raise ValueError(f"affinity: task names repeat in {list(self.tasks)}")
        if self.matrix.shape != (n, n):
            raise ValueError(
                f"affinity: matrix of shape {self.matrix.shape} for {n} tasks; expected ({n}, {n})"
            )
        self.history = [(int(step), np.array(m, dtype=float)) for step, m in self.history]

    # ------------------------------------------------------------------ access

    def index(self, task: str) -> int:
        if task not in self.tasks:
            raise KeyError(f"task {task!r} is not in this affinity; tasks: {', '.join(self.tasks)}")
        return self.tasks.index(task)

    def get(self, source: str, target: str) -> float:
        """``A[source, target]``: the effect of a step on ``source`` onto ``target``."""
        return float(self.matrix[self.index(source), self.index(target)])

    def subset(self, tasks: Sequence[str]) -> Affinity:
        """The affinity restricted to ``tasks`` (in that order); history follows."""
        idx = [self.index(t) for t in tasks]
        pick = np.ix_(idx, idx)
        return replace(
            self, tasks=tuple(tasks), matrix=self.matrix[pick],
            history=[(s, m[pick]) for s, m in self.history],
        )

    # ------------------------------------------------------------- transforms

    def transposed(self) -> Affinity:
        """Swap the roles of source and target (to read or write target-major data)."""
        return replace(self, matrix=self.matrix.T.copy(),
                       history=[(s, m.T.copy()) for s, m in self.history])

    def symmetric(self) -> Affinity:
        """``(A + Aᵀ) / 2``: one score per unordered pair (the diagonal is kept)."""
        return replace(self, matrix=symmetrize(self.matrix),
                       history=[(s, symmetrize(m)) for s, m in self.history])

    def normalized(self) -> Affinity:
        """Each column ``t`` divided by the self-affinity ``A[t, t]`` (see
        :func:`normalize_by_self`), as proximal affinity's grouping does (ALGORITHMS §3)."""
        return replace(self, matrix=normalize_by_self(self.matrix),
                       history=[(s, normalize_by_self(m)) for s, m in self.history])

    def pair_scores(self) -> dict[tuple[str, str], float]:
        """``{(t, u): (A[t, u] + A[u, t]) / 2}`` for every pair ``t`` before ``u`` in task order:
        the numbers to rank pairs by (e.g. Spearman correlation between methods)."""
        sym = symmetrize(self.matrix)
        n = len(self.tasks)
        return {
            (self.tasks[i], self.tasks[j]): float(sym[i, j])
            for i in range(n) for j in range(i + 1, n)
        }

    # -------------------------------------------------------------------- I/O

    def to_csv(self, path: str | Path) -> Path:
        """Write the CSV (row = source) and its JSON sidecar ``path.with_suffix('.json')``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["source", *self.tasks])
            for task, row in zip(self.tasks, self.matrix, strict=True):
                writer.writerow([task, *(_format(v) for v in row)])
        sidecar_path(path).write_text(json.dumps(self.sidecar(), indent=2, sort_keys=True) + "\n")
        return path

    def sidecar(self) -> dict[str, Any]:
        """The JSON sidecar's content (NaN written as ``null``)."""
        return {
            "tasks": list(self.tasks),
            "method": self.method,
            "settings": _json_safe(self.settings),
            "n_probes": int(self.n_probes),
            "history": [{"step": s, "matrix": _json_safe(m.tolist())} for s, m in self.history],
            "extra": _json_safe(self.extra),
            "training": _json_safe(self.result.to_dict()) if self.result is not None else None,
        }

    @classmethod
    def from_csv(cls, path: str | Path, transpose: bool = False) -> Affinity:
        """Read an affinity CSV and, if present, its sidecar.

        ``transpose=True`` reads a *target-major* file (row = target) and returns the usual
        source-major object. Rows may come in any order; they must name the header's tasks.
        """
        path = Path(path)
        tasks, matrix = _read_matrix(path)
        affinity = cls(tasks, matrix)
        side = sidecar_path(path)
        if side.is_file():
            affinity = _with_sidecar(affinity, side)
        return affinity.transposed() if transpose else affinity


def sidecar_path(path: str | Path) -> Path:
    """Where the JSON sidecar of an affinity CSV lives."""
    return Path(path).with_suffix(".json")


def symmetrize(matrix: np.ndarray) -> np.ndarray:
    """``(M + Mᵀ) / 2``."""
    return (matrix + matrix.T) / 2.0


def normalize_by_self(matrix: np.ndarray) -> np.ndarray:
    """Divide column ``t`` by ``A[t, t]`` so each target's self-affinity becomes 1.

    A non-positive (or NaN) self-affinity cannot scale a column meaningfully; such a column is
    divided by its largest absolute finite entry instead (left as is if that is 0), so its
    values stay within [-1, 1] like the others.
    """
    out = np.array(matrix, dtype=float)
    for t in range(out.shape[0]):
        scale = out[t, t]
        if not (np.isfinite(scale) and scale > _SELF_GUARD):
            finite = np.abs(out[:, t][np.isfinite(out[:, t])])
            scale = float(finite.max()) if finite.size and finite.max() > _SELF_GUARD else 1.0
        out[:, t] = out[:, t] / scale
    return out


def _format(value: float) -> str:
    return "nan" if math.isnan(value) else repr(float(value))


def _read_matrix(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    text = read_text(path, "affinity file")  # a BOM is accepted; a binary file is one sentence
    rows = [row for row in csv.reader(io.StringIO(text, newline=""))
            if any(cell.strip() for cell in row)]
    if not rows or rows[0][0].strip() != "source":
        raise ValueError(f"{path}: expected a header 'source,<task>,<task>…'")
    tasks = tuple(cell.strip() for cell in rows[0][1:])
    if not tasks or len(set(tasks)) != len(tasks) or not all(tasks):
        raise ValueError(f"{path}: the header must list distinct task names, got {list(tasks)}")
    values: dict[str, list[float]] = {}
    for line, row in enumerate(rows[1:], start=2):
        name = row[0].strip()
        if name not in tasks:
            raise ValueError(f"{path} line {line}: source {name!r} is not a header task "
                             f"({', '.join(tasks)})")
        if name in values:
            raise ValueError(f"{path} line {line}: source {name!r} appears twice")
        if len(row) != len(tasks) + 1:
            raise ValueError(f"{path} line {line}: {len(row) - 1} values, expected {len(tasks)}")
        try:
            values[name] = [float(cell) for cell in row[1:]]
        except ValueError as error:
            raise ValueError(f"{path} line {line}: not a number ({error})") from None
    missing = [t for t in tasks if t not in values]
    if missing:
        raise ValueError(f"{path}: no row for source task(s) {', '.join(missing)}")
    return tasks, np.array([values[t] for t in tasks], dtype=float)


def _with_sidecar(affinity: Affinity, side: Path) -> Affinity:
    try:
        meta = json.loads(side.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{side}: not valid JSON ({error})") from None
    if meta.get("tasks") not in (None, list(affinity.tasks)):
        raise ValueError(f"{side}: tasks {meta['tasks']} differ from the CSV's "
                         f"{list(affinity.tasks)}")
    history = [(int(h["step"]), _from_json_matrix(h["matrix"])) for h in meta.get("history", [])]
    result = None
    if meta.get("training"):
        from mtlgroup.training.result import TrainResult

        result = TrainResult.from_dict(meta["training"])
    return replace(
        affinity,
        method=str(meta.get("method", affinity.method)),
        settings=dict(meta.get("settings") or {}),
        n_probes=int(meta.get("n_probes", 0)),
        history=history,
        extra=dict(meta.get("extra") or {}),
        result=result,
    )


def _from_json_matrix(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def _json_safe(value: Any) -> Any:
    """Plain JSON values: NaN/inf become ``None``, numpy scalars and arrays become Python ones."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
