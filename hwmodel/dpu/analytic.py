"""Closed form of the DPU step model: the same totals as the cycle-mode kernel, without stepping.

Steps of one chunk differ only at its first and last row and at rows whose input window touches the
padding; every other row moves the same bytes except for a one-byte difference in its weight share.
So a chunk costs O(boundary rows), and a layer is a handful of chunk *contexts* (a chunk's size and
its neighbours' sizes in the cyclic chunk sequence) times their counts. The planner calls this ~1e5
times, so it is plain integer arithmetic and cached.
"""

from __future__ import annotations

from functools import lru_cache

from hwmodel.dpu.kernels import OUT_FIELDS
from hwmodel.dpu.tiling import DpuPlan, rows_new

__all__ = ["analytic_totals", "analytic_args"]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _interior(out_h: int, in_h: int, pad: int, stride: int, eff: int) -> tuple[int, int]:
    """Rows e' >= 1 whose new input rows lie wholly inside the image: ``[lo, hi]`` (maybe empty)."""
    hi = (pad + in_h - eff) // stride
    lo = max(1, min(_cdiv(pad, stride), _cdiv(pad - eff, stride) + 1))
    return lo, min(hi, out_h - 1)


def _positions(n_chunks: int, n_small: int) -> list[tuple[int, int]]:
    """``(representative chunk index, count)`` covering a group: chunks whose neighbours differ in size
    (first, last, either side of the small/big boundary) alone, the uniform inside of each run once."""
    special = sorted({p for p in (0, n_small - 1, n_small, n_chunks - 1) if 0 <= p < n_chunks})
    out = [(p, 1) for p in special]
    for lo, hi in ((0, n_small), (n_small, n_chunks)):
        count = hi - lo - sum(1 for p in special if lo <= p < hi)
        if count > 0:
            rep = lo
            while rep in special:
                rep += 1
            out.append((rep, count))
    return out


def analytic_args(*args: int) -> dict[str, int]:
    """Totals named as ``OUT_FIELDS`` from the kernel's scalar arguments (see ``DpuPlan.kernel_args``)."""
    return dict(zip(OUT_FIELDS, _totals(*args), strict=True))


def _totals(
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
) -> tuple[int, ...]:
    first = rows_new(0, in_h, pad, stride, eff) * in_row
    n0 = min(stride, eff) * in_row
    lo, hi = _interior(out_h, in_h, pad, stride, eff)
    # step e loads row e+1, so interior steps are e in [lo-1, hi-1], kept inside [1, E-2]
    a, b = max(1, lo - 1), min(out_h - 2, hi - 1)
    last_e = out_h - 1
    mid = [*range(1, a), *range(b + 1, last_e)] if a <= b else list(range(1, last_e))
    # rows handled one by one: (e, input bytes it prefetches); the last row prefetches the first rows
    rows = [(e, rows_new(e + 1, in_h, pad, stride, eff) * in_row) for e in ([0, *mid] if last_e > 0 else [])]
    count = b - a + 1 if a <= b else 0

    def chunk_cost(t: int, wk: int, wn: int, prev_save: int, last_load: int) -> tuple[int, int, int, int]:
        """(stepped cycles, ifmap, filter, ofmap bytes) of one chunk between its neighbours."""
        c = -(-row_tiles * t * cyc_tile * stretch // 100)
        save = out_tile_row * t
        cycles = ifm = flt = 0
        for e, lb in (*rows, (last_e, last_load)):
            if streamed:
                wb = wn if e == last_e else wk
            else:
                wb = wn * (e + 1) // out_h - wn * e // out_h
            d = -(-(lb + wb + (save if e else prev_save)) // bw)
            cycles += d if d > c else c
            ifm += lb
            flt += wb
        if count:
            if streamed:
                base, q, spread = n0 + save + wk, 0, 0
            else:
                base, q, spread = n0 + save, wn // out_h, wn * (b + 1) // out_h - wn * a // out_h
            plus = spread - count * q  # rows whose weight share is one byte larger
            d0 = -(-(base + q) // bw)
            d1 = -(-(base + q + 1) // bw)
            cycles += (count - plus) * (d0 if d0 > c else c) + plus * (d1 if d1 > c else c)
            ifm += count * n0
            flt += count * (wk if streamed else 0) + spread
        return cycles, ifm, flt, prev_save + (out_h - 1) * save

    def size(k: int) -> tuple[int, int]:
        k %= n_chunks
        return (small_tiles, w_small) if k < n_small else (small_tiles + 1, w_big)

    def cyclic(k: int) -> tuple[int, int, int, int]:
        t, wk = size(k)
        return chunk_cost(t, wk, size(k + 1)[1], out_tile_row * size(k - 1)[0], first)

    compute = stepped = dram_if = dram_w = dram_of = 0

    def add(cost: tuple[int, int, int, int], n: int) -> None:
        nonlocal stepped, dram_if, dram_w, dram_of
        stepped += n * cost[0]
        dram_if += n * cost[1]
        dram_w += n * cost[2]
        dram_of += n * cost[3]

    for k, n in _positions(n_chunks, n_small):
        n *= groups
        add(cyclic(k), n)
        compute += n * -(-row_tiles * size(k)[0] * cyc_tile * stretch // 100) * out_h
    if open_ends:  # the layer's last chunk prefetches no input rows (they load at start-up)
        kl = n_chunks - 1
        t, wk = size(kl)
        add(chunk_cost(t, wk, size(kl + 1)[1], out_tile_row * size(kl - 1)[0], 0), 1)
        add(cyclic(kl), -1)
    return compute, stepped - compute, dram_if, dram_w, dram_of, groups * n_chunks * out_h


@lru_cache(maxsize=1 << 16)
def _cached(args: tuple[int, ...]) -> tuple[int, ...]:
    return _totals(*args)


def analytic_totals(plan: DpuPlan) -> dict[str, int]:
    """Closed-form totals of the plan's steps (cached on its integers); concat and CPU plans have none."""
    if not plan.stepped:
        return dict.fromkeys(OUT_FIELDS, 0)
    return dict(zip(OUT_FIELDS, _cached(plan.kernel_args()), strict=True))
