"""The one latency model: kept channels per group and sparsity per layer -> cycles (and MACs).

Built once per traced, analysed graph and accelerator, and shared by everything that prices a
subnet: the planner's lookup tables, the Vitis workflows (``ana``, MAC and latency targets, one-step
search) and OFA's search. Per-layer analytic cycles come from ``hwmodel.layer_cycles`` (memoised by
layer, channels and sparsity); :meth:`LatencyModel.simulate` runs the same workloads through the
cycle-mode simulator. MACs are the workloads' dense multiply-accumulates, so a subnet's MACs and its
latency are always about the same layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

import hwmodel
from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.workloads.layers import DENSE, Layer, LayerSparsity
from hwprune.analysis.flow import Chan
from hwprune.analysis.groups import Analysis
from hwprune.lower.lower import Lowered, lower, resize
from hwprune.traced import Traced

__all__ = ["LatencyModel", "LayerTerms", "layer_terms", "term_channels", "shape_key"]


def _value_terms(
    analysis: Analysis, value: str | None, dim: int, var_of: Mapping[int, int], comp_to_group: np.ndarray
) -> tuple[tuple[tuple[int, int], ...], int]:
    """((problem var, channels per kept member), fixed channels) of ``value`` along ``dim``."""
    if value is None:
        return (), 0
    c = analysis.flow.chans.get(value)
    shape = analysis.graph.value(value).shape
    total = shape[dim] if shape else 0
    if not isinstance(c, Chan) or dim not in c.dims:
        return (), total
    axis = c.dims.index(dim)
    ids = np.moveaxis(c.ids, axis, 0).reshape(c.ids.shape[axis], -1)[:, 0]  # one element per position
    gids, counts = np.unique(comp_to_group[analysis.flow.comp[ids]], return_counts=True)
    terms, fixed = [], 0
    for gid, n in zip(gids.tolist(), counts.tolist(), strict=True):
        var = var_of.get(gid, -1) if gid >= 0 else -1
        if var < 0:
            fixed += n
        else:
            terms.append((var, n // len(analysis.members[gid])))
    # a flattened value counts every feature: scale by the features per position
    scale = total // len(ids) if len(ids) else 1
    return tuple((v, m * scale) for v, m in terms), fixed * scale


Terms = tuple[tuple[int, int], ...]  # (variable, channels per kept member of it), ...


class LayerTerms(NamedTuple):
    """Where a layer's channel counts come from: ``cin = in_fixed + sum(mult * kept[var] for var,
    mult in ins)``, and ``cout`` likewise."""

    ins: Terms
    in_fixed: int
    outs: Terms
    out_fixed: int


def term_channels(terms: LayerTerms, counts: Mapping[int, int] | Sequence[int]) -> tuple[int, int]:
    """(cin, cout) of a layer from its ``layer_terms`` entry and kept members per variable."""
    it, fi, ot, fo = terms
    return fi + sum(m * counts[v] for v, m in it), fo + sum(m * counts[v] for v, m in ot)


def layer_terms(
    analysis: Analysis, lowered: Sequence[Lowered], var_of: Mapping[int, int]
) -> list[LayerTerms]:
    """Per lowered layer, its :class:`LayerTerms` over the variables ``var_of`` (group id -> variable;
    groups not in it count as fixed channels)."""
    comp_to_group = np.full(analysis.flow.n_comp, -1, dtype=np.int64)
    for gid, comps in enumerate(analysis.members):
        comp_to_group[comps] = gid
    out = []
    for lw in lowered:
        it, fi = _value_terms(analysis, lw.in_value, lw.in_dim, var_of, comp_to_group)
        ot, fo = _value_terms(analysis, lw.out_value, lw.out_dim, var_of, comp_to_group)
        out.append(LayerTerms(it, fi, ot, fo))
    return out


def shape_key(lw: Lowered) -> tuple[Layer, int, bool]:
    """What a layer's cycles depend on besides its channel counts and pattern: everything but its name.

    Repeated blocks (the 36 bottlenecks of a ResNet-152 stage) share one latency table this way.
    """
    return lw.layer.with_(name=""), lw.in_scale, lw.tied


class LatencyModel:
    """Latency and MACs of any subnet of one analysed graph on one accelerator.

    Args:
        analysis: the graph's channel groups (``hwprune.analysis.groups.analyze``).
        cfg: the accelerator.
        lowered: the graph's lowered layers, when the caller has them already.

    A subnet is given as ``kept`` (group id -> kept channels; groups not named keep all) and
    ``sparsity`` (layer name -> :class:`LayerSparsity`; layers not named are dense).
    """

    def __init__(
        self, analysis: Analysis, cfg: AcceleratorConfig, lowered: list[Lowered] | None = None
    ) -> None:
        self.analysis = analysis
        self.cfg = cfg
        self.lowered = lower(analysis.graph) if lowered is None else lowered
        self.full = {g.id: g.size for g in analysis.groups}
        self.terms = layer_terms(analysis, self.lowered, {gid: gid for gid in self.full})
        # what a layer's cycles depend on besides channels and sparsity: repeated blocks share entries
        self.shapes = [shape_key(lw) for lw in self.lowered]
        self._memo: dict[tuple[Any, int, int, LayerSparsity, int | None], int] = {}

    @classmethod
    def of(cls, traced: Traced, cfg: AcceleratorConfig, excludes: Sequence[str] = ()) -> LatencyModel:
        """The latency model of a traced model (its analysis and lowering are reused, not recomputed)."""
        return cls(traced.analysis(excludes), cfg, list(traced.lowering.layers))

    def _counts(self, kept: Mapping[int, int] | None) -> dict[int, int]:
        counts = dict(self.full)
        if kept:
            counts.update(kept)
        return counts

    def channels(self, index: int, counts: Mapping[int, int]) -> tuple[int, int]:
        """(input, output) channels of lowered layer ``index`` with ``counts`` kept per group id."""
        return term_channels(self.terms[index], counts)

    def layer_cycles(
        self, index: int, cin: int, cout: int, sparsity: LayerSparsity = DENSE, *, kernel: int | None = None
    ) -> int:
        """Analytic cycles of lowered layer ``index`` at these channels and sparsity (memoised by the
        layer's shape, so the layers of repeated blocks are costed once); ``kernel``: a conv's kernel
        cropped to its centre (OFA's elastic kernel, :func:`hwprune.lower.lower.crop_kernel`)."""
        key = (self.shapes[index], cin, cout, sparsity, kernel)
        c = self._memo.get(key)
        if c is None:
            c = self._memo[key] = int(
                hwmodel.layer_cycles(
                    resize(self.lowered[index], cin, cout, sparsity, kernel=kernel), self.cfg
                )
            )
        return c

    def lowered_cycles(self, index: int) -> int:
        """Analytic cycles of lowered layer ``index`` as the model has it (full size, its own sparsity)."""
        return int(hwmodel.layer_cycles(self.lowered[index].layer, self.cfg))

    def workloads(
        self,
        kept: Mapping[int, int] | None = None,
        sparsity: Mapping[str, LayerSparsity] | None = None,
        *,
        kernels: Mapping[str, int] | None = None,
    ) -> list[Layer]:
        """The subnet's workloads, named after the model's modules; ``kernels``: layer name -> kernel
        size of convs whose kernel is cropped to its centre (OFA's elastic kernel)."""
        counts = self._counts(kept)
        sparsity = sparsity or {}
        kernels = kernels or {}
        return [
            resize(lw, *self.channels(i, counts), sparsity.get(lw.op, DENSE), kernel=kernels.get(lw.op))
            for i, lw in enumerate(self.lowered)
        ]

    def cycles(
        self,
        kept: Mapping[int, int] | None = None,
        sparsity: Mapping[str, LayerSparsity] | None = None,
        *,
        kernels: Mapping[str, int] | None = None,
    ) -> int:
        """Analytic latency in cycles of the subnet (the sum the planner's tables add up); ``kernels``
        as in :meth:`workloads`."""
        counts = self._counts(kept)
        sparsity = sparsity or {}
        kernels = kernels or {}
        return sum(
            self.layer_cycles(
                i, *self.channels(i, counts), sparsity.get(lw.op, DENSE), kernel=kernels.get(lw.op)
            )
            for i, lw in enumerate(self.lowered)
        )

    def macs(self, kept: Mapping[int, int] | None = None, *, kernels: Mapping[str, int] | None = None) -> int:
        """Dense multiply-accumulates per sample of the subnet's conv and linear layers."""
        return sum(layer.macs for layer in self.workloads(kept, kernels=kernels))

    def simulate(
        self,
        kept: Mapping[int, int] | None = None,
        sparsity: Mapping[str, LayerSparsity] | None = None,
        *,
        mode: str = "cycle",
        name: str | None = None,
    ) -> Any:
        """The subnet through ``hwmodel.simulate`` (cycle mode by default): a ``NetworkReport``."""
        return hwmodel.simulate(self.workloads(kept, sparsity), self.cfg, mode=mode, name=name or "network")
