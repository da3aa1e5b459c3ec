"""Plots of sensitivity curves and search results (matplotlib, headless)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hwprune.io import atomic_write_bytes

__all__ = ["plot_sensitivity", "plot_search"]


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def plot_sensitivity(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    baseline: float,
    path: str | os.PathLike[str],
    *,
    title: str = "sensitivity",
    top: int = 12,
) -> Path:
    """Score against pruning ratio for each channel group, the most sensitive ``top`` labelled.

    Args:
        curves: group key -> ``(ratio, score)`` points.
        baseline: the unpruned model's score (a dashed line).
        path: the PNG to write (atomically).
        title: the figure title.
        top: how many of the most sensitive groups get a legend entry.

    Returns:
        The written path.
    """
    plt = _figure()

    def worst(item: tuple[str, Sequence[tuple[float, float]]]) -> float:
        return min((s for _, s in item[1]), default=baseline)

    ordered = sorted(curves.items(), key=worst)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    try:
        for i, (key, points) in enumerate(ordered):
            pts = sorted(points)
            xs = [0.0] + [r for r, _ in pts]
            ys = [baseline] + [s for _, s in pts]
            ax.plot(xs, ys, marker=".", lw=1, label=key if i < top else None, alpha=1.0 if i < top else 0.35)
        ax.axhline(baseline, ls="--", color="k", lw=0.8, label="unpruned")
        ax.set_xlabel("fraction of the group's channels pruned")
        ax.set_ylabel("eval score")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left", ncol=2)
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_search(
    costs: Sequence[float],
    scores: Sequence[float],
    path: str | os.PathLike[str],
    *,
    xlabel: str,
    title: str = "search",
) -> Path:
    """Scatter of candidates: cost (cycles or MACs) against calibrated score."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        ax.scatter(costs, scores, s=12)
        if scores:
            best = max(range(len(scores)), key=scores.__getitem__)
            ax.scatter([costs[best]], [scores[best]], s=40, color="r", label="best")
            ax.legend()
        ax.set_xlabel(xlabel)
        ax.set_ylabel("score after adaptive BN")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        return _save(fig, path)
    finally:
        plt.close(fig)
