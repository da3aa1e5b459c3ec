"""Simulator reports for every reference net on the reference hardware (``hwprune reports``).

For each (net, hardware): SCALE-Sim-layout CSVs, JSON and a Markdown page with plots under
``<out>/<hw>/<net>/``, plus an index ``<out>/README.md`` with one line per net and hardware.
"""

from __future__ import annotations

import os
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["write_net_reports", "DEFAULT_HW"]

DEFAULT_HW = ("dpu-b4096", "systolic-32x32-ws")


def write_net_reports(
    out: str | os.PathLike[str] = "reports/simulator",
    hw: tuple[str, ...] = DEFAULT_HW,
    nets: tuple[str, ...] | None = None,
    progress: bool = True,
) -> Path:
    """Simulate every reference net on every accelerator and write the reports.

    Args:
        out: destination folder.
        hw: accelerator presets or config files.
        nets: reference net names (default: all of ``hwprune.models.names()``).
        progress: show a progress bar.

    Returns:
        The index file.
    """
    import torch

    from hwmodel.reports import write_csv_reports, write_json_report, write_markdown_report
    from hwprune import models
    from hwprune.frontend.trace import trace
    from hwprune.io import atomic_write_text
    from hwprune.lower.simulate import resolve_hw, simulate

    out = Path(out)
    names = nets or models.names()
    rows = []
    jobs = [(n, h) for n in names for h in hw]
    graphs = {}
    for name, h in tqdm(jobs, desc="simulating reference nets", disable=not progress):
        if name not in graphs:
            torch.manual_seed(0)
            model = models.get(name, num_classes=1000 if models.input_shape(name)[-1] == 224 else 10).eval()
            x = models.default_input(name)
            graphs[name] = (model, x, trace(model, x))
        model, x, g = graphs[name]
        cfg = resolve_hw(h)
        rep = simulate(model, x, cfg, graph=g, name=name)
        folder = out / cfg.name / name
        write_csv_reports(rep, folder)
        write_json_report(rep, folder)
        write_markdown_report(rep, folder)
        shape = "x".join(str(d) for d in x.shape[1:])
        rows.append(
            f"| {name} | {shape} | {cfg.name} | {len(rep.layers)} | {rep.total_cycles:,} | "
            f"{rep.latency_ms:.3f} | {rep.fps:.1f} | {rep.utilization:.1%} | "
            f"[report]({cfg.name}/{name}/{_md_name(folder)}) |"
        )
    text = "\n".join(
        [
            "# Simulator reports of the reference nets",
            "",
            "Regenerate with `hwprune reports` (writes this folder). Latency is per image (batch 1);",
            "DPU figures are the DPU alone (no host pre/post-processing). Per-layer CSVs follow SCALE-Sim v3's",
            "COMPUTE_REPORT / BANDWIDTH_REPORT / DETAILED_ACCESS_REPORT layout.",
            "",
            "| net | input | hardware | layers | cycles | latency (ms) | FPS | MAC utilization | details |",
            "|---|---|---|---:|---:|---:|---:|---:|---|",
            *rows,
            "",
        ]
    )
    return atomic_write_text(out / "README.md", text)


def _md_name(folder: Path) -> str:
    mds = sorted(p.name for p in folder.glob("*.md"))
    return mds[0] if mds else ""
