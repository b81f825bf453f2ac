"""What each registered strategy is (``mtlgroup strategies``), and strategies named with options.

A strategy with options is written ``NAME:KEY=VALUE,KEY=VALUE`` (``cagrad:c=0.4``,
``gradnorm:alpha=0,layer=all``, ``upgrad:pref_vector=[1,2,1]``); each value is read as YAML
(numbers, ``true``/``false``, ``null``, lists in brackets, else a string). The command line
(``--strategy``), studies and YAML configs parse it with :func:`parse_strategy_spec`.

Example:
    >>> parse_strategy_spec("cagrad:c=0.4")
    ('cagrad', {'c': 0.4})
    >>> parse_strategy_spec("upgrad:pref_vector=[1, 2],x=a")
    ('upgrad', {'pref_vector': [1, 2], 'x': 'a'})
    >>> info = describe_strategy("joint")
    >>> info.kind, info.source, info.available
    ('joint', 'mtlgroup', True)
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any

from mtlgroup.training.strategies import STRATEGIES, UpdateStrategy, create_strategy
from mtlgroup.training.torchjd_support import torchjd_available

KINDS = ("joint", "group-sequential", "aggregator", "scalarizer", "loss-weighting")
"""How a strategy turns a batch into an update: the summed loss; one step per task group;
a torchjd aggregator on the Jacobian; a torchjd scalarizer on the losses; learned loss weights."""

_KNOWN_KINDS = {"joint": "joint", "stgu": "group-sequential"}  # the strategies without `kind`


@dataclass(frozen=True)
class StrategyInfo:
    """One line of ``mtlgroup strategies``."""

    name: str
    kind: str
    source: str
    available: bool
    description: str
    options: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_strategy(name: str) -> StrategyInfo:
    """Kind, source (``mtlgroup`` or ``torchjd``), availability here, one-line description and
    options with their defaults of the strategy called ``name``."""
    cls = STRATEGIES.get(name)
    source = getattr(cls, "source", "mtlgroup")
    return StrategyInfo(
        name=name,
        kind=getattr(cls, "kind", None) or _KNOWN_KINDS.get(name, "custom"),
        source=source,
        available=source != "torchjd" or torchjd_available(),
        description=_first_sentence(cls),
        options=_option_defaults(cls),
    )


def describe_strategies() -> list[StrategyInfo]:
    """:func:`describe_strategy` of every registered strategy, by kind then name."""
    infos = [describe_strategy(name) for name in STRATEGIES.names()]
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(infos, key=lambda info: (order.get(info.kind, len(KINDS)), info.name))


def parse_strategy_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``"NAME:KEY=VALUE,…"`` → ``(NAME, {KEY: VALUE})``; values are read as YAML. Commas inside
    brackets belong to the value (a list). A malformed spec raises ``ValueError``."""
    import yaml

    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not name:
        raise ValueError(f"bad strategy {text!r}: expected NAME or NAME:KEY=VALUE,...")
    options: dict[str, Any] = {}
    for item in _split_top_level(rest) if rest.strip() else []:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"bad strategy option {item.strip()!r} in {text!r}: expected "
                             "KEY=VALUE")
        try:
            options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            options[key.strip()] = value.strip()
    return name, options


def strategy_from_spec(text: str) -> UpdateStrategy:
    """The strategy named by ``"NAME:KEY=VALUE,…"`` (see :func:`parse_strategy_spec`)."""
    name, options = parse_strategy_spec(text)
    return create_strategy(name, **options)


def _split_top_level(text: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item for item in items if item.strip()]


def _first_sentence(cls: type) -> str:
    doc = inspect.getdoc(cls) or cls.__name__
    paragraph = doc.split("\n\n")[0]
    return " ".join(paragraph.split())


def _option_defaults(cls: type[UpdateStrategy]) -> dict[str, Any]:
    declared = getattr(cls, "option_defaults", None)
    if declared is not None:
        return dict(declared())
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name: None if p.default is inspect.Parameter.empty else p.default
            for p in parameters if p.name != "self"
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}
