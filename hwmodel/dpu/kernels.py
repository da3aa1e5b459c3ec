"""Cycle mode of the DPU: a Numba kernel that steps through every (group, chunk, output row) step.

Each step computes one output row of one weight chunk for ``c`` cycles while the load and save
engines move, over one shared DRAM port of ``bw`` bytes/cycle, the next step's new input rows, a share
of the next chunk's weights (or, when weights are streamed, the next row's weights) and the previous
step's output row. The step lasts ``max(c, ceil(bytes / bw))``; the excess is stall.

Layer boundaries are costed in steady state: the DPU's LOAD, SAVE and CONV/MISC engines run
concurrently across layers (PG338: instructions go to independent engines with dependency flags),
so the loads a layer needs first overlap the previous layer's last row, and its last save overlaps the
next layer's first row. We approximate the neighbours by the layer itself: the step sequence is
cyclic (the last step prefetches the first rows and chunk, the first step saves the last row). This
keeps layer costs additive and order-free, and makes latency monotone in channel counts.
With ``open_ends`` (``DpuParams.layer_startup``) the input side is not cyclic: the layer's last step
prefetches no rows, and its first rows are loaded before its first tile, costed once per layer by the
plan (``DpuPlan.startup``). Weights and saves stay cyclic (the neighbouring layers' steps hide them):
a finer weight chunking must never make a layer cheaper.
``hwmodel.dpu.reference`` is the readable definition this kernel must match exactly;
``hwmodel.dpu.analytic`` is its closed form.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["OUT_FIELDS", "dpu_layer_kernel", "run_kernel"]

# names of the kernel's int64 output vector
OUT_FIELDS = ("compute", "stall", "dram_ifmap", "dram_filter", "dram_ofmap", "steps")


@njit(cache=True)
def _rows_new(e, in_h, pad, stride, eff):
    hi = e * stride + eff - 1
    lo = 0
    if e > 0:
        lo = max(e * stride, (e - 1) * stride + eff)
    n = min(hi, pad + in_h - 1) - max(lo, pad) + 1
    return n if n > 0 else 0


@njit(cache=True)
def dpu_layer_kernel(
    groups,
    n_chunks,
    n_small,
    small_tiles,
    cyc_tile,
    row_tiles,
    out_h,
    in_h,
    pad,
    stride,
    eff,
    in_row,
    out_tile_row,
    w_small,
    w_big,
    streamed,
    open_ends,
    stretch,
    bw,
    out,
):
    """Step through one layer; write the totals named in ``OUT_FIELDS`` into ``out`` (int64[6])."""
    first = _rows_new(0, in_h, pad, stride, eff) * in_row
    compute = 0
    stall = 0
    dram_if = 0
    dram_w = 0
    dram_of = 0
    steps = 0
    total = groups * n_chunks
    for ci in range(total):
        k = ci % n_chunks
        kn = (ci + 1) % n_chunks  # the next chunk (cyclically: the layer's first one)
        kp = (ci - 1) % n_chunks
        t = small_tiles if k < n_small else small_tiles + 1
        wk = w_small if k < n_small else w_big
        wn = w_small if kn < n_small else w_big
        c = (row_tiles * t * cyc_tile * stretch + 99) // 100
        save_row = out_tile_row * t
        prev_save = out_tile_row * (small_tiles if kp < n_small else small_tiles + 1)
        for e in range(out_h):
            if e < out_h - 1:
                lb = _rows_new(e + 1, in_h, pad, stride, eff) * in_row
                wb = wk if streamed else (wn * (e + 1)) // out_h - (wn * e) // out_h
            else:
                lb = 0 if (open_ends and ci == total - 1) else first
                wb = wn if streamed else (wn * (e + 1)) // out_h - (wn * e) // out_h
            sb = prev_save if e == 0 else save_row
            d = -(-(lb + wb + sb) // bw)
            compute += c
            if d > c:
                stall += d - c
            dram_if += lb
            dram_w += wb
            dram_of += sb
            steps += 1
    out[0] = compute
    out[1] = stall
    out[2] = dram_if
    out[3] = dram_w
    out[4] = dram_of
    out[5] = steps


def run_kernel(args: tuple[int, ...]) -> dict[str, int]:
    """Call the kernel with a plan's ``kernel_args()``; return the totals by name."""
    out = np.zeros(len(OUT_FIELDS), dtype=np.int64)
    dpu_layer_kernel(*args, out)  # Python ints arrive as int64
    return {name: int(v) for name, v in zip(OUT_FIELDS, out, strict=True)}
