"""Closed-form systolic model: compute cycles (exact), utilizations, SRAM traffic, a stall estimate.

``compute_cycles`` equals the cycle kernel's compute cycles on every shape (property-tested). The
USER-mode stall estimate is *not* exact: it counts SCALE-Sim's window slides per operand stream in
closed form (passes over the stream, and whole-stream wraps for tiles read again or backwards across
a window boundary), takes each fetch as ceil(half / bw) + 1 cycles back to back, and charges the
slowest stream's time beyond compute. It ignores where in a fold a boundary falls, how wraps shift
later boundaries, im2col duplicates and SCALE-Sim's double-counted waits, which the cycle kernel
models. Measured against SCALE-Sim's USER goldens: 8x8 OS/WS/IS cases +22% / +6% / +11%, ResNet-18
WS 32x32 3.3M vs 7.0M stall cycles (the cycle mode: 7.08M). Use ``mode="cycle"`` whenever stall
cycles matter; in CALC mode both are exact (no stalls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwmodel.systolic.mapping import fold_length, spatial_dims

__all__ = ["GemmCost", "gemm_compute_cycles", "gemm_cost", "memory_estimate"]


@dataclass(frozen=True, slots=True)
class GemmCost:
    """Closed-form cost of one GEMM on the array (one repetition)."""

    folds: int
    fold_len: int
    compute_cycles: int
    mapping_efficiency: float
    fold_utilization: float
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int


def gemm_compute_cycles(dataflow: str, rows: int, cols: int, m: int, k: int, n: int) -> int:
    """folds * L - 1 for one GEMM (the cheapest call; the planner's hot path)."""
    if dataflow == "os":
        sr, sc, t = m, n, k
        fold = t + rows + cols - 2
    elif dataflow == "ws":
        sr, sc, t = k, n, m
        fold = 2 * rows + cols + t - 2
    else:
        sr, sc, t = k, m, n
        fold = 2 * rows + cols + t - 2
    return -(-sr // rows) * -(-sc // cols) * fold - 1


def gemm_cost(dataflow: str, rows: int, cols: int, m: int, k: int, n: int, nm_ratio: float = 1.0) -> GemmCost:
    """Every closed-form quantity of one GEMM.

    Args:
        dataflow: "os", "ws" or "is".
        rows, cols: array size.
        m, k, n: GEMM sizes (k after the N:M mask).
        nm_ratio: M/N of the layer's N:M pattern (1 when dense); SCALE-Sim's WS counts ifmap SRAM
            reads as T * K' * M/N per column fold.

    Returns:
        The cost; SRAM counts follow SCALE-Sim's demand matrices (each fold reads its tiles once).
    """
    sr, sc, t = spatial_dims(dataflow, m, k, n)
    rf, cf = math.ceil(sr / rows), math.ceil(sc / cols)
    folds = rf * cf
    fl = fold_length(dataflow, rows, cols, t)
    used = sr * sc  # sum over folds of Ru * Cu
    if dataflow == "os":
        reads_i, reads_f = sr * t * cf, sc * t * rf
    elif dataflow == "ws":
        reads_i, reads_f = round(t * sr * cf * nm_ratio), sr * sc
    else:
        reads_i, reads_f = sr * sc, t * sr * cf
    if dataflow == "os":  # SCALE-Sim also counts rows + cols per fold (padded tile edges)
        writes_o = sr * sc + folds * (rows + cols)
        util_len = fl
    else:  # WS/IS write partial sums per row fold; SCALE-Sim's utilization divides by one more C - 1
        writes_o = t * sc * rf
        util_len = 2 * rows + 2 * cols + t - 3
    return GemmCost(
        folds,
        fl,
        folds * fl - 1,
        used / (folds * rows * cols),
        used * t / (folds * rows * cols * util_len),
        reads_i,
        reads_f,
        writes_o,
    )


def _fetches(length: int, words: int, kind: str, passes: int, reuse: int, tile: int) -> int:
    """Closed-form count of SCALE-Sim window slides (DRAM fetches) for one operand stream.

    Args:
        length: stream elements.
        words: SRAM words (both halves).
        kind: "stream" (read through ``passes`` times), "reuse" (each tile read ``reuse`` times in a
            row) or "tile" (stationary tiles read bottom row first, once).
        passes: how often the whole stream is read ("stream").
        reuse: consecutive reads of each tile ("reuse").
        tile: elements per tile.
    """
    e = -(-words // 100)
    half = -(-words // 2)
    lines = -(-length // e)
    act = min(-(-half // e), lines)
    if lines <= act:
        return 0
    jump = max(1, min(-(-(words - half) // e), lines - act))
    first = -(-(lines - act) // jump)  # slides of the first pass
    lap = -(-lines // jump)  # slides of one more pass, or of one wrap round the stream
    if kind == "stream":
        return first + (passes - 1) * lap
    # a slide keeps (act - jump) lines; a tile across a window boundary that is longer than that loses
    # its start, so reading it again (reuse) or backwards (stationary tiles) wraps round the stream
    crossing = tile > (act - jump) * e
    if kind == "reuse":
        wraps = (first if crossing else 0) if tile <= act * e else -(-length // tile)
        return first + wraps * (reuse - 1) * lap
    return first + (first * lap if crossing else 0)


def memory_estimate(
    dataflow: str, rows: int, cols: int, m: int, k: int, n: int, ifmap_words: int, filter_words: int
) -> tuple[int, int, int, int]:
    """Closed-form SCALE-Sim memory traffic of one GEMM.

    Returns:
        (ifmap fetches, filter fetches, ifmap DRAM words, filter DRAM words); each fetch refills half
        the SRAM. Counts follow the window rules of ``hwmodel.systolic.kernel`` (first pass, further
        passes, wraps of tiles read across a window boundary) but ignore where in a fold a boundary
        falls and im2col duplicates, which the cycle kernel models.
    """
    sr, sc, t = spatial_dims(dataflow, m, k, n)
    rf, cf = math.ceil(sr / rows), math.ceil(sc / cols)
    if dataflow == "os":
        fa = _fetches(sr * t, ifmap_words, "stream", cf, 1, t * rows)
        fb = _fetches(sc * t, filter_words, "reuse", 1, rf, t * cols)
        la, lb = sr * t, sc * t
    elif dataflow == "ws":
        fa = _fetches(sr * t, ifmap_words, "stream", cf, 1, t * rows)
        fb = _fetches(sr * sc, filter_words, "tile", 1, 1, rows * cols)
        la, lb = sr * t, sr * sc
    else:
        fa = _fetches(sr * sc, ifmap_words, "tile", 1, 1, rows * cols)
        fb = _fetches(sr * t, filter_words, "stream", cf, 1, t * rows)
        la, lb = sr * sc, sr * t
    half_i, half_f = -(-ifmap_words // 2), -(-filter_words // 2)
    return (
        fa,
        fb,
        min(half_i, la) + fa * (ifmap_words - half_i),
        min(half_f, lb) + fb * (filter_words - half_f),
    )
