"""Pure-Python reference of the DPU step model: the living definition the Numba kernel must match.

Written for reading, not speed: it first lists every step with its compute cycles and the bytes it
moves, then times the list. The sequence is cyclic (see ``hwmodel.dpu.kernels``): the last step
prefetches what the first needs, the first step saves what the last produced. Small layers only.
"""

from __future__ import annotations

from hwmodel.dpu.tiling import rows_new

__all__ = ["reference_steps", "reference_layer"]


def reference_steps(
    groups: int,
    n_chunks: int,
    n_small: int,
    small_tiles: int,
    cyc_tile: int,
    row_tiles: int,
    out_h: int,
    in_h: int,
    pad: int,
    stride: int,
    eff: int,
    in_row: int,
    out_tile_row: int,
    w_small: int,
    w_big: int,
    streamed: int,
    open_ends: int,
    stretch: int,
    bw: int,
) -> list[dict[str, int]]:
    """The step list: dicts with the step's compute cycles and the ifmap/filter/ofmap bytes it moves."""
    group = [(small_tiles, w_small) if k < n_small else (small_tiles + 1, w_big) for k in range(n_chunks)]
    chunks = group * groups  # (tiles, weight bytes) in execution order
    rows = [rows_new(e, in_h, pad, stride, eff) * in_row for e in range(out_h)]
    order = [(ci, e) for ci in range(len(chunks)) for e in range(out_h)]
    steps = []
    last = len(order) - 1
    for i, (ci, e) in enumerate(order):
        tiles, _ = chunks[ci]
        nxt_chunk, nxt_row = order[(i + 1) % len(order)]
        prv_chunk, _ = order[i - 1]
        if streamed:  # every row re-loads the weights of the chunk it runs
            filt = chunks[nxt_chunk][1]
        else:  # the next chunk's weights, spread evenly over this chunk's rows
            wn = chunks[(ci + 1) % len(chunks)][1]
            filt = wn * (e + 1) // out_h - wn * e // out_h
        # open ends: the layer's last step prefetches no input rows (the first ones load at start-up)
        steps.append(
            {
                "compute": -(-row_tiles * tiles * cyc_tile * stretch // 100),
                "ifmap": 0 if (open_ends and i == last) else rows[nxt_row],
                "filter": filt,
                "ofmap": out_tile_row * chunks[prv_chunk][0],
            }
        )
    return steps


def reference_layer(*args: int) -> dict[str, int]:
    """Totals with the same names as ``hwmodel.dpu.kernels.OUT_FIELDS``, computed from the step list."""
    bw = args[-1]
    steps = reference_steps(*args)
    compute = sum(s["compute"] for s in steps)
    busy = sum(max(s["compute"], -(-(s["ifmap"] + s["filter"] + s["ofmap"]) // bw)) for s in steps)
    return {
        "compute": compute,
        "stall": busy - compute,
        "dram_ifmap": sum(s["ifmap"] for s in steps),
        "dram_filter": sum(s["filter"] for s in steps),
        "dram_ofmap": sum(s["ofmap"] for s in steps),
        "steps": len(steps),
    }
