"""One registry type for every "name → thing" table of the package.

Datasets, network factories, update strategies, affinity estimators, selection solvers,
executors and study plans are each a :class:`Registry`: configs and the CLI name things by
string, Python users may pass the objects themselves, and an unknown name is always the same
error, listing the valid names.

Example:
    >>> shapes = Registry("shape")
    >>> @shapes.register("square")
    ... def square(side: float) -> float:
    ...     return side * side
    >>> shapes.get("square")(3.0), shapes.names()
    (9.0, ['square'])
    >>> shapes.get("circle")
    Traceback (most recent call last):
    ...
    mtlgroup.registry.UnknownNameError: unknown shape 'circle'; available: square
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name that is not registered; the message lists the valid ones.

    It is a ``KeyError`` (a failed lookup) and a ``ValueError`` (bad input), so callers that
    catch either keep working.
    """

    def __init__(self, kind: str, name: str, valid: list[str]):
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.name!r}; available: {', '.join(self.valid) or '(none)'}"


class Registry(Generic[T]):
    """Names → objects of one kind.

    Args:
        kind: what the entries are, used in error messages (``"dataset"``, ``"solver"``).
        builtins: imported on first use to register the built-in entries late, where importing
            them eagerly would create an import cycle (e.g. ``"mtlgroup.affinity.stgu"``).
    """

    def __init__(self, kind: str, builtins: tuple[str, ...] = ()):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._builtins = builtins

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, entry: T, *, replace: bool = ...) -> T: ...

    def register(self, name: str, entry: Any = None, *, replace: bool = False) -> Any:
        """Register ``entry`` under ``name``; without ``entry``, a decorator that does.

        Registering another object under a taken name is an error unless ``replace`` is set
        (registering the same object again is harmless: modules may be re-imported).
        """
        if entry is None:
            return lambda obj: self.register(name, obj, replace=replace)
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        current = self._entries.get(name)
        if current is not None and current is not entry and not replace:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plugins that registered something temporary)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry called ``name``; :class:`UnknownNameError` lists the valid names."""
        self._load_builtins()
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self.names())
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, in registration order (built-ins first)."""
        self._load_builtins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def _load_builtins(self) -> None:
        import importlib

        while self._builtins:
            # Each module leaves the list before it is imported (a module that registers into
            # this registry looks it up again), and one that fails leaves the rest listed.
            module, self._builtins = self._builtins[0], self._builtins[1:]
            importlib.import_module(module)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
