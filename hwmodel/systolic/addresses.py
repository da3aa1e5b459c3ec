"""The kernel's address mode of the ifmap stream, built in one pass (Numba).

Equal, array for array, to ``address_index(ifmap_stream(...))`` of ``hwmodel.systolic.operands`` (the
numpy definition, tested for exact equality): walks the ifmap prefetch stream in SCALE-Sim's order
without materialising the im2col matrix, computes each entry's address, the set holding it, and
links the copies of each address in a cycle.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hwmodel.workloads.layers import Layer

__all__ = ["ifmap_address_index"]


@njit(cache=True)
def _index(df, r, c, m_all, k_all, kcol, f, h, w, ch, sf, sh, sw, per_set):
    # stream geometry: diagonal unroll of stacked blocks (OS: K x r slices of the transposed im2col
    # matrix, WS: M x r slices) or row-major K x c tiles per column fold (IS)
    if df == 2:
        folds = (m_all + c - 1) // c
        total = k_all * m_all
    else:
        t = k_all if df == 0 else m_all
        width = r
        spatial = m_all if df == 0 else k_all
        folds = (spatial + r - 1) // r
        nrows = folds * t
        total = t * spatial
    a_set = np.empty(total, dtype=np.int64)
    a_next = np.arange(total)
    first = np.full(h * w * ch, -1, dtype=np.int64)
    last = np.full(h * w * ch, -1, dtype=np.int64)
    p = 0
    real = 0
    if df == 2:
        for fc in range(folds):
            cu = min(c, m_all - fc * c)
            for k in range(k_all):
                for col in range(cu):
                    real = _place(fc * c + col, k, p, real, a_set, a_next, first, last, kcol, f, h, w, ch, sf, sh, sw,
                                  per_set)
                    p += 1
    else:
        last_used = spatial - (folds - 1) * r
        for d in range(nrows + width - 1):
            top = d if d < nrows - 1 else nrows - 1
            bottom = d - width + 1 if d - width + 1 > 0 else 0
            for row in range(top, bottom - 1, -1):
                col = d - row
                blk = row // t
                if blk == folds - 1 and col >= last_used:
                    continue  # padding of the last fold: not in the stream
                if df == 0:
                    m, k = blk * r + col, row - blk * t
                else:
                    m, k = row - blk * t, blk * r + col
                real = _place(m, k, p, real, a_set, a_next, first, last, kcol, f, h, w, ch, sf, sh, sw, per_set)
                p += 1
    for a in range(h * w * ch):
        if first[a] >= 0:
            a_next[last[a]] = first[a]
    return a_set, a_next, real // per_set + 1


@njit(cache=True)
def _place(m, k, p, real, a_set, a_next, first, last, kcol, f, h, w, ch, sf, sh, sw, per_set):
    # one stream entry: its address (im2col pixel m, window index k), set and place among its copies
    ko = kcol[k]
    y = (m // f) * sh + ko // (sf * ch)
    x = (m % f) * sw + (ko // ch) % sf
    if y >= h or x >= w:
        a_set[p] = -1  # the window runs off the input: no address (SCALE-Sim writes -1)
        return real
    a = (y * w + x) * ch + ko % ch
    a_set[p] = real // per_set
    if first[a] < 0:
        first[a] = p
    else:
        a_next[last[a]] = p
    last[a] = p
    return real + 1


def ifmap_address_index(layer: Layer, df: str, rows: int, cols: int, words: int,
                        nm_support: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(set per stream position, next copy's position, number of sets) of a conv/GEMM layer's ifmap.

    Args:
        layer: the layer (one group; dilation 1).
        df: ``"os"``, ``"ws"`` or ``"is"``.
        rows, cols: array shape.
        words: ifmap SRAM words.
        nm_support: whether the layer's N:M pattern shortens K.
    """
    c = layer.channels // layer.groups
    k_all = layer.filt_h * layer.filt_w * c
    nm = layer.weight_nm
    kcol = np.arange(k_all, dtype=np.int64)
    if nm_support and nm is not None and not nm.dense:
        kcol = kcol[kcol % nm.m < nm.n]
    code = {"os": 0, "ws": 1, "is": 2}[df]
    return _index(code, rows, cols, layer.gemm_m, len(kcol), kcol, layer.ofmap_w, layer.padded_h, layer.padded_w,
                  c, layer.filt_w, layer.stride_h, layer.stride_w, -(-words // 100))
