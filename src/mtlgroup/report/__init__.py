"""Reports: the budget trade-off plot and the HTML report of a pipeline run."""

from mtlgroup.report.html import write_html_report
from mtlgroup.report.plots import plot_tradeoff

__all__ = ["plot_tradeoff", "write_html_report"]
