"""Cycle-stepped systolic array + double-buffered memory system (Numba kernel).

The kernel walks every demand line (one per cycle) of every fold in SCALE-Sim's order (column folds
outer, row folds inner) and models SCALE-Sim v3's memory system:

* Read SRAMs (ifmap, filter) hold an operand *stream* in SCALE-Sim's prefetch order. Streaming
  operands (OS ifmap/filter, WS ifmap, IS filter) are per-fold blocks of T rows stacked and read out
  by anti-diagonals, so the last elements of a fold and the first of the next interleave; the
  stationary operand (WS filter, IS ifmap) is per-fold R x C tiles, row-major, loaded bottom row
  first. Each demand line asks for a contiguous run [lo, hi] of stream positions.
* Half of an SRAM is the active window, counted in SCALE-Sim's lines of ceil(words / 100) elements.
  Before cycle 0 the window is filled (SCALE-Sim's prefetch). A demand outside the window slides the
  window forward by the prefetch half (fewer lines when the stream is shorter), wrapping around the
  stream, one DRAM fetch per slide; a demand *behind* the window therefore wraps all the way round,
  as in SCALE-Sim. Fetches are back to back: fetch k arrives at k * (ceil(H / bw) + 1) - 1, H = half
  the SRAM (SCALE-Sim's DRAM lines of one transfer plus one cycle of latency).
* SCALE-Sim looks SRAM contents up by address and im2col repeats ifmap words, so a demand just
  behind the window (within a fold-boundary interleave) finds a resident copy (``ifmap_dup``). Other
  duplicate hits are not modelled: layers whose im2col matrix is much larger than its unique words
  and than half the SRAM (e.g. a 7x7 stride-2 conv1) get more stalls here than in SCALE-Sim.
* A late fetch delays the line exactly as SCALE-Sim's read buffer does: ``offset += late`` and, when
  late > 0, once more (so a wait of w cycles costs 2w); an early one lowers the offset.
* The ofmap SRAM is SCALE-Sim's write buffer: when more than half is occupied and no drain is
  running, half is drained at ``bw`` words per cycle; a write into a full buffer waits for the drain.
* A line's stall is the largest of the three; the array (all later lines) shifts by it.

With ``user_bw == 0`` (SCALE-Sim CALC mode) the same fetches are counted but nothing stalls.
Only scalars cross into the kernel; it returns an int64 vector indexed by the ``OUT_*`` constants.
``hwmodel.systolic.reference`` is the pure-Python definition it must match exactly.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "OUT_LEN", "OUT_COMPUTE", "OUT_STALL", "OUT_DRAM_IFMAP", "OUT_DRAM_FILTER", "OUT_DRAM_OFMAP",
    "OUT_PREFETCH_IFMAP", "OUT_PREFETCH_FILTER", "OUT_STOP_IFMAP", "OUT_STOP_FILTER", "OUT_STOP_OFMAP",
    "OUT_START_OFMAP", "OUT_FETCHES", "simulate_gemm",
]

OUT_COMPUTE = 0
OUT_STALL = 1
OUT_DRAM_IFMAP = 2
OUT_DRAM_FILTER = 3
OUT_DRAM_OFMAP = 4
OUT_PREFETCH_IFMAP = 5
OUT_PREFETCH_FILTER = 6
OUT_STOP_IFMAP = 7
OUT_STOP_FILTER = 8
OUT_STOP_OFMAP = 9
OUT_START_OFMAP = 10
OUT_FETCHES = 11
OUT_LEN = 12

# read-stream state vector
_WE, _K, _ARR, _ACT, _JUMP, _MOD, _LC, _RES, _TOL = 0, 1, 2, 3, 4, 5, 6, 7, 8


@njit(cache=True)
def _ramp(y, n):
    # sum_{c<n} max(y - c, 0)
    if y <= 0:
        return 0
    m = n if n < y else y
    return m * y - m * (m - 1) // 2


@njit(cache=True)
def _skew(x, n, length):
    # sum_{c<n} clamp(x - c, 0, length): elements of an n-column, length-row matrix with row + col < x
    return _ramp(x, n) - _ramp(x - length, n)


@njit(cache=True)
def _diag_pos(row, col, width, nrows, t, last_used):
    # position of (row, col) among the real elements when an nrows x width matrix is read by
    # anti-diagonals, bottom row first; the last T-row block has only ``last_used`` real columns
    # (SCALE-Sim pads it with -1, which its SRAM lines skip)
    d = row + col
    if width - 1 <= d < nrows - t or (width - 1 <= d < nrows and last_used == width):
        return d * width - width * (width - 1) // 2 + col  # a full diagonal away from both ends
    top = d if d < nrows else nrows - 1
    pos = _skew(d, width, nrows) + top - row
    if last_used < width:
        p0 = nrows - t
        pos -= _skew(d - p0 - last_used, width - last_used, t)  # padding on earlier diagonals
        lo = last_used if last_used > d - nrows + 1 else d - nrows + 1
        hi = col - 1 if col - 1 < d - p0 else d - p0
        if hi >= lo:
            pos -= hi - lo + 1  # padding earlier on the same diagonal
    return pos


@njit(cache=True)
def _init_stream(st, words, stream_len, bw, tol):
    # SCALE-Sim keeps a read SRAM as lines of ceil(words / 100) elements; the active half holds
    # ceil(half / e) lines and a slide moves by the prefetch half's lines, never by more lines than
    # the stream has beyond the window.
    e = (words + 99) // 100
    half = (words + 1) // 2
    lines = (stream_len + e - 1) // e
    act_lines = min((half + e - 1) // e, lines)
    pre_lines = max(1, min((words - half + e - 1) // e, lines - act_lines))
    st[_ACT] = act_lines * e
    st[_JUMP] = pre_lines * e
    st[_MOD] = lines * e
    st[_RES] = 1 if lines <= act_lines else 0
    st[_WE] = min(st[_ACT], stream_len)
    st[_K] = 0
    st[_ARR] = 0
    st[_LC] = int(np.ceil(half / bw)) + 1  # request lines of a half + 1 cycle latency
    st[_TOL] = tol


@njit(cache=True)
def _serve(st, pos, now, offset, user_bw, stall_factor):
    # make stream position ``pos`` resident; returns the line's updated service offset
    if st[_RES] == 1:
        return offset
    ws = st[_WE] - st[_ACT]
    u = pos
    if u < ws:
        u += st[_MOD] * ((ws - u + st[_MOD] - 1) // st[_MOD])
    if u >= st[_WE] and u - st[_MOD] >= 0 and ws - (u - st[_MOD]) <= st[_TOL]:
        return offset  # just behind the window: an im2col duplicate of it is still resident
    while u >= st[_WE]:
        st[_WE] += st[_JUMP]
        st[_K] += 1
        if user_bw:
            st[_ARR] = st[_K] * st[_LC] - 1  # SCALE-Sim starts from last_prefetch = -1
            late = st[_ARR] - (now + offset)
            offset += late
            if late > 0 and stall_factor == 2:
                offset += late
        else:
            st[_ARR] = now
    return offset


@njit(cache=True)
def _line_range(kind, j, blk, t, used, width, nrows, last_used, delay, off, rows, cols_used, r):
    # (lo, hi) stream positions a fold asks for on its cycle j, or (-1, -1) for none
    if kind == 0:  # anti-diagonal stream of T-row blocks
        jj = j - delay
        c_lo = jj - t + 1 if jj - t + 1 > 0 else 0
        c_hi = jj if jj < used - 1 else used - 1
        if jj < 0 or c_lo > c_hi:
            return -1, -1
        row0 = blk * t + jj
        return (_diag_pos(row0 - c_lo, c_lo, width, nrows, t, last_used),
                _diag_pos(row0 - c_hi, c_hi, width, nrows, t, last_used))
    row = r - 1 - j  # stationary tile, bottom row first, one row per cycle
    if row < 0 or row >= rows:
        return -1, -1
    return off + row * cols_used, off + row * cols_used + cols_used - 1


@njit(cache=True)
def simulate_gemm(df, r, c, sr, sc, t, ifmap_words, filter_words, ofmap_words, bw_i, bw_f, bw_o, user_bw,
                  stall_factor, ifmap_dup):
    """Step one GEMM through the array and its memories.

    Args:
        df: dataflow code (0 OS, 1 WS, 2 IS).
        r, c: array rows and columns.
        sr, sc, t: spatial rows, spatial columns and temporal length of the mapping.
        ifmap_words, filter_words, ofmap_words: SRAM capacities in words.
        bw_i, bw_f, bw_o: DRAM words per cycle of the ifmap, filter and ofmap buffers.
        user_bw: 1 if the bandwidth limits fills (stalls), 0 to only count traffic.
        stall_factor: 2 charges a late read twice as SCALE-Sim v3 does; 1 charges the wait once.
        ifmap_dup: 1 when im2col repeats ifmap words (overlapping conv windows): a demand just behind
            the window (within the fold-boundary interleave) then hits a resident copy, as SCALE-Sim's
            address lookup does, instead of wrapping round the stream.

    Returns:
        int64 vector indexed by the ``OUT_*`` constants.
    """
    out = np.zeros(OUT_LEN, dtype=np.int64)
    rf = (sr + r - 1) // r
    cf = (sc + c - 1) // c
    fold_len = t + r + c - 2 if df == 0 else 2 * r + c + t - 2
    # stream A is the ifmap, B the filter: (kind 0 diagonal / 1 tile, block width, block count)
    if df == 0:
        ka, wa, na, da = 0, r, rf, 0
        kb, wb, nb, db = 0, c, cf, 0
    elif df == 1:
        ka, wa, na, da = 0, r, rf, r
        kb, wb, nb, db = 1, 0, 0, 0
    else:
        ka, wa, na, da = 1, 0, 0, 0
        kb, wb, nb, db = 0, r, rf, r
    # real elements of each stream and the real columns of its last block
    last_a = sr - (rf - 1) * r
    last_b = sc - (cf - 1) * c if df == 0 else sr - (rf - 1) * r
    ls_a = t * (na * wa - wa + last_a) if ka == 0 else sr * sc
    ls_b = t * (nb * wb - wb + last_b) if kb == 0 else sr * sc
    sa = np.zeros(9, dtype=np.int64)
    sb = np.zeros(9, dtype=np.int64)
    tol_a = 0
    if ifmap_dup:
        tol_a = r * c if ka == 1 else wa * (wa + 1) // 2
    _init_stream(sa, ifmap_words, ls_a, bw_i, tol_a)
    _init_stream(sb, filter_words, ls_b, bw_f, 0)
    out[OUT_PREFETCH_IFMAP] = int(np.ceil(min(sa[_ACT], ls_a) / bw_i))
    out[OUT_PREFETCH_FILTER] = int(np.ceil(min(sb[_ACT], ls_b) / bw_f))
    # ofmap write buffer (SCALE-Sim write_buffer: drain half when more than half is occupied)
    half_o = ofmap_words - (ofmap_words + 1) // 2
    occupied = 0
    drain_end = -1
    first_drain = -1
    now = 0
    stall = 0
    for fc in range(cf):
        cu = min(c, sc - fc * c)
        for fr in range(rf):
            ru = min(r, sr - fr * r)
            tile_off = fc * sr * c + fr * r * cu
            blk_a = fr
            blk_b = fr if df == 2 else fc
            used_b = ru if df == 2 else cu
            if df == 0:
                wn, wl, wd = cu, ru, t - 1 + (r - ru)
            else:
                wn, wl, wd = cu, t, 2 * r - 1
            written = 0
            for j in range(fold_len):
                off_i = 1
                lo, hi = _line_range(ka, j, blk_a, t, ru, wa, t * na, last_a, da, tile_off, ru, cu, r)
                if lo >= 0:
                    off_i = _serve(sa, lo, now, off_i, user_bw, stall_factor)
                    off_i = _serve(sa, hi, now, off_i, user_bw, stall_factor)
                off_f = 1
                lo, hi = _line_range(kb, j, blk_b, t, used_b, wb, t * nb, last_b, db, tile_off, ru, cu, r)
                if lo >= 0:
                    off_f = _serve(sb, lo, now, off_f, user_bw, stall_factor)
                    off_f = _serve(sb, hi, now, off_f, user_bw, stall_factor)
                w = _skew(j - wd + 1, wn, wl)
                cur = now
                left = w - written
                while left > 0:  # the line's writes, in bulk between buffer events
                    if cur < drain_end:
                        if not user_bw:
                            occupied += left
                            break
                        step = ofmap_words - occupied if ofmap_words - occupied > 1 else 1
                        if left < step:
                            occupied += left
                            break
                        occupied += step
                        left -= step
                        cur = drain_end  # a write into the full buffer waits for the drain
                    else:
                        step = half_o - occupied + 1 if half_o - occupied + 1 > 1 else 1
                        if left < step:
                            occupied += left
                            break
                        occupied += step
                        left -= step
                        if first_drain < 0:
                            first_drain = cur
                        drained = half_o if half_o < occupied else occupied
                        drain_end = cur + int(np.ceil(drained / bw_o)) - 1
                        occupied -= drained
                written = w
                late = off_i - 1
                if off_f - 1 > late:
                    late = off_f - 1
                if cur - now > late:
                    late = cur - now
                if user_bw and late > 0:
                    stall += late
                    now += late
                now += 1
    out[OUT_COMPUTE] = rf * cf * fold_len - 1
    out[OUT_STALL] = stall
    out[OUT_DRAM_IFMAP] = min(sa[_ACT], ls_a) + sa[_K] * (ifmap_words - (ifmap_words + 1) // 2)
    out[OUT_DRAM_FILTER] = min(sb[_ACT], ls_b) + sb[_K] * (filter_words - (filter_words + 1) // 2)
    out[OUT_DRAM_OFMAP] = sr * sc if df == 0 else t * sc * rf
    out[OUT_STOP_IFMAP] = sa[_ARR]
    out[OUT_STOP_FILTER] = sb[_ARR]
    last = now - 1
    if occupied > 0:  # SCALE-Sim empties the buffer after the last line, one half after another
        start = last if last > drain_end else drain_end + 1
        if first_drain < 0:
            first_drain = start
        drain_end = start + int(np.ceil(occupied / bw_o)) - 1
    out[OUT_STOP_OFMAP] = drain_end if drain_end > last else last
    out[OUT_START_OFMAP] = first_drain if first_drain >= 0 else last
    out[OUT_FETCHES] = sa[_K] + sb[_K]
    return out
