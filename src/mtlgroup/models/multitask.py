"""One shared encoder, one head per task.

Any ``nn.Module`` that maps an input batch to one tensor can be the encoder, and any module that
maps that tensor to a task's prediction can be a head: :class:`MultiTaskNet` only wires them.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = MultiTaskNet(nn.Flatten(), {"a": nn.Linear(12, 2), "b": nn.Linear(12, 1)})
    >>> {k: tuple(v.shape) for k, v in net(torch.zeros(5, 3, 2, 2)).items()}
    {'a': (5, 2), 'b': (5, 1)}
    >>> list(net(torch.zeros(5, 3, 2, 2), tasks=["b"]))
    ['b']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from torch import Tensor, nn

from mtlgroup.tasks import UnknownTaskError


class MultiTaskNet(nn.Module):
    """A shared ``encoder`` and one head per task; ``forward`` returns ``{task: prediction}``.

    Args:
        encoder: maps inputs ``[B, ...]`` to features (one tensor).
        heads: task name → module mapping the features to that task's prediction. Names must be
            valid ``nn.Module`` attribute names (no ``.``).

    The split into :meth:`encode` and :meth:`decode` lets callers (e.g. a lookahead affinity
    probe) reuse one encoder pass for several heads. :meth:`shared_parameters` and
    :meth:`task_parameters` partition the parameters, provided no head reuses an encoder
    parameter.
    """

    def __init__(self, encoder: nn.Module, heads: nn.ModuleDict | Mapping[str, nn.Module]):
        super().__init__()
        if not heads:
            raise ValueError("a MultiTaskNet needs at least one head")
        for name in heads:
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(
                    f"head name {name!r} must be a non-empty string without '.' "
                    "(it becomes a module attribute)"
                )
        self.encoder = encoder
        self.heads = heads if isinstance(heads, nn.ModuleDict) else nn.ModuleDict(dict(heads))

    @property
    def tasks(self) -> tuple[str, ...]:
        """Names of the tasks this network predicts, in head order."""
        return tuple(self.heads.keys())

    def encode(self, x: Tensor) -> Tensor:
        """The shared features of ``x``."""
        return self.encoder(x)

    def decode(self, features: Tensor, tasks: Iterable[str] | None = None) -> dict[str, Tensor]:
        """Predictions of ``tasks`` (default: all) from features computed by :meth:`encode`."""
        return {name: self.heads[name](features) for name in self.select(tasks)}

    def forward(self, x: Tensor, tasks: Iterable[str] | None = None) -> dict[str, Tensor]:
        """Predictions ``{task: tensor}`` for ``tasks`` (default: every head) on inputs ``x``."""
        names = self.select(tasks)
        return self.decode(self.encode(x), names)

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the encoder (shared by all tasks)."""
        return self.encoder.parameters()

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        """Parameters of ``task``'s head."""
        return self.heads[self.select([task])[0]].parameters()

    def select(self, tasks: Iterable[str] | None = None) -> list[str]:
        """The task names in ``tasks`` (default: all heads), checked against the heads.

        Raises :class:`~mtlgroup.tasks.UnknownTaskError` for a name without a head.
        """
        return select_tasks(tasks, self.tasks)


def select_tasks(tasks: Iterable[str] | None, known: Sequence[str]) -> list[str]:
    """The task names in ``tasks`` (default: all of ``known``), in the given order, each
    checked against ``known``.

    Raises :class:`~mtlgroup.tasks.UnknownTaskError` for a name not in ``known`` and
    ``TypeError`` for a bare string.

    >>> select_tasks(["b", "a"], ("a", "b", "c")), select_tasks(None, ("a", "b"))
    (['b', 'a'], ['a', 'b'])
    """
    if tasks is None:
        return list(known)
    if isinstance(tasks, str):
        # A bare string would iterate over characters; that is never what a caller means.
        raise TypeError(f"tasks must be a list of task names, not the string {tasks!r}")
    names = list(tasks)
    for name in names:
        if name not in known:
            raise UnknownTaskError(name, known)
    return names
