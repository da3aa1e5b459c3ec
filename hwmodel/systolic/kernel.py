"""Cycle-stepped systolic array + double-buffered memory system (Numba kernel).

The kernel walks every demand line (one per cycle) of every fold in SCALE-Sim's order (column folds
outer, row folds inner) and models SCALE-Sim v3's memory system:

* Read SRAMs (ifmap, filter) hold an operand *stream* in SCALE-Sim's prefetch order. Streaming
  operands (OS ifmap/filter, WS ifmap, IS filter) are per-fold blocks of T rows stacked and read out
  by anti-diagonals, so the last elements of a fold and the first of the next interleave; the
  stationary operand (WS filter, IS ifmap) is per-fold R x C tiles, row-major, loaded bottom row
  first. Each demand line asks for a contiguous run [lo, hi] of stream positions.
* Half of an SRAM is the active window, counted in SCALE-Sim's sets of ceil(words / 100) elements.
  Before cycle 0 the window is filled (SCALE-Sim's prefetch). A demand outside the window slides the
  window forward by the prefetch half (fewer lines when the stream is shorter), wrapping around the
  stream, one DRAM fetch per slide; a demand *behind* the window therefore wraps all the way round,
  as in SCALE-Sim. Fetches are back to back: fetch k arrives at k * (ceil(H / bw) + 1) - 1, H = half
  the SRAM (SCALE-Sim's DRAM lines of one transfer plus one cycle of latency).
* SCALE-Sim looks SRAM contents up by address and im2col repeats ifmap words: an element hits when
  *any* copy of its word is in an active set. For such streams (and for windows that run off the
  input, which SCALE-Sim leaves out of the stream) the caller passes, per stream position, the set
  holding it and the next copy's position (address mode); the line is then served element by
  element, as ``hwmodel.systolic.memory_model`` (the address-level definition) does.
* A late fetch delays the line exactly as SCALE-Sim's read buffer does: ``offset += late`` and, when
  late > 0, once more (so a wait of w cycles costs 2w); an early one lowers the offset.
* The ofmap SRAM is SCALE-Sim's write buffer, DRAM line by DRAM line (``bw`` words): when more than
  half is occupied and no drain is running, the open line is closed and up to half the buffer's lines
  drain, one per cycle; a write into a full buffer waits for the drain; after the last demand line
  everything left drains.
* A line's stall is the largest of the three; the array (all later lines) shifts by it.

With ``user_bw == 0`` (SCALE-Sim CALC mode) the same fetches are counted but nothing stalls.
Only scalars and two contiguous int64 arrays cross into the kernel; it returns an int64 vector indexed by the ``OUT_*`` constants.
``hwmodel.systolic.reference`` is the pure-Python definition it must match exactly, and
``hwmodel.systolic.memory_model`` the same model over real addresses (equal to SCALE-Sim).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "OUT_LEN",
    "OUT_COMPUTE",
    "OUT_STALL",
    "OUT_DRAM_IFMAP",
    "OUT_DRAM_FILTER",
    "OUT_DRAM_OFMAP",
    "OUT_PREFETCH_IFMAP",
    "OUT_PREFETCH_FILTER",
    "OUT_STOP_IFMAP",
    "OUT_STOP_FILTER",
    "OUT_STOP_OFMAP",
    "OUT_START_OFMAP",
    "OUT_FETCHES",
    "simulate_gemm",
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
_WE, _K, _ARR, _ACT, _JUMP, _MOD, _LC, _RES = 0, 1, 2, 3, 4, 5, 6, 7


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
def _init_stream(st, words, stream_len, bw, nsets):
    # SCALE-Sim keeps a read SRAM as sets of e = ceil(words / 100) real elements (len // e + 1 sets:
    # the last may be empty); the active half holds A = ceil(ceil(words/2) / e) sets and a slide moves
    # P = ceil((words - ceil(words/2)) / e) sets, never more than the stream has beyond the window.
    # Position mode (nsets == 0) keeps the window in elements (sets * e); address mode in sets.
    e = (words + 99) // 100
    active = (words + 1) // 2
    lines = stream_len // e + 1 if nsets <= 0 else nsets
    act_lines = min((active + e - 1) // e, lines)
    pre_lines = max(1, min((words - active + e - 1) // e, lines - act_lines))
    unit = e if nsets <= 0 else 1
    st[_ACT] = act_lines * unit
    st[_JUMP] = pre_lines * unit
    st[_MOD] = lines * unit
    st[_RES] = 1 if lines <= act_lines else 0
    st[_WE] = min(st[_ACT], stream_len) if nsets <= 0 else 0  # address mode: the window's first set
    st[_K] = 0
    st[_ARR] = -1
    st[_LC] = int(np.ceil((words - active) / bw)) + 1  # request lines of a prefetch half + 1 cycle latency


@njit(cache=True)
def _slide(st, now, offset, user_bw, stall_factor):
    # one DRAM fetch per slide of the window; a line waits for a late one (twice, as SCALE-Sim counts)
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
def _serve(st, pos, now, offset, user_bw, stall_factor):
    # position mode: make stream position ``pos`` resident; returns the line's updated service offset
    if st[_RES] == 1:
        return offset
    ws = st[_WE] - st[_ACT]
    u = pos
    if u < ws:  # behind the window: its next copy is a wrap round the stream later
        u += st[_MOD] * ((ws - u + st[_MOD] - 1) // st[_MOD])
    while u >= st[_WE]:
        st[_WE] += st[_JUMP]
        offset = _slide(st, now, offset, user_bw, stall_factor)
    return offset


@njit(cache=True)
def _window_distance(st, s):
    d = s - st[_WE]
    return d + st[_MOD] if d < 0 else d


@njit(cache=True)
def _hit(st, p, a_set, a_next):
    # address lookup: is any copy of the word at position p in an active set?
    q = p
    while True:
        if _window_distance(st, a_set[q]) < st[_ACT]:
            return True
        q = a_next[q]
        if q == p:
            return False


@njit(cache=True)
def _serve_addr(st, lo, hi, now, offset, user_bw, stall_factor, a_set, a_next):
    # address mode: serve positions lo..hi in SCALE-Sim's column order; a_set -1 marks a hole
    if st[_RES] == 1:
        return offset
    while lo <= hi and a_set[lo] < 0:
        lo += 1
    while hi >= lo and a_set[hi] < 0:
        hi -= 1
    if lo > hi:
        return offset
    if _window_distance(st, a_set[lo]) <= _window_distance(st, a_set[hi]) < st[_ACT]:
        return offset  # every element's own set is active (sets rise along the stream)
    for p in range(lo, hi + 1):
        if a_set[p] < 0:
            continue
        while not _hit(st, p, a_set, a_next):
            st[_WE] = (st[_WE] + st[_JUMP]) % st[_MOD]
            offset = _slide(st, now, offset, user_bw, stall_factor)
    return offset


# ofmap write-buffer state vector (SCALE-Sim's write_buffer, DRAM line by DRAM line)
# (lines are counted; only the lines closed early, part full, are kept: (line number, fill) in a ring)
_FREE, _DEND, _FILL, _HEAD, _COUNT, _ACC, _FIRST, _STOP, _LINE, _ACTV, _PERD, _PHEAD, _PCOUNT = range(13)


@njit(cache=True)
def _wb_init(ob, words, bw):
    line = int(bw) if bw >= 1 else 1  # a DRAM line holds bw words
    active = (words + 1) // 2
    ob[_FREE] = words
    ob[_DEND] = 0
    ob[_FILL] = 0
    ob[_HEAD] = 0
    ob[_COUNT] = 0
    ob[_ACC] = 0
    ob[_FIRST] = -1
    ob[_STOP] = -1
    ob[_LINE] = line
    ob[_ACTV] = active
    ob[_PERD] = (words - active + line - 1) // line  # DRAM lines per drain
    ob[_PHEAD] = 0
    ob[_PCOUNT] = 0


@njit(cache=True)
def _wb_push_partial(ob, ring, fill):
    # close the open line early (fill < line): remember its number and fill
    slot = 2 * ((ob[_PHEAD] + ob[_PCOUNT]) % (ring.shape[0] // 2))
    ring[slot] = ob[_HEAD] + ob[_COUNT]
    ring[slot + 1] = fill
    ob[_PCOUNT] += 1
    ob[_COUNT] += 1


@njit(cache=True)
def _wb_add(ob, ring, k):
    # store k words: full DRAM lines close as they fill
    ob[_FREE] -= k
    fill = ob[_FILL] + k
    full = fill // ob[_LINE]
    ob[_COUNT] += full
    ob[_FILL] = fill - full * ob[_LINE]


@njit(cache=True)
def _wb_drain(ob, ring, start, bw):
    # write the oldest lines (up to a drain half) to DRAM, one line per cycle at bw words/cycle
    n = min(ob[_PERD], ob[_COUNT])
    last_line = ob[_HEAD] + n - 1
    last_fill = ob[_LINE]
    half = ring.shape[0] // 2
    while ob[_PCOUNT] > 0 and ring[2 * ob[_PHEAD]] <= last_line:
        if ring[2 * ob[_PHEAD]] == last_line:
            last_fill = ring[2 * ob[_PHEAD] + 1]
        ob[_PHEAD] = (ob[_PHEAD] + 1) % half
        ob[_PCOUNT] -= 1
    words = n * ob[_LINE] - (ob[_LINE] - last_fill)  # SCALE-Sim counts the padding of all but the last line
    ob[_HEAD] += n
    ob[_COUNT] -= n
    ob[_ACC] += words
    ob[_FREE] += words
    cycles = n if bw == ob[_LINE] else int(np.ceil(n * ob[_LINE] / bw))
    end = start + cycles - 1
    if ob[_FIRST] < 0:
        ob[_FIRST] = start
    if end > ob[_STOP]:
        ob[_STOP] = end
    ob[_DEND] = end
    return end


@njit(cache=True)
def _wb_write(ob, ring, left, now, bw):
    # a demand line's ``left`` writes at cycle ``now``, in bulk between buffer events; returns the
    # cycle its last write is served (a write into a full buffer waits for the running drain; the
    # caller charges that wait as a stall in USER mode only)
    while left > 0:
        if now < ob[_DEND]:
            k = ob[_FREE] if ob[_FREE] >= 1 else 1
            if left < k:
                _wb_add(ob, ring, left)
                break
            _wb_add(ob, ring, k)
            left -= k
            now = ob[_DEND]
        else:
            k = ob[_FREE] - ob[_ACTV] + 1
            if k < 1:
                k = 1
            if left < k:
                _wb_add(ob, ring, left)
                break
            _wb_add(ob, ring, k)
            left -= k
            if ob[_FILL] > 0:  # the open line is closed early and drained with the others
                _wb_push_partial(ob, ring, ob[_FILL])
                ob[_FILL] = 0
            _wb_drain(ob, ring, now, bw)
    return now


@njit(cache=True)
def _wb_flush(ob, ring, cycle, bw):
    # after the last line: everything left drains, one drain after another from ``cycle``
    if ob[_FILL] > 0:
        _wb_push_partial(ob, ring, ob[_FILL])
        ob[_FILL] = 0
    while ob[_COUNT] > 0:
        cycle = _wb_drain(ob, ring, cycle, bw) + 1


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
        return (
            _diag_pos(row0 - c_lo, c_lo, width, nrows, t, last_used),
            _diag_pos(row0 - c_hi, c_hi, width, nrows, t, last_used),
        )
    row = r - 1 - j  # stationary tile, bottom row first, one row per cycle
    if row < 0 or row >= rows:
        return -1, -1
    return off + row * cols_used, off + row * cols_used + cols_used - 1


@njit(cache=True)
def simulate_gemm(
    df,
    r,
    c,
    sr,
    sc,
    t,
    ifmap_words,
    filter_words,
    ofmap_words,
    bw_i,
    bw_f,
    bw_o,
    user_bw,
    stall_factor,
    a_set,
    a_next,
    a_nsets,
):
    """Step one GEMM through the array and its memories.

    Args:
        df: dataflow code (0 OS, 1 WS, 2 IS).
        r, c: array rows and columns.
        sr, sc, t: spatial rows, spatial columns and temporal length of the mapping.
        ifmap_words, filter_words, ofmap_words: SRAM capacities in words.
        bw_i, bw_f, bw_o: DRAM words per cycle of the ifmap, filter and ofmap buffers.
        user_bw: 1 if the bandwidth limits fills (stalls), 0 to only count traffic.
        stall_factor: 2 charges a late read twice as SCALE-Sim v3 does; 1 charges the wait once.
        a_set, a_next, a_nsets: address mode for the ifmap stream (``a_nsets`` > 0): per stream
            position (partial-fold padding left out) the set holding it (-1: a window off the input)
            and the position of the next copy of the same word (a cycle through all copies), and the
            number of sets. An element then hits when any copy is active, as SCALE-Sim's lookup by
            address does. Empty arrays and 0: position mode (every word appears once).

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
    sa = np.zeros(8, dtype=np.int64)
    sb = np.zeros(8, dtype=np.int64)
    _init_stream(sa, ifmap_words, ls_a, bw_i, a_nsets)
    _init_stream(sb, filter_words, ls_b, bw_f, 0)
    # DRAM lines before cycle 0: half the SRAM, at most the stream (partial-fold padding included)
    pad_a = t * na * wa if ka == 0 else sr * c * cf
    pad_b = t * nb * wb if kb == 0 else sr * c * cf
    pre_a = min(int(np.ceil(((ifmap_words + 1) // 2) / bw_i)), int(np.ceil(pad_a / bw_i)))
    pre_b = min(int(np.ceil(((filter_words + 1) // 2) / bw_f)), int(np.ceil(pad_b / bw_f)))
    out[OUT_PREFETCH_IFMAP] = pre_a
    out[OUT_PREFETCH_FILTER] = pre_b
    # ofmap write buffer (SCALE-Sim write_buffer: drain half when more than half is occupied)
    ob = np.zeros(13, dtype=np.int64)
    writes = sr * sc if df == 0 else t * sc * rf
    # part-full lines not yet drained: (line number, fill) pairs; there are fewer such lines than words
    # in the buffer (its size plus one at most)
    ring = np.zeros(2 * (min(ofmap_words, writes) + 8), dtype=np.int64)
    _wb_init(ob, ofmap_words, bw_o)
    last_o = 0
    lag = 0
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
                    if a_nsets > 0:
                        off_i = _serve_addr(sa, lo, hi, now, off_i, user_bw, stall_factor, a_set, a_next)
                    else:
                        off_i = _serve(sa, lo, now, off_i, user_bw, stall_factor)
                        off_i = _serve(sa, hi, now, off_i, user_bw, stall_factor)
                off_f = 1
                lo, hi = _line_range(kb, j, blk_b, t, used_b, wb, t * nb, last_b, db, tile_off, ru, cu, r)
                if lo >= 0:
                    off_f = _serve(sb, lo, now, off_f, user_bw, stall_factor)
                    off_f = _serve(sb, hi, now, off_f, user_bw, stall_factor)
                w = _skew(j - wd + 1, wn, wl)
                # the write buffer runs on SCALE-Sim's timeline: in CALC mode its waits (lag) shift it
                # but are not charged to the array
                cur = now + lag
                if w > written:
                    cur = _wb_write(ob, ring, w - written, now + lag, bw_o)
                last_o = cur
                written = w
                late = off_i - 1
                if off_f - 1 > late:
                    late = off_f - 1
                if not user_bw:
                    lag = cur - now
                elif cur - now > late:
                    late = cur - now
                if user_bw and late > 0:
                    stall += late
                    now += late
                now += 1
    out[OUT_COMPUTE] = rf * cf * fold_len - 1
    out[OUT_STALL] = stall
    if user_bw:  # SCALE-Sim counts whole DRAM lines: the first fill, then a prefetch half per fetch
        out[OUT_DRAM_IFMAP] = int(pre_a * bw_i) + sa[_K] * int((sa[_LC] - 1) * bw_i)
        out[OUT_DRAM_FILTER] = int(pre_b * bw_f) + sb[_K] * int((sb[_LC] - 1) * bw_f)
    else:
        out[OUT_DRAM_IFMAP] = min(sa[_ACT], ls_a) + sa[_K] * (ifmap_words - (ifmap_words + 1) // 2)
        out[OUT_DRAM_FILTER] = min(sb[_ACT], ls_b) + sb[_K] * (filter_words - (filter_words + 1) // 2)
    out[OUT_STOP_IFMAP] = sa[_ARR]
    out[OUT_STOP_FILTER] = sb[_ARR]
    _wb_flush(ob, ring, last_o, bw_o)
    out[OUT_DRAM_OFMAP] = ob[_ACC]
    out[OUT_STOP_OFMAP] = ob[_STOP]
    out[OUT_START_OFMAP] = ob[_FIRST]
    out[OUT_FETCHES] = sa[_K] + sb[_K]
    return out
