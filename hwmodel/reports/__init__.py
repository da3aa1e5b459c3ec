"""Simulation reports: the data model and its CSV (SCALE-Sim layout), JSON and Markdown writers.

The data model (``model``) knows nothing of its writers; write a report with
``write_csv_reports(report, outdir)``, ``write_json_report(report, outdir)`` and
``write_markdown_report(report, outdir)``.
"""

from hwmodel.reports.csv import write_csv_reports, write_json_report
from hwmodel.reports.markdown import write_markdown_report
from hwmodel.reports.model import AccessWindows, LayerReport, NetworkReport, Traffic, Window

__all__ = [
    "AccessWindows",
    "LayerReport",
    "NetworkReport",
    "Traffic",
    "Window",
    "write_csv_reports",
    "write_json_report",
    "write_markdown_report",
]
