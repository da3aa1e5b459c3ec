"""Latency and MACs of many subnets at once, from per-layer tables of the shared latency model.

Every lowered layer's input and output channels are a fixed part plus ``mult * kept`` of the groups
that feed it (the planner's layer terms). For each layer the reachable (cin, cout) pairs over the
space's choices are tabled once with :meth:`hwprune.planning.latency.LatencyModel.layer_cycles`
(the planner's analytic per-layer cycles); pricing a batch of subnets is then a matrix product for the
channel counts and one table gather per layer, so a thousand candidates cost milliseconds.
An elastic-kernel conv's table has one slice per kernel choice, priced by the same latency model on
the cropped layer (:func:`hwprune.lower.lower.crop_kernel`). The sum equals
``LatencyModel.cycles(kept)`` exactly (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from hwmodel.workloads.layers import LayerKind
from hwprune.lower.lower import resize
from hwprune.ofa.depth import SkipBlock
from hwprune.ofa.kernel import ElasticKernel
from hwprune.ofa.space import ElasticGroup
from hwprune.planning.latency import LatencyModel

__all__ = ["CostTable", "group_step_costs", "kernel_step_choices"]

_MAX_VALUES = 4096  # reachable channel counts tabled per layer side; beyond it the layer is priced lazily


def group_step_costs(lm: LatencyModel, gids: Sequence[int]) -> dict[int, Callable[[int], int]]:
    """Per group: ``cost(k)``, the cycles of the layers it touches when keeping ``k`` members, others full.

    What :func:`hwprune.ofa.space.width_choices` snaps choices with (the planner's step rule). Costs are
    computed on demand (a choice only looks up to the top of its step).
    """
    touching: dict[int, list[int]] = {gid: [] for gid in gids}
    for i, (it, _, ot, _) in enumerate(lm.terms):
        for gid in {v for v, _ in it} | {v for v, _ in ot}:
            if gid in touching:
                touching[gid].append(i)

    def make(gid: int) -> Callable[[int], int]:
        memo: dict[int, int] = {}

        def cost(k: int) -> int:
            if k not in memo:
                counts = dict(lm.full)
                counts[gid] = k
                memo[k] = sum(lm.layer_cycles(i, *lm.channels(i, counts)) for i in touching[gid])
            return memo[k]

        return cost

    return {gid: make(gid) for gid in gids}


def kernel_step_choices(lm: LatencyModel, kernels: Sequence[ElasticKernel]) -> tuple[ElasticKernel, ...]:
    """The elastic kernels with only the choices that buy latency on the hardware.

    Going down from the full kernel, a size is kept only when its layer (every channel kept) costs
    fewer cycles than the last size kept, as width choices are moved to the top of their latency step:
    a systolic array that holds a depthwise 3x3 kernel in one fold runs it as fast as a 1x1, so the
    1x1 would cost accuracy for nothing. A conv left with its full kernel alone is not elastic.
    """
    index = {lw.op: i for i, lw in enumerate(lm.lowered)}
    out = []
    for ek in kernels:
        i = index.get(ek.op)
        if i is None:  # not priced by the latency model: a smaller kernel would buy nothing it can show
            continue
        cin, cout = lm.channels(i, lm.full)
        kept, last = [ek.size], lm.layer_cycles(i, cin, cout)
        for size in reversed(ek.choices[:-1]):
            cost = lm.layer_cycles(i, cin, cout, kernel=size)
            if cost < last:
                kept.append(size)
                last = cost
        if len(kept) > 1:
            out.append(replace(ek, choices=tuple(sorted(kept))))
    return tuple(out)


def _reachable(
    fixed: int, terms: Sequence[tuple[int, int]], choices: Sequence[Sequence[int] | np.ndarray]
) -> list[int] | None:
    vals = {fixed}
    for e, m in terms:
        vals = {v + m * int(c) for v in vals for c in choices[e]}
        if len(vals) > _MAX_VALUES:
            return None
    return sorted(vals)


class CostTable:
    """Analytic cycles and MACs of subnets given as choice-index codes (rows of an int array).

    Args:
        lm: the shared latency model of the traced graph on the target hardware.
        groups: the space's elastic groups (the others keep all channels).
        blocks: its skippable blocks (genes after the kernels').
        kernels: its elastic-kernel convs (genes after the groups').
    """

    def __init__(
        self,
        lm: LatencyModel,
        groups: Sequence[ElasticGroup],
        blocks: Sequence[SkipBlock] = (),
        kernels: Sequence[ElasticKernel] = (),
    ) -> None:
        self.lm = lm
        self.groups = tuple(groups)
        # elastic depth: a layer of a block's branch (or its add) counts only when the block is kept
        self.gate = np.full(len(lm.lowered), -1, dtype=np.int64)
        for j, blk in enumerate(blocks):
            ops = set(blk.branch) | {blk.add}
            for i, lw in enumerate(lm.lowered):
                if lw.op in ops:
                    self.gate[i] = len(self.groups) + len(kernels) + j
        # elastic kernel: the layer's gene and its kernel sizes (one table slice per size)
        self.kgene = np.full(len(lm.lowered), -1, dtype=np.int64)
        self.ksizes: list[tuple[int | None, ...]] = [(None,)] * len(lm.lowered)
        by_op = {ek.op: j for j, ek in enumerate(kernels)}
        for i, lw in enumerate(lm.lowered):
            if lw.op in by_op:
                j = by_op[lw.op]
                self.kgene[i] = len(self.groups) + j
                self.ksizes[i] = tuple(kernels[j].choices)
        e_of = {g.gid: e for e, g in enumerate(self.groups)}
        n_layers, n_e = len(lm.lowered), len(self.groups)
        self.choices = [np.asarray(g.choices, dtype=np.int64) for g in self.groups]
        self.a_in = np.zeros((n_e, n_layers), dtype=np.int64)
        self.a_out = np.zeros((n_e, n_layers), dtype=np.int64)
        self.f_in = np.zeros(n_layers, dtype=np.int64)
        self.f_out = np.zeros(n_layers, dtype=np.int64)
        for i, (it, fi, ot, fo) in enumerate(lm.terms):
            self.f_in[i], self.f_out[i] = fi, fo
            for gid, m in it:
                if gid in e_of:
                    self.a_in[e_of[gid], i] += m
                else:
                    self.f_in[i] += m * lm.full[gid]
            for gid, m in ot:
                if gid in e_of:
                    self.a_out[e_of[gid], i] += m
                else:
                    self.f_out[i] += m * lm.full[gid]
        # (index of cin or None when tied, index of cout, cycles, MACs) per layer; None: priced lazily
        self._tables: list[tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray] | None] = []
        self._lazy: dict[tuple[int, int, int, int | None], tuple[int, int]] = {}
        for i, lw in enumerate(lm.lowered):
            tied = lw.tied or lw.layer.kind is LayerKind.DEPTHWISE  # cycles depend on cout only
            ins = [(e, int(self.a_in[e, i])) for e in range(n_e) if self.a_in[e, i]]
            outs = [(e, int(self.a_out[e, i])) for e in range(n_e) if self.a_out[e, i]]
            vin = (
                [int(self.f_in[i]) + sum(m * int(self.choices[e][-1]) for e, m in ins)]
                if tied
                else _reachable(int(self.f_in[i]), ins, self.choices)
            )
            vout = _reachable(int(self.f_out[i]), outs, self.choices)
            if vin is None or vout is None or len(vin) * len(vout) > _MAX_VALUES * 4:
                self._tables.append(None)
                continue
            nk = len(self.ksizes[i])
            cyc = np.empty((nk, len(vin), len(vout)), dtype=np.int64)
            mac = np.empty((nk, len(vin), len(vout)), dtype=np.int64)
            for s, ks in enumerate(self.ksizes[i]):
                for a, ci in enumerate(vin):
                    for b, co in enumerate(vout):
                        cyc[s, a, b], mac[s, a, b] = self._price(i, ci, co, ks)
            idx_in = np.full(max(vin) + 1, -1, dtype=np.int64)
            idx_in[vin] = np.arange(len(vin))
            idx_out = np.full(max(vout) + 1, -1, dtype=np.int64)
            idx_out[vout] = np.arange(len(vout))
            self._tables.append((idx_in, idx_out, cyc, mac) if not tied else (None, idx_out, cyc, mac))

    def _price(self, i: int, cin: int, cout: int, kernel: int | None = None) -> tuple[int, int]:
        lw = self.lm.lowered[i]
        cin, cout = int(cin), int(cout)
        if kernel == lw.layer.filt_h:
            kernel = None  # the full kernel: the same memo entries as the planner's
        return (
            self.lm.layer_cycles(i, cin, cout, kernel=kernel),
            int(resize(lw, cin, cout, kernel=kernel).macs),
        )

    def channels(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cin, cout) per subnet and layer, each of shape ``(n, layers)``."""
        kept = self.kept_counts(codes)
        return kept @ self.a_in + self.f_in, kept @ self.a_out + self.f_out

    def kept_counts(self, codes: np.ndarray) -> np.ndarray:
        codes = np.atleast_2d(np.asarray(codes, dtype=np.int64))
        if not self.groups:
            return np.zeros((len(codes), 0), dtype=np.int64)
        return np.stack([c[codes[:, e]] for e, c in enumerate(self.choices)], axis=1)

    def price(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(analytic cycles, MACs) of each subnet (one code per row), as int64 arrays."""
        codes = np.atleast_2d(np.asarray(codes, dtype=np.int64))
        cin, cout = self.channels(codes)
        n = cin.shape[0]
        cycles = np.zeros(n, dtype=np.int64)
        macs = np.zeros(n, dtype=np.int64)
        for i, tab in enumerate(self._tables):
            on = codes[:, self.gate[i]] if self.gate[i] >= 0 else 1
            ks = codes[:, self.kgene[i]] if self.kgene[i] >= 0 else np.zeros(n, dtype=np.int64)
            if tab is None:
                c_i, m_i = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
                for r in range(n):
                    key = (i, int(cin[r, i]), int(cout[r, i]), self.ksizes[i][int(ks[r])])
                    if key not in self._lazy:
                        self._lazy[key] = self._price(*key)
                    c_i[r], m_i[r] = self._lazy[key]
                cycles += c_i * on
                macs += m_i * on
                continue
            idx_in, idx_out, cyc, mac = tab
            a = 0 if idx_in is None else idx_in[cin[:, i]]
            b = idx_out[cout[:, i]]
            cycles += cyc[ks, a, b] * on
            macs += mac[ks, a, b] * on
        return cycles, macs

    def cycles(self, codes: np.ndarray) -> np.ndarray:
        return self.price(codes)[0]

    def macs(self, codes: np.ndarray) -> np.ndarray:
        return self.price(codes)[1]
