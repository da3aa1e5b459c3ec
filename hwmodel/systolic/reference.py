"""Pure-Python definition of the systolic kernel (``hwmodel.systolic.kernel.simulate_gemm``).

Written for clarity, not speed, and independently of the kernel's closed forms: each operand stream
is built element by element in SCALE-Sim's prefetch order (stacked per-fold blocks read out by
anti-diagonals, or row-major stationary tiles), every demand line lists the elements it asks for,
and each element is looked up and served one at a time. Tests require exact equality with the Numba
kernel on seeded random shapes; keep shapes small.

SCALE-Sim v3's read buffer adds a late fetch's delay to the request offset twice
(``offset += late; if late > 0: offset += late``); ``stall_factor`` 2 follows it, 1 charges it once.
"""

from __future__ import annotations

import math

__all__ = ["simulate_gemm_reference"]


def _diagonal_stream(blocks: int, t: int, width: int, used: list[int]) -> list:
    """Keys (block, row-in-block, col) of a stacked (blocks*t) x width matrix read by anti-diagonals."""
    nrows = blocks * t
    out = []
    for d in range(nrows + width - 1):
        for row in range(min(d, nrows - 1), max(0, d - width + 1) - 1, -1):
            col = d - row
            block = row // t
            if col < used[block]:  # SCALE-Sim pads partial blocks with -1, which its SRAM lines skip
                out.append((block, row % t, col))
    return out


def _tile_stream(col_folds: int, sr: int, cols_used: list[int]) -> list:
    """Keys (col-fold, k, col) of the stationary operand: per column fold, Sr rows of Cu elements."""
    return [(fc, k, m) for fc in range(col_folds) for k in range(sr) for m in range(cols_used[fc])]


class _ReadSram:
    """A double-buffered read SRAM over one stream, with SCALE-Sim's window and fetch timing."""

    def __init__(self, words: int, stream: list, bw: float, user_bw: int, stall_factor: int,
                 tolerance: int = 0) -> None:
        self.tolerance = tolerance  # how far behind the window an im2col duplicate may still be resident
        self.position = {key: i for i, key in enumerate(stream)}
        self.user_bw, self.stall_factor = user_bw, stall_factor
        line = math.ceil(words / 100)  # SCALE-Sim's hashed-buffer line: 1% of the SRAM
        half = math.ceil(words / 2)
        self.fetch_words = words - half  # a fetch refills the prefetch half
        stream_lines = math.ceil(len(stream) / line)
        active_lines = min(math.ceil(half / line), stream_lines)
        jump_lines = max(1, min(math.ceil(self.fetch_words / line), stream_lines - active_lines))
        self.active, self.jump, self.modulus = active_lines * line, jump_lines * line, stream_lines * line
        self.fetch_cycles = math.ceil(half / bw) + 1  # request lines of a half + 1 cycle DRAM latency
        self.resident = stream_lines <= active_lines
        self.stream_len = len(stream)
        self.window_end = min(self.active, len(stream))
        self.prefetch_cycles = math.ceil(self.window_end / bw)
        self.fetches = 0
        self.arrival = 0

    def serve_line(self, keys: list, now: int) -> int:
        """Serve one demand line; return its stall (SCALE-Sim: service cycle - request cycle - 1).

        A line asks for a contiguous run of stream positions; it is served as its first and its last
        element (the elements between change nothing, except near a tolerated duplicate).
        """
        offset = 1
        ends = [min(keys, key=self.position.__getitem__), max(keys, key=self.position.__getitem__)] if keys else []
        for key in ends:
            if self.resident:
                continue
            pos = self.position[key]
            behind = None
            while pos < self.window_end - self.active:  # behind the window: its next copy, a wrap later
                behind = pos
                pos += self.modulus
            if pos >= self.window_end and behind is not None \
                    and self.window_end - self.active - behind <= self.tolerance:
                continue
            while pos >= self.window_end:
                self.window_end += self.jump
                self.fetches += 1
                if not self.user_bw:
                    self.arrival = now
                    continue
                self.arrival = self.fetches * self.fetch_cycles - 1  # SCALE-Sim starts at last_prefetch = -1
                late = self.arrival - (now + offset)
                offset += late * (self.stall_factor if late > 0 else 1)
        return offset - 1

    @property
    def dram_words(self) -> int:
        return min(self.active, self.stream_len) + self.fetches * self.fetch_words


class _WriteSram:
    """SCALE-Sim's ofmap write buffer: drain half when over half full; a full buffer waits."""

    def __init__(self, words: int, bw: float, user_bw: int) -> None:
        self.words, self.half, self.bw, self.user_bw = words, words - math.ceil(words / 2), bw, user_bw
        self.occupied, self.drain_end, self.first_drain = 0, -1, -1

    def write(self, count: int, now: int) -> int:
        cur = now
        for _ in range(count):
            self.occupied += 1
            if cur < self.drain_end:
                if self.occupied >= self.words and self.user_bw:
                    cur = self.drain_end
            elif self.occupied > self.half:
                if self.first_drain < 0:
                    self.first_drain = cur
                drained = min(self.half, self.occupied)
                self.drain_end = cur + math.ceil(drained / self.bw) - 1
                self.occupied -= drained
        return cur - now


def _demand(df: int, j: int, fr: int, fc: int, r: int, t: int, ru: int, cu: int) -> tuple[list, list, int]:
    """(ifmap keys, filter keys, ofmap words written) of fold (fr, fc) on its cycle j."""
    def streamed(block: int, used: int, delay: int) -> list:
        return [(block, j - delay - col, col) for col in range(used) if 0 <= j - delay - col < t]

    def stationary() -> list:
        row = r - 1 - j
        return [(fc, fr * r + row, m) for m in range(cu)] if 0 <= row < ru else []

    if df == 0:
        keys_a, keys_b = streamed(fr, ru, 0), streamed(fc, cu, 0)
        first, rows_out = t - 1 + (r - ru), ru
    elif df == 1:
        keys_a, keys_b = streamed(fr, ru, r), stationary()
        first, rows_out = 2 * r - 1, t
    else:
        keys_a, keys_b = stationary(), streamed(fr, ru, r)
        first, rows_out = 2 * r - 1, t
    writes = sum(1 for col in range(cu) if 0 <= j - first - col < rows_out)
    return keys_a, keys_b, writes


def simulate_gemm_reference(df: int, r: int, c: int, sr: int, sc: int, t: int, ifmap_words: int,
                            filter_words: int, ofmap_words: int, bw_i: float, bw_f: float, bw_o: float,
                            user_bw: int, stall_factor: int, ifmap_dup: int) -> list[int]:
    """Same arguments and result layout as ``hwmodel.systolic.kernel.simulate_gemm``."""
    rf, cf = math.ceil(sr / r), math.ceil(sc / c)
    row_used = [min(r, sr - f * r) for f in range(rf)]
    col_used = [min(c, sc - f * c) for f in range(cf)]
    if df == 0:
        a, b = _diagonal_stream(rf, t, r, row_used), _diagonal_stream(cf, t, c, col_used)
    elif df == 1:
        a, b = _diagonal_stream(rf, t, r, row_used), _tile_stream(cf, sr, col_used)
    else:
        a, b = _tile_stream(cf, sr, col_used), _diagonal_stream(rf, t, r, row_used)
    tolerance = 0 if not ifmap_dup else (r * c if df == 2 else r * (r + 1) // 2)
    ifmap = _ReadSram(ifmap_words, a, bw_i, user_bw, stall_factor, tolerance)
    filt = _ReadSram(filter_words, b, bw_f, user_bw, stall_factor)
    ofmap = _WriteSram(ofmap_words, bw_o, user_bw)
    fold_len = t + r + c - 2 if df == 0 else 2 * r + c + t - 2
    now = stall = 0
    for fc in range(cf):
        for fr in range(rf):
            for j in range(fold_len):
                keys_a, keys_b, writes = _demand(df, j, fr, fc, r, t, row_used[fr], col_used[fc])
                late = max(ifmap.serve_line(keys_a, now), filt.serve_line(keys_b, now), ofmap.write(writes, now))
                if user_bw and late > 0:
                    stall += late
                    now += late
                now += 1
    last = now - 1
    drain_end, first_drain = ofmap.drain_end, ofmap.first_drain
    if ofmap.occupied > 0:
        start = max(last, drain_end + 1)
        first_drain = start if first_drain < 0 else first_drain
        drain_end = start + math.ceil(ofmap.occupied / bw_o) - 1
    written = sr * sc if df == 0 else t * sc * rf
    return [rf * cf * fold_len - 1, stall, ifmap.dram_words, filt.dram_words, written, ifmap.prefetch_cycles,
            filt.prefetch_cycles, ifmap.arrival, filt.arrival, max(drain_end, last),
            first_drain if first_drain >= 0 else last, ifmap.fetches + filt.fetches]
