"""A plan as Markdown with plots: per-layer latency before/after, channels kept, N:M choices."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

from hwprune.planning.plan import Plan

__all__ = ["plot_plan", "plan_markdown"]


def _plt() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_plan(plan: Plan, outdir: str | os.PathLike[str]) -> dict[str, str]:
    """Write the plan's plots as PNG files into ``outdir``; returns {what: file name}."""
    plt = _plt()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    layers = [layer for layer in plan.layers if layer.cycles_before > 0]
    names = [layer.name for layer in layers]
    x = range(len(layers))

    fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(layers)), 4))
    ax.bar([i - 0.2 for i in x], [layer.cycles_before for layer in layers], 0.4, label="unpruned")
    colors = ["tab:green" if layer.nm else "tab:orange" for layer in layers]
    ax.bar([i + 0.2 for i in x], [layer.cycles for layer in layers], 0.4, color=colors, label="planned")
    ax.set_xticks(list(x), names, rotation=90, fontsize=6)
    ax.set_ylabel("cycles")
    legend = " (green: N:M)" if any(layer.nm for layer in layers) else ""
    ax.set_title(
        f"Per-layer latency on {plan.hw}: {plan.unpruned_ms:.3f} ms -> {plan.latency_ms:.3f} ms{legend}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    files["latency"] = "latency_per_layer.png"
    fig.savefig(out / files["latency"], dpi=110)
    plt.close(fig)

    groups = [g for g in plan.groups if g.prunable]
    if groups:
        fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(groups)), 4))
        gx = range(len(groups))
        ax.bar(list(gx), [g.size for g in groups], color="lightgray", label="original")
        ax.bar(list(gx), [g.kept for g in groups], color="tab:blue", label="kept")
        ax.set_xticks(list(gx), [g.key for g in groups], rotation=90, fontsize=6)
        ax.set_ylabel("channels")
        ax.set_title("Channels kept per group", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        files["channels"] = "channels_kept.png"
        fig.savefig(out / files["channels"], dpi=110)
        plt.close(fig)
    return files


def _fmt(n: float) -> str:
    for unit, k in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= k:
            return f"{n / k:.2f}{unit}"
    return f"{n:.0f}"


def plan_markdown(
    plan: Plan, plots: dict[str, str] | None = None, extra: dict[str, Any] | None = None
) -> str:
    """The plan as a Markdown report (summary, plots, per-layer table, groups)."""
    lines = [
        f"# hwprune plan: {plan.hw}, budget {plan.budget}",
        "",
        "| | unpruned | planned |",
        "|---|---:|---:|",
        f"| latency (cycles) | {plan.unpruned_cycles} | {plan.cycles} (budget {plan.budget_cycles}) |",
        f"| latency (ms @ {plan.clock_mhz:g} MHz) | {plan.unpruned_ms:.4f} | {plan.latency_ms:.4f} |",
        f"| speedup | 1.00x | {plan.speedup:.2f}x |",
        f"| MACs | {_fmt(plan.macs_before)} | {_fmt(plan.macs)} |",
        f"| conv/linear weights | {_fmt(plan.params_before)} | {_fmt(plan.params)} |",
        "",
        f"Solver: {plan.solver}; checked in cycle mode: {'yes' if plan.verified else 'no'}; "
        f"budget used: {plan.cycles / max(plan.budget_cycles, 1):.1%}.",
        "",
    ]
    for k, v in (extra or {}).items():
        lines.append(f"- {k}: {v}")
    if extra:
        lines.append("")
    if plan.unmodelled:
        lines += [
            f"**Not in these figures:** {len(plan.unmodelled)} op(s) have no cost model and count as "
            "0 cycles; the latencies above exclude them.",
            "",
            "| op | torch op | why |",
            "|---|---|---|",
        ]
        lines += [f"| {u.get('name')} | {u.get('op')} | {u.get('why')} |" for u in plan.unmodelled]
        lines.append("")
    if plan.hw_config.get("engine") == "dpu":
        from hwmodel.dpu.board import FRAME_OVERHEAD_MS, board_frame_ms, board_speedup

        before, after = board_frame_ms(plan.unpruned_ms), board_frame_ms(plan.latency_ms)
        lines += [
            f"**Not in these figures: the board's cost per frame.** AMD's figures for one B4096 core put "
            f"about {FRAME_OVERHEAD_MS:.2f} ms on every frame beyond the modelled DPU time (fitted; "
            "`reports/dpu_vs_model_zoo.md`), which no pruning removes. With it a frame takes "
            f"{before:.4f} -> {after:.4f} ms: {board_speedup(plan.unpruned_ms, plan.latency_ms):.2f}x, "
            f"against {plan.speedup:.2f}x on the modelled DPU time.",
            "",
        ]
    host = [layer for layer in plan.layers if layer.kind == "cpu"]
    if host:
        before, after = sum(h.cycles_before for h in host), sum(h.cycles for h in host)
        lines += [
            f"**On the host CPU** (ops the accelerator cannot run, priced with the hardware's host model and "
            f"included above): {len(host)} op(s), {before} -> {after} cycles.",
            "",
            "| op | channels | cycles before | cycles |",
            "|---|---:|---:|---:|",
        ]
        lines += [f"| {h.name} | {h.cout}/{h.cout_before} | {h.cycles_before} | {h.cycles} |" for h in host]
        lines.append("")
    for what, f in (plots or {}).items():
        lines += [f"![{what}]({f})", ""]
    lines += [
        "## Layers",
        "",
        "| layer | kind | in | out | N:M | cycles before | cycles | MACs before | MACs |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for layer in plan.layers:
        cin = f"{layer.cin}" if layer.cin == layer.cin_before else f"{layer.cin}/{layer.cin_before}"
        cout = f"{layer.cout}" if layer.cout == layer.cout_before else f"{layer.cout}/{layer.cout_before}"
        lines.append(
            f"| {layer.name} | {layer.kind} | {cin} | {cout} | {layer.nm or ''} | {layer.cycles_before} | "
            f"{layer.cycles} | {_fmt(layer.macs_before)} | {_fmt(layer.macs)} |"
        )
    lines += ["", "## Channel groups", "", "| group | kept / size | note |", "|---|---:|---|"]
    for g in plan.groups:
        lines.append(f"| {g.key} | {g.kept} / {g.size} | {'' if g.prunable else 'fixed: ' + g.reason} |")
    return "\n".join(lines) + "\n"
