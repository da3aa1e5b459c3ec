"""Simulation reports: the data model and its CSV (SCALE-Sim layout), JSON and Markdown writers."""

from hwmodel.reports.model import AccessWindows, LayerReport, NetworkReport, Traffic, Window

__all__ = ["AccessWindows", "LayerReport", "NetworkReport", "Traffic", "Window"]
