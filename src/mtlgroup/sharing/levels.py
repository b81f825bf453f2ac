"""Sparsity levels of a sharing run: pairs of weight density and activation sparsity.

A level is what one shared model is trained at: each sub-task keeps ``weight_density`` of
every linear weight's delta entries and drops ``activation_sparsity`` of its activation
differences from the base. A run takes one value or a list of each: a list and a single value
pair the value with every entry of the list, two lists of one length pair entry by entry.

Example:
    >>> [level.label for level in sharing_levels([0.02, 0.05], 0.9)]
    ['d=0.02 s=0.9', 'd=0.05 s=0.9']
    >>> sharing_levels("0.05,0.2", "0.8,0.95")[1]
    Level(weight_density=0.2, activation_sparsity=0.95)
    >>> sharing_levels(1.5, 0.9)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: weight density 1.5 is not in (0, 1]: it is the fraction ...
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Values = float | str | Sequence[float]
"""One number, a comma-separated list (``"0.02,0.05"``) or a sequence of numbers."""


@dataclass(frozen=True)
class Level:
    """One shared model's sparsity: the weight density and the activation sparsity."""

    weight_density: float
    activation_sparsity: float

    @property
    def label(self) -> str:
        """``d=0.05 s=0.9`` (the method column of the table)."""
        return f"d={self.weight_density:g} s={self.activation_sparsity:g}"

    @property
    def slug(self) -> str:
        """A file-name form: ``d0.05-s0.9``."""
        return f"d{self.weight_density:g}-s{self.activation_sparsity:g}"


def _numbers(values: Values, what: str) -> list[float]:
    parts: list[Any]
    if isinstance(values, str):
        parts = [part.strip() for part in values.split(",") if part.strip()]
    elif isinstance(values, Sequence):
        parts = list(values)
    else:
        parts = [values]
    numbers = []
    for part in parts:
        try:
            number = float(part)
        except (TypeError, ValueError):
            raise ValueError(f"bad {what} {part!r}: expected a number such as 0.05 or a "
                             "comma-separated list") from None
        numbers.append(number)
    if not numbers:
        raise ValueError(f"no {what} given")
    return numbers


def sharing_levels(weight_density: Values, activation_sparsity: Values) -> list[Level]:
    """The levels of a run (see the module's docstring); a value out of range, or two lists
    of different lengths, is a ``ValueError`` that says what the value means."""
    densities = _numbers(weight_density, "weight density")
    sparsities = _numbers(activation_sparsity, "activation sparsity")
    for value in densities:
        if not (math.isfinite(value) and 0 < value <= 1):
            raise ValueError(f"weight density {value:g} is not in (0, 1]: it is the fraction of "
                             "each weight's delta entries a sub-task keeps, e.g. 0.05")
    for value in sparsities:
        if not (math.isfinite(value) and 0 <= value < 1):
            raise ValueError(f"activation sparsity {value:g} is not in [0, 1): it is the "
                             "fraction of activation differences dropped, e.g. 0.9")
    if len(densities) > 1 and len(sparsities) > 1 and len(densities) != len(sparsities):
        raise ValueError(f"{len(densities)} weight densities and {len(sparsities)} activation "
                         "sparsities: give one value of either, or as many of both (pairs)")
    count = max(len(densities), len(sparsities))
    levels = [Level(densities[i if len(densities) > 1 else 0],
                    sparsities[i if len(sparsities) > 1 else 0]) for i in range(count)]
    repeated = sorted({lv.label for lv in levels if levels.count(lv) > 1})
    if repeated:
        raise ValueError(f"level {repeated[0]} is given twice")
    return levels
