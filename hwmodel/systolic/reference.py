"""Pure-Python definition of the systolic kernel (``hwmodel.systolic.kernel.simulate_gemm``).

Written for clarity, not speed, and independently of the kernel's closed forms: each operand stream
is built element by element in SCALE-Sim's prefetch order (stacked per-fold blocks read out by
anti-diagonals, or row-major stationary tiles), every demand line lists the elements it asks for,
and each element is looked up and served one at a time. Tests require exact equality with the Numba
kernel on seeded random shapes; keep shapes small.

SCALE-Sim v3's read buffer adds a late fetch's delay to the request offset twice
(``offset += late; if late > 0: offset += late``); ``stall_factor`` 2 follows it, 1 charges it once.
With ``a_set``/``a_next``/``a_nsets`` (address mode, see the kernel) an element hits when any copy of
its word is active; ``hwmodel.systolic.memory_model`` is the same model written over real addresses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["simulate_gemm_reference"]

# an operand element: (block or fold, row, column)
Key = tuple[int, int, int]


def _diagonal_stream(blocks: int, t: int, width: int, used: list[int]) -> list[Key]:
    """Keys (block, row-in-block, col) of a stacked (blocks*t) x width matrix read by anti-diagonals."""
    nrows = blocks * t
    out: list[Key] = []
    for d in range(nrows + width - 1):
        for row in range(min(d, nrows - 1), max(0, d - width + 1) - 1, -1):
            col = d - row
            block = row // t
            if col < used[block]:  # SCALE-Sim pads partial blocks with -1, which its SRAM lines skip
                out.append((block, row % t, col))
    return out


def _tile_stream(col_folds: int, sr: int, cols_used: list[int]) -> list[Key]:
    """Keys (col-fold, k, col) of the stationary operand: per column fold, Sr rows of Cu elements."""
    return [(fc, k, m) for fc in range(col_folds) for k in range(sr) for m in range(cols_used[fc])]


class _ReadSram:
    """A double-buffered read SRAM over one stream, with SCALE-Sim's window and fetch timing.

    The window is a run of ``active`` sets out of ``nsets`` (sets of ceil(words / 100) elements; the
    last may be empty). Position mode: an element is its own stream position. Address mode (``a_set``
    given): it hits when any position in its cycle of copies (``a_next``) lies in an active set.
    """

    def __init__(
        self,
        words: int,
        stream: list[Key],
        bw: float,
        user_bw: int,
        stall_factor: int,
        padded: int,
        a_set: Iterable[int] = (),
        a_next: Iterable[int] = (),
        a_nsets: int = 0,
    ) -> None:
        self.position = {key: i for i, key in enumerate(stream)}
        self.user_bw, self.stall_factor = user_bw, stall_factor
        self.a_set: list[int] | None = list(a_set) if a_nsets else None
        self.a_next: list[int] = list(a_next) if a_nsets else []
        self.per_set = math.ceil(words / 100)
        active_words = math.ceil(words / 2)
        self.fetch_words = words - active_words  # a fetch refills the prefetch half
        self.nsets = a_nsets if a_nsets else len(stream) // self.per_set + 1
        self.active = min(math.ceil(active_words / self.per_set), self.nsets)
        self.jump = max(1, min(math.ceil(self.fetch_words / self.per_set), self.nsets - self.active))
        self.start = 0
        self.fetch_cycles = math.ceil(self.fetch_words / bw) + 1  # DRAM lines of a half + 1 cycle latency
        self.resident = self.nsets <= self.active
        self.prefetch_cycles = min(math.ceil(active_words / bw), math.ceil(padded / bw))
        self.bw = bw
        self.fetches = 0
        self.arrival = -1

    def _set(self, pos: int) -> int:
        return self.a_set[pos] if self.a_set is not None else pos // self.per_set

    def _active(self, s: int) -> bool:
        return (s - self.start) % self.nsets < self.active

    def _hit(self, pos: int) -> bool:
        if self.a_set is None:
            return self._active(self._set(pos))
        q = pos
        while True:
            if self._active(self.a_set[q]):
                return True
            q = self.a_next[q]
            if q == pos:
                return False

    def serve_line(self, keys: list[Key], now: int) -> int:
        """Serve one demand line; return its stall (SCALE-Sim: service cycle - request cycle - 1).

        Elements are looked up in stream order (a line asks for a contiguous run of positions in
        SCALE-Sim's column order); a miss slides the window one fetch at a time until it hits.
        """
        offset = 1
        if self.resident:
            return 0
        for pos in sorted(self.position[k] for k in keys):
            if self.a_set is not None and self.a_set[pos] < 0:
                continue  # a window off the input: SCALE-Sim has no address there
            while not self._hit(pos):
                self.start = (self.start + self.jump) % self.nsets
                self.fetches += 1
                if not self.user_bw:
                    self.arrival = now
                    continue
                self.arrival = self.fetches * self.fetch_cycles - 1  # SCALE-Sim starts at last_prefetch = -1
                late = self.arrival - (now + offset)
                offset += late * (self.stall_factor if late > 0 else 1)
        return offset - 1

    def dram_words(self, stream_len: int, words: int) -> int:
        if self.user_bw:
            return int(self.prefetch_cycles * self.bw) + self.fetches * int((self.fetch_cycles - 1) * self.bw)
        return (
            min(self.active * (self.per_set if self.a_set is None else 1), stream_len)
            + self.fetches * self.fetch_words
        )


class _WriteSram:
    """SCALE-Sim's ofmap write buffer, word by word: DRAM lines of ``bw`` words fill in write order;
    when more than half the buffer is occupied and no drain runs, the open line closes early and up to
    half the buffer's lines drain, one line per cycle; a write into a full buffer waits for the drain.
    """

    def __init__(self, words: int, bw: float, user_bw: int) -> None:
        self.line = int(bw) if bw >= 1 else 1
        self.bw, self.user_bw = bw, user_bw
        self.active = math.ceil(words / 2)
        self.per_drain = math.ceil((words - self.active) / self.line)
        self.free, self.drain_end = words, 0
        self.open_fill = 0
        self.queued: list[int] = []  # fill of each closed line not yet drained
        self.accesses, self.first, self.stop = 0, -1, -1

    def _close(self) -> None:
        if self.open_fill:
            self.queued.append(self.open_fill)
            self.open_fill = 0

    def _drain(self, start: int) -> int:
        taken, self.queued = self.queued[: self.per_drain], self.queued[self.per_drain :]
        words = len(taken) * self.line - (self.line - taken[-1])  # padding counted except in the last line
        self.accesses += words
        self.free += words
        cycles = len(taken) if self.bw == self.line else math.ceil(len(taken) * self.line / self.bw)
        self.drain_end = start + cycles - 1
        self.first = start if self.first < 0 else self.first
        self.stop = max(self.stop, self.drain_end)
        return self.drain_end

    def write(self, count: int, now: int) -> int:
        cur = now
        for _ in range(count):
            self.open_fill += 1
            self.free -= 1
            if self.open_fill == self.line:
                self._close()
            if cur < self.drain_end:
                if self.free <= 0:
                    cur = self.drain_end
            elif self.free < self.active:
                self._close()
                self._drain(cur)
        return cur - now

    def flush(self, cycle: int) -> None:
        self._close()
        while self.queued:
            cycle = self._drain(cycle) + 1


def _demand(
    df: int, j: int, fr: int, fc: int, r: int, t: int, ru: int, cu: int
) -> tuple[list[Key], list[Key], int]:
    """(ifmap keys, filter keys, ofmap words written) of fold (fr, fc) on its cycle j."""

    def streamed(block: int, used: int, delay: int) -> list[Key]:
        return [(block, j - delay - col, col) for col in range(used) if 0 <= j - delay - col < t]

    def stationary() -> list[Key]:
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


def simulate_gemm_reference(
    df: int,
    r: int,
    c: int,
    sr: int,
    sc: int,
    t: int,
    ifmap_words: int,
    filter_words: int,
    ofmap_words: int,
    bw_i: float,
    bw_f: float,
    bw_o: float,
    user_bw: int,
    stall_factor: int,
    a_set: Iterable[int] = (),
    a_next: Iterable[int] = (),
    a_nsets: int = 0,
) -> list[int]:
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
    pad_a = t * rf * r if df != 2 else sr * c * cf
    pad_b = (t * cf * c if df == 0 else t * rf * r) if df != 1 else sr * c * cf
    ifmap = _ReadSram(ifmap_words, a, bw_i, user_bw, stall_factor, pad_a, a_set, a_next, a_nsets)
    filt = _ReadSram(filter_words, b, bw_f, user_bw, stall_factor, pad_b)
    ofmap = _WriteSram(ofmap_words, bw_o, user_bw)
    fold_len = t + r + c - 2 if df == 0 else 2 * r + c + t - 2
    now = stall = last_o = lag = 0
    for fc in range(cf):
        for fr in range(rf):
            for j in range(fold_len):
                keys_a, keys_b, writes = _demand(df, j, fr, fc, r, t, row_used[fr], col_used[fc])
                wait_o = ofmap.write(writes, now + lag) + lag
                last_o = now + wait_o
                if not user_bw:  # CALC mode: ofmap waits shift the write buffer's timeline, not the array's
                    lag, wait_o = wait_o, 0
                late = max(ifmap.serve_line(keys_a, now), filt.serve_line(keys_b, now), wait_o)
                if user_bw and late > 0:
                    stall += late
                    now += late
                now += 1
    ofmap.flush(last_o)
    return [
        rf * cf * fold_len - 1,
        stall,
        ifmap.dram_words(len(a), ifmap_words),
        filt.dram_words(len(b), filter_words),
        ofmap.accesses,
        ifmap.prefetch_cycles,
        filt.prefetch_cycles,
        ifmap.arrival,
        filt.arrival,
        ofmap.stop,
        ofmap.first,
        ifmap.fetches + filt.fetches,
    ]
