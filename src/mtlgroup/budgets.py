"""Inference budgets as users write them: the one parser of ``select --budget/--budgets`` and
of the config's ``pipeline.budgets`` (a list, or the same text as the flag).

A budget is a positive finite number of standard networks: ``0``, ``inf`` and ``nan`` are
errors, and so is an empty item (``1,,2``: a stray comma is a typo, not a budget left out).
No third-party import: ``mtlgroup select`` reads its flags before it loads anything heavy.

Example:
    >>> parse_budgets("1:2:0.25"), parse_budgets("3, 1.5")
    ([1.0, 1.25, 1.5, 1.75, 2.0], [3.0, 1.5])
    >>> parse_budgets("1,,2")
    Traceback (most recent call last):
    ...
    ValueError: --budgets '1,,2': item 2 is empty; expected budgets such as 1,1.5,2
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation


def check_budget(value: float, source: str = "--budget") -> float:
    """``value`` as a float if it is a positive finite number, else a ``ValueError`` that
    names ``source`` (the flag; empty where the caller names the key)."""
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        prefix = f"{source}: " if source else ""
        raise ValueError(f"{prefix}budget {number:g} must be a positive finite number (of "
                         "standard networks), e.g. 2.5")
    return number


def check_budgets(values: Iterable[float], source: str = "--budgets") -> list[float]:
    """Each of ``values`` checked with :func:`check_budget` (in the given order)."""
    return [check_budget(v, source) for v in values]


def parse_budgets(text: str, source: str = "--budgets") -> list[float]:
    """``"1:5:0.5"`` → ``[1.0, 1.5, …, 5.0]`` (stop included); ``"1,2.5"`` → ``[1.0, 2.5]``.

    Decimal arithmetic, so ``0.1`` steps land exactly on the stop. Every problem is a
    ``ValueError`` naming ``source`` and ``text``.
    """
    where = f"{source} {text!r}".strip()
    try:
        if ":" in text:
            parts = [Decimal(p) for p in text.split(":")]
            if len(parts) != 3:
                raise ValueError(f"{where}: expected START:STOP:STEP")
            start, stop, step = parts
            if not all(p.is_finite() for p in parts) or step <= 0 or stop < start:
                raise ValueError(f"{where}: need finite numbers, STEP > 0 and STOP >= START")
            count = int((stop - start) / step) + 1
            values = [float(start + i * step) for i in range(count)]
        else:
            items = text.split(",")
            empty = [i for i, item in enumerate(items, start=1) if not item.strip()]
            if empty:
                raise ValueError(f"{where}: item {empty[0]} is empty; expected budgets such "
                                 "as 1,1.5,2")
            values = [float(Decimal(item)) for item in items]
    except InvalidOperation:
        raise ValueError(f"{where}: not numbers") from None
    return check_budgets(values, where)
