"""SCALE-Sim v3 layout CSV reports (COMPUTE, BANDWIDTH, DETAILED_ACCESS) and the JSON report.

Column meanings follow SCALE-Sim v3 (``tools/scalesim/NOTES.md``): "Total Cycles" is compute + stall
cycles (folds * L - 1 + stalls), "Total Cycles (incl. prefetch)" runs from the first DRAM fetch to
the last ofmap drain, "Overall Util %" is dense MACs over (PEs x Total Cycles), "Compute Util %" the
mean per-fold utilization. SRAM bandwidths are words per total cycle; DRAM bandwidths are words over
each stream's access window (stop - start + 1). Compute cycles, stall cycles (USER mode), mapping
efficiency, compute utilization and SRAM read/write counts follow SCALE-Sim (tests/hwmodel golden
tests); the start/stop cycles and DRAM word counts come from hwmodel's memory model and only
approximate SCALE-Sim's trace bookkeeping.
All files of one call appear together or not at all (``hwmodel.atomic.atomic_dir``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hwmodel.atomic import atomic_dir, atomic_write_text

if TYPE_CHECKING:
    from hwmodel.reports.model import NetworkReport

__all__ = [
    "COMPUTE_HEADER",
    "BANDWIDTH_HEADER",
    "DETAILED_HEADER",
    "compute_rows",
    "bandwidth_rows",
    "detailed_rows",
    "write_csv_reports",
    "write_json_report",
    "CSV_FILES",
]

COMPUTE_HEADER = (
    "LayerID",
    "Total Cycles (incl. prefetch)",
    "Total Cycles",
    "Stall Cycles",
    "Overall Util %",
    "Mapping Efficiency %",
    "Compute Util %",
)
BANDWIDTH_HEADER = (
    "LayerID",
    "Avg IFMAP SRAM BW",
    "Avg FILTER SRAM BW",
    "Avg OFMAP SRAM BW",
    "Avg IFMAP DRAM BW",
    "Avg FILTER DRAM BW",
    "Avg OFMAP DRAM BW",
)
DETAILED_HEADER = (
    "LayerID",
    "SRAM IFMAP Start Cycle",
    "SRAM IFMAP Stop Cycle",
    "SRAM IFMAP Reads",
    "SRAM Filter Start Cycle",
    "SRAM Filter Stop Cycle",
    "SRAM Filter Reads",
    "SRAM OFMAP Start Cycle",
    "SRAM OFMAP Stop Cycle",
    "SRAM OFMAP Writes",
    "DRAM IFMAP Start Cycle",
    "DRAM IFMAP Stop Cycle",
    "DRAM IFMAP Reads",
    "DRAM Filter Start Cycle",
    "DRAM Filter Stop Cycle",
    "DRAM Filter Reads",
    "DRAM OFMAP Start Cycle",
    "DRAM OFMAP Stop Cycle",
    "DRAM OFMAP Writes",
)
# one CSV line: ids and counts are ints, rates and percentages floats (written with str())
Row = tuple[int | float, ...]
CSV_FILES = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")


def compute_rows(report: NetworkReport) -> list[Row]:
    """One COMPUTE_REPORT row per layer."""
    peak = report.config.peak_macs_per_cycle
    rows: list[Row] = []
    for i, r in enumerate(report.layers):
        if r.windows is not None:
            w = r.windows
            with_prefetch = w.dram_ofmap.stop - min(w.dram_ifmap.start, w.dram_filter.start)
        else:
            with_prefetch = r.total_cycles_with_prefetch
        util = 100.0 * (r.dense_macs or r.macs) / (peak * r.total_cycles) if r.total_cycles else 0.0
        # the DPU has no folds: its per-layer compute utilization is the same quantity over the whole layer
        fold = r.fold_utilization if report.config.engine == "systolic" else r.compute_utilization
        rows.append(
            (
                i,
                with_prefetch,
                r.total_cycles,
                r.stall_cycles,
                util,
                100.0 * r.mapping_efficiency,
                100.0 * fold,
            )
        )
    return rows


def bandwidth_rows(report: NetworkReport) -> list[Row]:
    """One BANDWIDTH_REPORT row per layer."""
    rows: list[Row] = []
    for i, r in enumerate(report.layers):
        w = r.access_windows
        cyc = max(1, r.total_cycles)
        rows.append(
            (
                i,
                r.sram_reads.ifmap / cyc,
                r.sram_reads.filter / cyc,
                r.sram_writes.ofmap / cyc,
                r.dram_reads.ifmap / max(1, w.dram_ifmap.length + 1),
                r.dram_reads.filter / max(1, w.dram_filter.length + 1),
                r.dram_writes.ofmap / max(1, w.dram_ofmap.length + 1),
            )
        )
    return rows


def detailed_rows(report: NetworkReport) -> list[Row]:
    """One DETAILED_ACCESS_REPORT row per layer."""
    rows: list[Row] = []
    for i, r in enumerate(report.layers):
        w = r.access_windows
        rows.append(
            (
                i,
                w.sram_ifmap.start,
                w.sram_ifmap.stop,
                r.sram_reads.ifmap,
                w.sram_filter.start,
                w.sram_filter.stop,
                r.sram_reads.filter,
                w.sram_ofmap.start,
                w.sram_ofmap.stop,
                r.sram_writes.ofmap,
                w.dram_ifmap.start,
                w.dram_ifmap.stop,
                r.dram_reads.ifmap,
                w.dram_filter.start,
                w.dram_filter.stop,
                r.dram_reads.filter,
                w.dram_ofmap.start,
                w.dram_ofmap.stop,
                r.dram_writes.ofmap,
            )
        )
    return rows


def _csv(header: tuple[str, ...], rows: list[Row]) -> str:
    # SCALE-Sim writes ", " separators and a trailing comma on every line
    lines = [", ".join(header) + ","]
    lines += [", ".join(str(v) for v in row) + "," for row in rows]
    return "\n".join(lines) + "\n"


def write_csv_reports(report: NetworkReport, outdir: str | os.PathLike[str]) -> list[Path]:
    """Write the three SCALE-Sim CSV reports into ``outdir`` (together, atomically).

    Args:
        report: the network report.
        outdir: destination folder (created if missing).

    Returns:
        The written paths.
    """
    texts = (
        _csv(COMPUTE_HEADER, compute_rows(report)),
        _csv(BANDWIDTH_HEADER, bandwidth_rows(report)),
        _csv(DETAILED_HEADER, detailed_rows(report)),
    )
    with atomic_dir(outdir) as tmp:
        for name, text in zip(CSV_FILES, texts, strict=True):
            (tmp / name).write_text(text, encoding="utf-8")
    return [Path(outdir) / n for n in CSV_FILES]


def write_json_report(report: NetworkReport, outdir: str | os.PathLike[str]) -> Path:
    """Write ``REPORT.json`` (summary, config and every layer) into ``outdir``."""
    return atomic_write_text(Path(outdir) / "REPORT.json", report.to_json() + "\n")
