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
def _index(
    df: int,
    r: int,
    c: int,
    m_all: int,
    k_all: int,
    kcol: np.ndarray,
    f: int,
    h: int,
    w: int,
    ch: int,
    sf: int,
    sh: int,
    sw: int,
    per_set: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    # stream geometry: diagonal unroll of stacked blocks (OS: K x r slices of the transposed im2col
    # matrix, WS: M x r slices) or row-major K x c tiles per column fold (IS)
    # per im2col row m and column k, the input offsets of its word (tables: no division per entry)
    base_y = np.empty(m_all, dtype=np.int64)
    base_x = np.empty(m_all, dtype=np.int64)
    for m in range(m_all):
        base_y[m] = (m // f) * sh
        base_x[m] = (m % f) * sw
    ky = np.empty(k_all, dtype=np.int64)
    kx = np.empty(k_all, dtype=np.int64)
    kc = np.empty(k_all, dtype=np.int64)
    for k in range(k_all):
        ko = kcol[k]
        ky[k] = ko // (sf * ch)
        kx[k] = (ko // ch) % sf
        kc[k] = ko % ch
    if df == 2:
        folds = (m_all + c - 1) // c
        t = k_all
        nrows = 0
        spatial = m_all
    else:
        t = k_all if df == 0 else m_all
        spatial = m_all if df == 0 else k_all
        folds = (spatial + r - 1) // r
        nrows = folds * t
    total = t * spatial
    a_set = np.empty(total, dtype=np.int64)
    a_next = np.arange(total)
    first = np.full(h * w * ch, -1, dtype=np.int64)
    last = np.full(h * w * ch, -1, dtype=np.int64)
    p = 0
    cur_set = 0
    in_set = 0
    last_used = spatial - (folds - 1) * (c if df == 2 else r)
    n_diag = 1 if df == 2 else nrows + r - 1
    for d in range(n_diag):
        if df == 2:
            top, bottom = 0, 0  # unused: the IS stream is walked fold by fold below
        else:
            top = d if d < nrows - 1 else nrows - 1
            bottom = d - r + 1 if d - r + 1 > 0 else 0
        n_here = (top - bottom + 1) if df != 2 else total
        for i in range(n_here):
            if df == 2:
                fc = i // (t * c)
                rest = i - fc * t * c
                cu = c if fc < folds - 1 else last_used  # the last fold has only its real columns
                k = rest // cu
                m = fc * c + rest - k * cu
            else:
                row = top - i
                col = d - row
                blk = row // t
                if blk == folds - 1 and col >= last_used:
                    continue  # padding of the last fold: not in the stream
                if df == 0:
                    m, k = blk * r + col, row - blk * t
                else:
                    m, k = row - blk * t, blk * r + col
            y = base_y[m] + ky[k]
            x = base_x[m] + kx[k]
            if y >= h or x >= w:
                a_set[p] = -1  # the window runs off the input: no address (SCALE-Sim writes -1)
            else:
                a = (y * w + x) * ch + kc[k]
                a_set[p] = cur_set
                in_set += 1
                if in_set == per_set:
                    cur_set += 1
                    in_set = 0
                if first[a] < 0:
                    first[a] = p
                else:
                    a_next[last[a]] = p
                last[a] = p
            p += 1
    for a in range(h * w * ch):
        if first[a] >= 0:
            a_next[last[a]] = first[a]
    return a_set, a_next, cur_set + 1


def ifmap_address_index(
    layer: Layer, df: str, rows: int, cols: int, words: int, nm_support: bool
) -> tuple[np.ndarray, np.ndarray, int]:
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
    return _index(
        code,
        rows,
        cols,
        layer.gemm_m,
        len(kcol),
        kcol,
        layer.ofmap_w,
        layer.padded_h,
        layer.padded_w,
        c,
        layer.filt_w,
        layer.stride_h,
        layer.stride_w,
        -(-words // 100),
    )
