"""The HTML report of a pipeline run (a single file next to its PNG figures)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtlgroup.report.recommend import format_percent


def write_html_report(path: str | Path, context: Mapping[str, Any],
                      template: str = "report.html") -> Path:
    """Render ``templates/<template>`` with ``context`` (``report.html``: the pipeline's, see
    :mod:`mtlgroup.pipeline.report` for the keys it fills; ``sharing.html``: a sharing run's,
    :mod:`mtlgroup.sharing.report`) and write it atomically to ``path``."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("mtlgroup.report", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["fmt"] = lambda value, digits=4: "–" if value is None else f"{value:.{digits}f}"
    env.filters["pct"] = format_percent
    env.filters["tone"] = tone
    html = env.get_template(template).render(**context)
    path = Path(path)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path


def tone(change: float | None) -> str:
    """The CSS class of a % change of a loss: ``better`` (negative), ``worse`` (positive).

    >>> tone(-2.0), tone(3.0), tone(None)
    ('better', 'worse', '')
    """
    if change is None or change == 0:
        return ""
    return "better" if change < 0 else "worse"
