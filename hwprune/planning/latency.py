"""The one latency model: kept channels per group and sparsity per layer -> cycles (and MACs).

Built once per traced, analysed graph and accelerator, and shared by everything that prices a
subnet: the planner's lookup tables, the Vitis workflows (``ana``, MAC and latency targets, one-step
search) and OFA's search. Per-layer analytic cycles come from ``hwmodel.layer_cycles`` (memoised by
layer, channels and sparsity); :meth:`LatencyModel.simulate` runs the same workloads through the
cycle-mode simulator. MACs are the workloads' dense multiply-accumulates, so a subnet's MACs and its
latency are always about the same layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hwmodel
from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.workloads.layers import DENSE, Layer, LayerSparsity
from hwprune.analysis.groups import Analysis
from hwprune.lower.lower import Lowered, lower, resize
from hwprune.planning.build import layer_terms, term_channels

__all__ = ["LatencyModel"]


class LatencyModel:
    """Latency and MACs of any subnet of one analysed graph on one accelerator.

    Args:
        analysis: the graph's channel groups (``hwprune.analysis.groups.analyze``).
        cfg: the accelerator.
        lowered: the graph's lowered layers, when the caller has them already.

    A subnet is given as ``kept`` (group id -> kept channels; groups not named keep all) and
    ``sparsity`` (layer name -> :class:`LayerSparsity`; layers not named are dense).
    """

    def __init__(self, analysis: Analysis, cfg: AcceleratorConfig, lowered: list[Lowered] | None = None) -> None:
        self.analysis = analysis
        self.cfg = cfg
        self.lowered = lower(analysis.graph) if lowered is None else lowered
        self.full = {g.id: g.size for g in analysis.groups}
        self.terms = layer_terms(analysis, self.lowered, {gid: gid for gid in self.full})
        self._memo: dict[tuple[int, int, int, LayerSparsity], int] = {}

    def _counts(self, kept: Mapping[int, int] | None) -> dict[int, int]:
        counts = dict(self.full)
        if kept:
            counts.update(kept)
        return counts

    def channels(self, index: int, counts: Mapping[int, int]) -> tuple[int, int]:
        """(input, output) channels of lowered layer ``index`` with ``counts`` kept per group id."""
        return term_channels(self.terms[index], counts)

    def layer_cycles(self, index: int, cin: int, cout: int, sparsity: LayerSparsity = DENSE) -> int:
        """Analytic cycles of lowered layer ``index`` at these channels and sparsity (memoised)."""
        key = (index, cin, cout, sparsity)
        c = self._memo.get(key)
        if c is None:
            c = self._memo[key] = int(hwmodel.layer_cycles(resize(self.lowered[index], cin, cout, sparsity), self.cfg))
        return c

    def workloads(self, kept: Mapping[int, int] | None = None,
                  sparsity: Mapping[str, LayerSparsity] | None = None) -> list[Layer]:
        """The subnet's workloads, named after the model's modules."""
        counts = self._counts(kept)
        sparsity = sparsity or {}
        return [resize(lw, *self.channels(i, counts), sparsity.get(lw.op, DENSE))
                for i, lw in enumerate(self.lowered)]

    def cycles(self, kept: Mapping[int, int] | None = None,
               sparsity: Mapping[str, LayerSparsity] | None = None) -> int:
        """Analytic latency in cycles of the subnet (the sum the planner's tables add up)."""
        counts = self._counts(kept)
        sparsity = sparsity or {}
        return sum(self.layer_cycles(i, *self.channels(i, counts), sparsity.get(lw.op, DENSE))
                   for i, lw in enumerate(self.lowered))

    def macs(self, kept: Mapping[int, int] | None = None) -> int:
        """Dense multiply-accumulates per sample of the subnet's conv and linear layers."""
        return sum(layer.macs for layer in self.workloads(kept))

    def simulate(self, kept: Mapping[int, int] | None = None,
                 sparsity: Mapping[str, LayerSparsity] | None = None, *, mode: str = "cycle",
                 name: str | None = None) -> Any:
        """The subnet through ``hwmodel.simulate`` (cycle mode by default): a ``NetworkReport``."""
        return hwmodel.simulate(self.workloads(kept, sparsity), self.cfg, mode=mode, name=name or "network")
