"""The trained networks of a study: one ``state_dict`` file per finished job, next to the store.

A study store ``runs/x/study.sqlite`` keeps its weights in ``runs/x/study.weights/<key>.pt``
(the job's key, so a network is found from its spec alone). Files are written atomically: the
bytes go to a temporary file named after the writing process, then it is renamed over the
final name, so a killed writer leaves either no file or a whole one (and a stray
temporary file that :meth:`WeightStore.clean_partial` removes once its writer is dead). Files are
read with ``torch.load(..., weights_only=True)``: a weight file is data, never code.

Example:
    >>> import tempfile, pathlib
    >>> from torch import nn
    >>> weights = WeightStore(pathlib.Path(tempfile.mkdtemp()) / "study.weights")
    >>> record = weights.write("k1", state_dict_bytes(nn.Linear(2, 1)))
    >>> sorted(weights.load("k1")), record["bytes"] == weights.path("k1").stat().st_size
    (['bias', 'weight'], True)
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch
    from torch import nn

KeepWeights = Literal["all", "full", "none"]
KEEP_WEIGHTS: tuple[KeepWeights, ...] = ("all", "full", "none")
"""What a store keeps: ``all`` (every network job), ``full`` (full-budget networks only: not
ESA's short runs, which no run ever exports), ``none``."""

SUFFIX = ".pt"
_PARTIAL = ".partial-"


def state_dict_bytes(module: nn.Module) -> bytes:
    """``module``'s ``state_dict`` (on the CPU) serialised by ``torch.save``."""
    import torch

    state = {name: value.detach().cpu() for name, value in module.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a crash) never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{_PARTIAL}{os.getpid()}")
    # No fsync, like the store's `synchronous = NORMAL`: the rename makes a killed process leave
    # a whole file or none; only a power cut could lose one (fsync costs ~0.5 s a file here).
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A ``state_dict`` written by :func:`state_dict_bytes`, read with ``weights_only=True``;
    a file that is not one is a ``ValueError`` naming it."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch raises several types for a corrupt or foreign file
        raise ValueError(f"{path}: not a readable weight file ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''})") from error
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state_dict")
    return state


class WeightStore:
    """The weight files of one study store (a directory of ``<key>.pt`` files)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def write(self, key: str, data: bytes) -> dict[str, Any]:
        """Store one job's weights; returns ``{"file", "bytes", "sha256", "write_seconds"}``
        (what the job's outcome records)."""
        started = time.perf_counter()
        path = self.path(key)
        write_atomic(path, data)
        return {"file": path.name, "bytes": len(data), "sha256": sha256_bytes(data),
                "write_seconds": time.perf_counter() - started}

    def load(self, key: str) -> dict[str, torch.Tensor]:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no weights for job {key[:12]} (the store keeps "
                                    "weights of jobs finished with keep_weights all or full; "
                                    "pruned or never kept?)")
        return read_state_dict(path)

    def sizes(self, keys: Iterable[str] | None = None) -> dict[str, int]:
        """``{key: bytes}`` of the stored files (of ``keys``, or all)."""
        if keys is not None:
            return {k: self.path(k).stat().st_size for k in keys if self.has(k)}
        if not self.directory.is_dir():
            return {}
        return {p.name[: -len(SUFFIX)]: p.stat().st_size
                for p in sorted(self.directory.glob(f"*{SUFFIX}"))}

    def remove(self, keys: Iterable[str]) -> tuple[int, int]:
        """Delete the files of ``keys``; returns (files removed, bytes freed)."""
        removed = freed = 0
        for key in keys:
            path = self.path(key)
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            removed, freed = removed + 1, freed + size
        return removed, freed

    def clean_partial(self) -> int:
        """Remove temporary files whose writing process is gone; returns how many."""
        if not self.directory.is_dir():
            return 0
        count = 0
        for tmp in self.directory.glob(f"*{_PARTIAL}*"):
            pid = tmp.name.rpartition(_PARTIAL)[2]
            if pid.isdigit() and not process_alive(int(pid)):
                tmp.unlink(missing_ok=True)
                count += 1
        return count


def process_alive(pid: int) -> bool:
    """Whether a process with this PID runs on this machine (this process counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def weights_directory(store_path: str | Path) -> Path:
    """Where the store ``store_path`` keeps its weights: ``<stem>.weights`` beside it."""
    store_path = Path(store_path)
    return store_path.with_name(f"{store_path.stem}.weights")
