"""Markdown report with one SVG chart (``hwmodel.reports.svg``): per-layer cycles, utilization, stall share.

The chart is written as SVG text, without matplotlib: a report costs milliseconds, not seconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hwmodel.atomic import atomic_dir

if TYPE_CHECKING:
    from hwmodel.reports.model import NetworkReport

__all__ = ["write_markdown_report", "markdown_text", "PLOT_FILES"]

PLOT_FILES = ("cycles.svg",)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def markdown_text(report: NetworkReport) -> str:
    """The Markdown body (tables and image links; the images are written by :func:`write_markdown_report`)."""
    cfg = report.config
    hw = (
        f"{cfg.rows}x{cfg.cols} systolic array, {cfg.dataflow.upper()} dataflow, SRAM {cfg.ifmap_sram_kb}/"
        f"{cfg.filter_sram_kb}/{cfg.ofmap_sram_kb} KiB, DRAM {cfg.dram_bw} words/cycle ({cfg.bandwidth_mode})"
        if cfg.engine == "systolic"
        else f"DPU engine, peak {cfg.peak_macs_per_cycle} MACs/cycle"
    )
    stall_share = report.stall_cycles / report.total_cycles if report.total_cycles else 0.0
    lines = [
        f"# hwmodel report: {report.topology} on {cfg.name}",
        "",
        f"Hardware: {hw}, clock {cfg.clock_mhz:g} MHz. Mode: {report.mode}.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| layers | {len(report.layers)} |",
        f"| total cycles | {report.total_cycles:,} |",
        f"| compute cycles | {report.compute_cycles:,} |",
        f"| stall cycles | {report.stall_cycles:,} ({100 * stall_share:.1f}%) |",
        f"| MACs | {report.macs:,} |",
        f"| latency | {report.latency_ms:.4f} ms |",
        f"| throughput | {report.fps:.1f} FPS |",
        f"| utilization | {100 * report.utilization:.1f}% |",
        "",
    ]
    if report.notes:
        lines += ["**Not in these figures:**", ""] + [f"- {n}" for n in report.notes] + [""]
    host = [r for r in report.layers if r.engine == "cpu"]
    if host:
        cyc = sum(r.total_cycles for r in host)
        share = cyc / report.total_cycles if report.total_cycles else 0.0
        lines += [
            f"**On the host CPU** (ops the accelerator cannot run; time and DDR round trip included in the "
            f"totals): {len(host)} op(s), {cyc:,} cycles ({100 * share:.1f}% of the total): "
            + ", ".join(f"{r.name} ({r.total_cycles:,})" for r in host),
            "",
        ]
    if not all(r.exact_stalls for r in report.layers):
        lines += [
            "Stall cycles marked * are closed-form estimates (analytic mode); run cycle mode for exact ones.",
            "",
        ]
    lines += [
        "![cycles, utilization and stall share per layer](cycles.svg)",
        "",
        "| # | layer | kind | compute | stall | total | util % | mapping % | DRAM words |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(report.layers):
        mark = "" if r.exact_stalls else "*"
        lines.append(
            f"| {i} | {r.name} | {r.kind} | {r.compute_cycles:,} | {r.stall_cycles:,}{mark} | "
            f"{r.total_cycles:,} | {100 * r.utilization:.1f} | {100 * r.mapping_efficiency:.1f} | "
            f"{_fmt(r.dram_traffic)} |"
        )
    return "\n".join(lines) + "\n"


def _plots(report: NetworkReport, folder: Path) -> None:
    from hwmodel.reports.svg import layer_chart_svg

    (folder / PLOT_FILES[0]).write_text(layer_chart_svg(report), encoding="utf-8")


def write_markdown_report(report: NetworkReport, outdir: str | os.PathLike[str]) -> Path:
    """Write ``REPORT.md`` and ``cycles.svg`` (cycles, utilization, stall share per layer), atomically.

    Args:
        report: the network report.
        outdir: destination folder.

    Returns:
        The path of ``REPORT.md``.
    """
    with atomic_dir(outdir) as tmp:
        _plots(report, tmp)
        (tmp / "REPORT.md").write_text(markdown_text(report), encoding="utf-8")
    return Path(outdir) / "REPORT.md"
