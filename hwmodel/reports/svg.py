"""Per-layer bar charts as SVG text: no plotting library, a few milliseconds for any network.

Three panels share the layer axis: cycles (compute + stall, stacked), utilization % and stall share %.
Each bar carries a ``<title>`` (the layer's name and value), which SVG viewers show on hover.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hwmodel.reports.model import NetworkReport

__all__ = ["layer_chart_svg"]

_W_LABEL, _PANEL_H, _GAP, _TOP = 70, 150, 36, 28
_COMPUTE, _STALL = "#4477aa", "#ee6677"


def _nice_max(x: float) -> float:
    if x <= 0:
        return 1.0
    step = 10 ** len(str(int(x))) / 10 if x >= 1 else 1.0
    for mult in (1, 2, 5, 10):
        if x <= mult * step:
            return mult * step
    return 10 * step  # pragma: no cover - unreachable: x <= 10 * step by construction


def _fmt(x: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:g}{unit}"
    return f"{x:g}"


def _panel(
    out: list[str],
    y0: float,
    width: float,
    bar_w: float,
    label: str,
    stacks: Sequence[Sequence[float]],
    colors: Sequence[str],
    names: Sequence[str],
    unit: str,
) -> None:
    top = _nice_max(max((sum(s) for s in stacks), default=0.0))
    out.append(f'<text x="4" y="{y0 - 6:.0f}" font-size="12">{escape(label)}</text>')
    for frac in (0.0, 0.5, 1.0):
        y = y0 + _PANEL_H * (1 - frac)
        out.append(f'<line x1="{_W_LABEL}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="#ccc"/>')
        out.append(
            f'<text x="{_W_LABEL - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_fmt(top * frac)}</text>"
        )
    for i, (stack, name) in enumerate(zip(stacks, names, strict=True)):
        x = _W_LABEL + i * bar_w
        base = 0.0
        for value, color in zip(stack, colors, strict=True):
            h = _PANEL_H * value / top
            y = y0 + _PANEL_H * (1 - (base + value) / top)
            out.append(
                f'<rect x="{x + 0.1 * bar_w:.2f}" y="{y:.2f}" width="{0.8 * bar_w:.2f}" height="{h:.2f}" '
                f'fill="{color}"><title>{escape(name)}: {value:,.6g}{unit}</title></rect>'
            )
            base += value


def layer_chart_svg(report: NetworkReport) -> str:
    """The SVG document: cycles, utilization % and stall share % per layer."""
    layers = report.layers
    n = max(1, len(layers))
    bar_w = max(4.0, min(24.0, 900 / n))
    width = _W_LABEL + n * bar_w + 12
    height = _TOP + 3 * (_PANEL_H + _GAP) + 10
    names = [f"{i} {r.name}" for i, r in enumerate(layers)]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'font-family="sans-serif">',
        f'<text x="4" y="16" font-size="13">{escape(report.topology)} on {escape(report.config.name)} '
        f'({report.mode} mode): <tspan fill="{_COMPUTE}">compute</tspan> + '
        f'<tspan fill="{_STALL}">stall</tspan> cycles per layer</text>',
    ]
    # (label, one stack of values per layer, a colour per stack level, unit)
    panels: tuple[tuple[str, list[tuple[float, ...]], tuple[str, ...], str], ...] = (
        ("cycles", [(r.compute_cycles, r.stall_cycles) for r in layers], (_COMPUTE, _STALL), " cycles"),
        ("utilization %", [(100 * r.utilization,) for r in layers], (_COMPUTE,), " %"),
        (
            "stall share %",
            [(100 * r.stall_cycles / r.total_cycles if r.total_cycles else 0.0,) for r in layers],
            (_STALL,),
            " %",
        ),
    )
    for k, (label, stacks, colors, unit) in enumerate(panels):
        _panel(out, _TOP + _GAP / 2 + k * (_PANEL_H + _GAP), width, bar_w, label, stacks, colors, names, unit)
    out.append(
        f'<text x="{width / 2:.0f}" y="{height - 2:.0f}" font-size="11" text-anchor="middle">layer</text>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"
