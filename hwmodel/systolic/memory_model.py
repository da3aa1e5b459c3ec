"""SCALE-Sim v3's USER-mode memory system at the level of addresses, one demand line at a time.

The slow, literal definition of what the Numba kernel computes fast, and the source of trace files:
every demand line of ``hwmodel.systolic.operands.demand_matrices`` is served element by element, each
element looked up *by address* in the active half of its SRAM (so an im2col word that appears many
times hits any copy still in the window). Facts (tools/scalesim/NOTES.md, sections 7-8):

* A read SRAM of W words holds its operand's prefetch stream cut into sets of ceil(W/100) real
  elements (duplicates count; the last set may be empty). The active window is
  ``A = min(ceil(ceil(W/2)/S), sets)`` sets, a slide moves it ``P = min(ceil((W - ceil(W/2))/S),
  sets - A)`` sets forward, wrapping round the stream.
* Before the first line, ``min(ceil(ceil(W/2)/bw), lines)`` DRAM lines of ``bw`` words arrive at
  cycles ``-n .. -1``. Each slide is one DRAM transfer of ``ceil((W - ceil(W/2))/bw)`` lines
  issued right after the previous one (+1 cycle latency); a line waits ``p`` cycles for it when
  ``p > 0`` and is charged ``2p`` (SCALE-Sim adds the wait twice); an early transfer (``p < 0``)
  pulls the line earlier.
* The ofmap SRAM fills line by line; when more than half is occupied and no drain runs, the written
  lines (a partial one closed early) drain at ``bw`` lines... one DRAM line per cycle; a write into a
  full buffer waits for the drain. After the last line everything left drains.
* A demand line's stall is the largest of its three buffers' waits; all later lines shift by it.

Only USER bandwidth mode is modelled here (CALC mode never stalls). Keep layers small: this runs at
about a microsecond per demand element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hwmodel.errors import HwModelError
from hwmodel.systolic.operands import PAD, Operands, demand_matrices, prefetch_streams

__all__ = ["MemoryRun", "run_memory"]


class _ReadBuffer:
    def __init__(self, words: int, bw: int, stream: np.ndarray) -> None:
        self.active_size = math.ceil(words * 0.5)
        self.prefetch_size = words - self.active_size
        self.bw = bw
        flat = np.where(stream == PAD, -1, stream)
        rows = max(1, math.ceil(len(flat) / bw))
        fetch = np.full(rows * bw, -1, dtype=np.int64)
        fetch[: len(flat)] = flat
        self.fetch = fetch.reshape(rows, bw)
        per_set = math.ceil(words / 100)
        real = flat[flat >= 0]
        self.nsets = len(real) // per_set + 1
        self.sets_of: dict[int, list[int]] = {}
        for i, addr in enumerate(real.tolist()):
            sets = self.sets_of.setdefault(addr, [])
            if not sets or sets[-1] != i // per_set:
                sets.append(i // per_set)
        self.active = min(math.ceil(self.active_size / per_set), self.nsets)
        self.slide = min(math.ceil(self.prefetch_size / per_set), self.nsets - self.active)
        self.start = 0
        self.started = False
        self.last = -1
        self.next_line = self.next_col = 0
        self.accesses = 0
        self.fetches = 0
        self.trace: list[tuple[np.ndarray, np.ndarray]] = []

    def _prefetch_first(self, start_cycle: int) -> None:
        n = min(math.ceil(self.active_size / self.bw), self.fetch.shape[0])
        requested = n * self.bw
        self.accesses += requested
        req = self.fetch[:n]  # a view: SCALE-Sim's chomping below edits its fetch matrix
        if requested > self.active_size:
            self.next_col = self.active_size % self.bw
            req[n - 1, self.next_col :] = -1
        cycles = np.arange(n) - n + start_cycle  # issued at -n-1 .. -2, +1 latency
        self.trace.append((cycles, req.copy()))
        self.last = int(cycles[-1])
        self.next_line = (n if requested > self.active_size else n + 1) % self.fetch.shape[0]
        self.started = True

    def _prefetch_next(self) -> None:
        self.start = (self.start + self.slide) % self.nsets
        self.fetches += 1
        rows = self.fetch.shape[0]
        n = math.ceil(self.prefetch_size / self.bw)
        lo, hi = self.next_line, self.next_line + n
        requested = n * self.bw
        self.accesses += requested
        if hi > rows:
            req = np.concatenate((self.fetch[lo:], self.fetch[: min(hi - rows, lo)]))
        else:
            req = self.fetch[lo:hi]
        if len(req) != n:
            raise HwModelError(
                f"SCALE-Sim's prefetch of {n} DRAM lines finds only {len(req)} lines in an operand "
                f"this small (it fails here too); use a larger layer or a smaller SRAM"
            )
        req[0, : self.next_col] = -1
        if requested > self.active_size:
            req[-1, self.active_size % self.bw :] = -1
        cycles = self.last + 2 + np.arange(n)
        self.trace.append((cycles, req.copy()))
        self.last = int(cycles[-1])
        self.next_line = (n if requested > self.active_size else n + 1) % rows

    def _hit(self, addr: int) -> bool:
        if self.active == self.nsets:
            return True
        return any((s - self.start) % self.nsets < self.active for s in self.sets_of[addr])

    def serve(self, line: np.ndarray, cycle: int) -> int:
        """Service cycle of one demand line issued at ``cycle``."""
        if not self.started:
            self._prefetch_first(cycle)
        offset = 1
        for addr in line.tolist():
            if addr == -1:
                continue
            while not self._hit(addr):
                self._prefetch_next()
                wait = self.last - (cycle + offset)
                offset += 2 * wait if wait > 0 else wait
        return cycle + offset


class _WriteBuffer:
    def __init__(self, words: int, bw: int) -> None:
        self.total = words
        self.active_size = math.ceil(words * 0.5)
        self.drain_size = words - self.active_size
        self.bw = bw
        self.free = words
        self.drain_end = 0
        self.lines: list[list[int]] = []  # written DRAM lines (closed, padded with -1 when drained early)
        self.current: list[int] = []
        self.drained_lines = 0
        self.accesses = 0
        self.cycles: list[int] = []

    def _close_line(self) -> None:
        if self.current:
            self.lines.append(self.current + [-1] * (self.bw - len(self.current)))
            self.current = []

    def _drain(self, start: int) -> int:
        per_drain = math.ceil(self.drain_size / self.bw)
        end = min(self.drained_lines + per_drain, len(self.lines))
        taken = self.lines[self.drained_lines : end]
        words = len(taken) * self.bw - taken[-1].count(-1)
        self.accesses += words
        self.cycles.extend(range(start, start + len(taken)))  # DRAM write latency 0
        self.free += words
        self.drained_lines = end
        return start + len(taken) - 1

    def write(self, line: np.ndarray, cycle: int) -> int:
        """Service cycle of one demand line of writes issued at ``cycle``."""
        now = cycle
        for addr in line.tolist():
            if addr == -1:
                continue
            self.current.append(addr)
            self.free -= 1
            if len(self.current) == self.bw:
                self._close_line()
            if now < self.drain_end:
                if self.free <= 0:
                    now = self.drain_end
            elif self.free < self.active_size:
                self._close_line()
                self.drain_end = self._drain(now)
        return now

    def flush(self, cycle: int) -> None:
        self._close_line()
        while self.drained_lines < len(self.lines):
            self.drain_end = self._drain(cycle)
            cycle = self.drain_end + 1


@dataclass
class MemoryRun:
    """What SCALE-Sim reports and traces for one layer (cycles are SCALE-Sim's, 0 = first demand line)."""

    compute_cycles: int  # index of the last demand line
    stall_cycles: int
    total_cycles: int  # ofmap service cycle of the last line (SCALE-Sim's "Total Cycles")
    service: dict[str, np.ndarray]  # per demand line: service cycle of ifmap, filter, ofmap
    demand: dict[str, np.ndarray]  # demand matrices
    dram_trace: dict[str, tuple[np.ndarray, np.ndarray]]  # per buffer: (cycles, DRAM lines)
    dram_words: dict[str, int] = field(default_factory=dict)  # SCALE-Sim's DRAM access counts
    fetches: dict[str, int] = field(default_factory=dict)

    def sram_window(self, which: str) -> tuple[int, int]:
        """(first, last) service cycle of a line with a real address (SCALE-Sim's SRAM start/stop)."""
        real = np.flatnonzero((self.demand[which] != -1).any(axis=1))
        cyc = self.service[which]
        return int(cyc[real[0]]), int(cyc[real[-1]])

    def dram_window(self, which: str) -> tuple[int, int]:
        cycles = self.dram_trace[which][0]
        return int(cycles.min()), int(cycles.max())


def run_memory(
    df: str, r: int, c: int, ops: Operands, words: tuple[int, int, int], bw: tuple[float, float, float]
) -> MemoryRun:
    """Serve every demand line of one GEMM through SCALE-Sim's USER-mode memory system.

    Args:
        df: ``"os"``, ``"ws"`` or ``"is"``.
        r, c: array rows and columns.
        ops: the operand address matrices.
        words: ifmap, filter, ofmap SRAM sizes in words.
        bw: ifmap, filter, ofmap DRAM bandwidths in words per cycle (``AcceleratorConfig.stream_bw``);
            each must be a whole number, as SCALE-Sim's DRAM lines need.

    Returns:
        The layer's ``MemoryRun``.

    Raises:
        HwModelError: a bandwidth that is not a whole number of words per cycle.
    """
    if any(int(b) != b or b < 1 for b in bw):
        raise HwModelError(f"trace files need whole DRAM words per cycle (SCALE-Sim's lines); got {bw}")
    line_words = (int(bw[0]), int(bw[1]), int(bw[2]))
    si, sf = prefetch_streams(df, r, c, ops)
    dem_i, dem_f, dem_o = demand_matrices(df, r, c, ops)
    ifmap, filt = _ReadBuffer(words[0], line_words[0], si), _ReadBuffer(words[1], line_words[1], sf)
    ofmap = _WriteBuffer(words[2], line_words[2])
    lines = dem_o.shape[0]
    out_i = np.empty(lines, dtype=np.int64)
    out_f = np.empty(lines, dtype=np.int64)
    out_o = np.empty(lines, dtype=np.int64)
    stall = 0
    for i in range(lines):
        cycle = i + stall
        out_i[i] = ifmap.serve(dem_i[i], cycle)
        out_f[i] = filt.serve(dem_f[i], cycle)
        out_o[i] = ofmap.write(dem_o[i], cycle)
        stall += max(int(out_i[i]) - cycle - 1, int(out_f[i]) - cycle - 1, int(out_o[i]) - cycle)
    ofmap.flush(int(out_o[-1]))

    def read_trace(buf: _ReadBuffer) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([t[0] for t in buf.trace]), np.vstack([t[1] for t in buf.trace])

    o_lines = np.array(ofmap.lines, dtype=np.int64).reshape(-1, line_words[2])
    return MemoryRun(
        compute_cycles=lines - 1,
        stall_cycles=stall,
        total_cycles=int(out_o.max()),
        service={"ifmap": out_i, "filter": out_f, "ofmap": out_o},
        demand={"ifmap": dem_i, "filter": dem_f, "ofmap": dem_o},
        dram_trace={
            "ifmap": read_trace(ifmap),
            "filter": read_trace(filt),
            "ofmap": (np.array(ofmap.cycles, dtype=np.int64), o_lines),
        },
        dram_words={"ifmap": ifmap.accesses, "filter": filt.accesses, "ofmap": ofmap.accesses},
        fetches={"ifmap": ifmap.fetches, "filter": filt.fetches},
    )
