"""SCALE-Sim v3's address matrices, prefetch streams and demand matrices, built with numpy.

What the cycle kernel walks implicitly, spelled out element by element (for trace files and as the
definition the address-level reference model runs on). Facts from tools/scalesim/NOTES.md:

* Addresses: ifmap word (row y, col x, channel c) is ``ifmap_offset + (y*W + x)*C + c``; im2col
  entry (pixel m, window index k) reads row ``(m // F)*s + k // (Sf*C)`` and col
  ``(m % F)*s + (k // C) % Sf``; a window that runs off the input (SCALE-Sim's ceil output size)
  gives -1. Filter (k, n) is ``filter_offset + n*K + k``; ofmap (m, n) is ``ofmap_offset + m*N + n``.
  GEMM rows are a conv with H = M, W = 1, C = K and a 1x1 filter. Layer-wise N:M keeps the first N
  of every M window indices in both operands.
* Mapping: OS Sr=M, Sc=N, T=K; WS Sr=K, Sc=N, T=M; IS Sr=K, Sc=M, T=N. Folds: column folds outer.
* Prefetch order: per-fold slices stacked and read by anti-diagonals (OS both operands, WS ifmap,
  IS filter), or stacked row-major (WS filter, IS ifmap). Padding of partial folds is -1.
* Demand matrices: one row per cycle, as in the ``systolic_compute_*`` modules; -1 is no request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwmodel.errors import HwModelError
from hwmodel.workloads.layers import Layer, LayerKind

__all__ = [
    "Offsets",
    "Operands",
    "operand_matrices",
    "prefetch_streams",
    "ifmap_stream",
    "demand_matrices",
    "address_index",
    "PAD",
]

PAD = -2  # padding of partial folds in a stream (SCALE-Sim writes -1 for it too; kept apart here)


@dataclass(frozen=True, slots=True)
class Offsets:
    """Base addresses of the three operands (SCALE-Sim's IfmapOffset, FilterOffset, OfmapOffset)."""

    ifmap: int = 0
    filter: int = 10_000_000
    ofmap: int = 20_000_000


@dataclass(frozen=True, slots=True)
class Operands:
    """One GEMM's address matrices: ifmap M x K', filter K' x N, ofmap M x N (int64, -1 = none)."""

    ifmap: np.ndarray
    filter: np.ndarray
    ofmap: np.ndarray


def _kept_columns(layer: Layer, k: int, nm_support: bool) -> np.ndarray:
    idx = np.arange(k)
    nm = layer.weight_nm
    if not nm_support or nm is None or nm.dense:
        return idx
    return idx[idx % nm.m < nm.n]


def operand_matrices(layer: Layer, nm_support: bool = True, offsets: Offsets | None = None) -> Operands:
    """SCALE-Sim's operand matrices of one conv/GEMM layer (one group: depthwise layers repeat it).

    Args:
        layer: a conv, depthwise or GEMM layer (no dilation: SCALE-Sim has none).
        nm_support: whether the layer's N:M pattern shortens K (SCALE-Sim's SparsitySupport).
        offsets: operand base addresses.

    Raises:
        HwModelError: the layer does not run on the array, or is dilated.
    """
    if layer.kind not in (LayerKind.CONV, LayerKind.DEPTHWISE, LayerKind.GEMM):
        raise HwModelError(
            f"layer {layer.name!r}: {layer.kind.value} layers have no SCALE-Sim operand matrices"
        )
    if layer.dilation_h != 1 or layer.dilation_w != 1:
        raise HwModelError(
            f"layer {layer.name!r}: SCALE-Sim has no dilated convolutions; no operand matrices"
        )
    offsets = offsets or Offsets()
    h, w, c = layer.padded_h, layer.padded_w, layer.channels // layer.groups
    rf, sf, sh, sw = layer.filt_h, layer.filt_w, layer.stride_h, layer.stride_w
    e, f, n = layer.ofmap_h, layer.ofmap_w, layer.gemm_n
    m_all, k_all = e * f, rf * sf * c
    m = np.arange(m_all)[:, None]
    k = np.arange(k_all)[None, :]
    y = (m // f) * sh + k // (sf * c)
    x = (m % f) * sw + (k // c) % sf
    ifmap = np.where((y < h) & (x < w), offsets.ifmap + (y * w + x) * c + k % c, -1).astype(np.int64)
    filt = offsets.filter + np.arange(n)[None, :] * k_all + np.arange(k_all)[:, None]
    keep = _kept_columns(layer, k_all, nm_support)
    ofmap = offsets.ofmap + np.arange(m_all)[:, None] * n + np.arange(n)[None, :]
    return Operands(
        np.ascontiguousarray(ifmap[:, keep]),
        np.ascontiguousarray(filt[keep, :]).astype(np.int64),
        ofmap.astype(np.int64),
    )


def _blocks(mat: np.ndarray, width: int, axis_cols: bool = True) -> np.ndarray:
    """Slices of ``width`` columns, the last padded with PAD, stacked vertically."""
    rows, cols = mat.shape
    nb = -(-cols // width)
    padded = np.full((rows, nb * width), PAD, dtype=np.int64)
    padded[:, :cols] = mat
    return padded.reshape(rows, nb, width).transpose(1, 0, 2).reshape(nb * rows, width)


def _diagonal(mat: np.ndarray) -> np.ndarray:
    """Elements of ``mat`` by anti-diagonals, each from its bottom row up (SCALE-Sim's unroll)."""
    rows, cols = mat.shape
    i, j = np.indices((rows, cols))
    order = np.lexsort(((rows - 1 - i).ravel(), (i + j).ravel()))
    return mat.ravel()[order]


def ifmap_stream(df: str, r: int, c: int, ifmap: np.ndarray) -> np.ndarray:
    """The ifmap in SCALE-Sim's DRAM prefetch order; partial-fold padding is ``PAD``, holes -1."""
    if df == "os":
        return _diagonal(_blocks(ifmap.T, r))
    if df == "ws":
        return _diagonal(_blocks(ifmap, r))
    if df == "is":
        return _blocks(ifmap.T, c).ravel()
    raise HwModelError(f"unknown dataflow {df!r}; use os, ws or is")


def prefetch_streams(df: str, r: int, c: int, ops: Operands) -> tuple[np.ndarray, np.ndarray]:
    """(ifmap, filter) in SCALE-Sim's DRAM prefetch order; partial-fold padding is ``PAD``, holes -1."""
    if df == "os":
        return ifmap_stream(df, r, c, ops.ifmap), _diagonal(_blocks(ops.filter, c))
    if df == "ws":
        return ifmap_stream(df, r, c, ops.ifmap), _blocks(ops.filter, c).ravel()
    if df == "is":
        return ifmap_stream(df, r, c, ops.ifmap), _diagonal(_blocks(ops.filter.T, r))
    raise HwModelError(f"unknown dataflow {df!r}; use os, ws or is")


def address_index(stream: np.ndarray, words: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The kernel's address mode of a read stream (see ``hwmodel.systolic.kernel``).

    Args:
        stream: a prefetch stream (``PAD`` and -1 allowed).
        words: the SRAM's size in words (sets of ceil(words / 100) real elements).

    Returns:
        (set of each position or -1, next position holding the same address (cyclic), number of
        sets), over the stream without its ``PAD`` entries.
    """
    s = stream[stream != PAD]
    valid = s >= 0
    per_set = -(-words // 100)
    a_set = np.where(valid, (np.cumsum(valid) - 1) // per_set, -1).astype(np.int64)
    nsets = int(valid.sum()) // per_set + 1
    pos = np.flatnonzero(valid)
    order = np.argsort(s[pos], kind="stable")
    sp, sa = pos[order], s[pos][order]
    a_next = np.arange(len(s), dtype=np.int64)
    n = len(sp)
    if n:
        idx = np.arange(n)
        same = np.zeros(n, dtype=bool)
        same[:-1] = sa[1:] == sa[:-1]
        first = np.maximum.accumulate(np.where(np.r_[True, ~same[:-1]], idx, 0))
        a_next[sp] = np.where(same, sp[np.minimum(idx + 1, n - 1)], sp[first])
    return a_set, a_next, nsets


def _tile(mat: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.full((rows, cols), -1, dtype=np.int64)
    out[: mat.shape[0], : mat.shape[1]] = mat
    return out


def _skew(mat: np.ndarray) -> np.ndarray:
    rows, cols = mat.shape
    out = np.full((rows + cols - 1, cols), -1, dtype=np.int64)
    for j in range(cols):
        out[j : j + rows, j] = mat[:, j]
    return out


def _gap(rows: int, cols: int) -> np.ndarray:
    return np.full((rows, cols), -1, dtype=np.int64)


def demand_matrices(df: str, r: int, c: int, ops: Operands) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ifmap, filter, ofmap) demand matrices: one row per cycle, every fold, column folds outer."""
    a, b, o = ops.ifmap, ops.filter, ops.ofmap
    mm, kk = a.shape
    nn = b.shape[1]
    sr, sc = (mm, nn) if df == "os" else (kk, nn) if df == "ws" else (kk, mm)
    rf, cf = -(-sr // r), -(-sc // c)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for fc in range(cf):
        cs = slice(fc * c, min(sc, fc * c + c))
        for fr in range(rf):
            rs = slice(fr * r, min(sr, fr * r + r))
            if df == "os":
                t = kk
                dem = (
                    _skew(np.vstack((_tile(a.T[:, rs], t, r), _gap(c - 1, r)))),
                    _skew(np.vstack((_tile(b[:, cs], t, c), _gap(r - 1, c)))),
                    _skew(np.vstack((_gap(t - 1, c), _tile(o[rs, cs], r, c)[::-1]))),
                )
            elif df == "ws":
                t = mm
                dem = (
                    _skew(np.vstack((_gap(r, r), _tile(a[:, rs], t, r), _gap(c - 1, r)))),
                    np.vstack((_tile(b[rs, cs], r, c)[::-1], _gap(r + c + t - 2, c))),
                    _skew(np.vstack((_gap(2 * r - 1, c), _tile(o[:, cs], t, c)))),
                )
            else:
                t = nn
                dem = (
                    np.vstack((_tile(a.T[rs, cs], r, c)[::-1], _gap(r + c + t - 2, c))),
                    _skew(np.vstack((_gap(r, r), _tile(b[rs, :].T, t, r), _gap(c - 1, r)))),
                    _skew(np.vstack((_gap(2 * r - 1, c), _tile(o[cs, :].T, t, c)))),
                )
            for lst, d in zip(parts, dem, strict=True):
                lst.append(d)
    return np.vstack(parts[0]), np.vstack(parts[1]), np.vstack(parts[2])
