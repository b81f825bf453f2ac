"""Reports: the report a user acts on (``report.html``) and its parts: the recommendation,
the trade-off plot, the drawing of the chosen networks, predicted against real losses, what
the run cost and what ran it."""

from mtlgroup.report.costs import TrainingCosts, duration
from mtlgroup.report.drawing import network_grid, plot_networks
from mtlgroup.report.html import write_html_report
from mtlgroup.report.plots import plot_predictions, plot_tradeoff
from mtlgroup.report.predicted import Prediction, predictions, relative_errors
from mtlgroup.report.provenance import settings_yaml, versions
from mtlgroup.report.recommend import (
    LABELS,
    Comparison,
    Option,
    Recommendation,
    change_percent,
    format_percent,
    knee,
    recommend,
)

__all__ = [
    "LABELS",
    "Comparison",
    "Option",
    "Prediction",
    "Recommendation",
    "TrainingCosts",
    "change_percent",
    "duration",
    "format_percent",
    "knee",
    "network_grid",
    "plot_networks",
    "plot_predictions",
    "plot_tradeoff",
    "predictions",
    "recommend",
    "relative_errors",
    "settings_yaml",
    "versions",
    "write_html_report",
]
