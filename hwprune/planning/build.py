"""Build the planning problem from a traced model: groups -> variables, lowered layers -> cost terms.

Candidate kept counts of a group are the tops of its latency steps (with every other group at full
size): keeping a channel that buys no latency is never offered. Loss proxies: per group, the share of
its importance that pruning removes, weighted by how many conv/linear layers the group touches (and
by its measured sensitivity when given); per layer and N:M pattern, the share of the weight magnitude
the mask removes (plus the share of activation magnitude a 2:4 activation mask removes).

A share s removed becomes loss -ln(1 - s) ("log", the default): a layer passes on the share of its
signal it keeps, the shares multiply through the net, so their logs add. It equals s for small cuts
and grows without bound as a group empties, so a group cut to one channel or a thin layer masked to
1:4 costs what it should; "linear" (loss s, the planner before this) let the last channels of a
group go as cheaply as the first and planned one-channel bottlenecks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.workloads.layers import DENSE, Layer, LayerKind, LayerSparsity
from hwprune.analysis.flow import SlotRole
from hwprune.analysis.groups import ChannelGroup
from hwprune.planning.latency import LatencyModel, LayerTerms, layer_terms, term_channels
from hwprune.planning.problem import INFEASIBLE, CostFn, GroupVar, LayerVar, Problem

__all__ = [
    "Built",
    "build_problem",
    "layer_terms",
    "term_channels",
    "sparse_patterns",
    "INFEASIBLE",
    "LOSS_SHAPES",
]


_MIN_KEPT = 1e-6  # -ln of a share kept below this counts as this (a group whose kept members score 0)
# how a removed share of importance becomes loss (see the module docstring)
LOSS_SHAPES: dict[str, Callable[[float], float]] = {
    "log": lambda share: -math.log(max(1.0 - share, _MIN_KEPT)),
    "linear": lambda share: share,
}


def sparse_patterns(cfg: AcceleratorConfig) -> tuple[LayerSparsity, ...]:
    """Every layer sparsity the hardware's sparse engine accepts, dense first."""
    return cfg.sparse.layer_choices() if cfg.sparse is not None else (DENSE,)


def _nm_weight_losses(weight: torch.Tensor, m: int) -> list[float] | None:
    """Share of |w| an N:M mask along input channels removes, for n = 0..m (None: channels do not fit).

    One sort per block size gives every n: keeping the n largest of a block drops the m - n smallest.
    """
    if weight.shape[1] % m:
        return None
    w = weight.detach().abs().double().movedim(1, -1)
    blocks = w.reshape(-1, w.shape[-1] // m, m)
    srt = torch.sort(blocks, dim=-1).values  # ascending
    dropped = torch.cumsum(srt, dim=-1).sum(dim=(0, 1))  # dropped[j] = mass of the j+1 smallest
    total = float(dropped[-1])
    if total <= 0:
        return [0.0] * (m + 1)
    return [float(dropped[m - n - 1]) / total if n < m else 0.0 for n in range(m + 1)]


def _act_loss(x: torch.Tensor | None, block: int = 4, keep: int = 2) -> float:
    if x is None or x.dim() < 2 or x.shape[1] % block:
        return math.inf
    from hwprune.transforms.nm import activation_nm

    x = x.detach().double()
    total = float(x.abs().sum())
    return float((x - activation_nm(x, keep, block)).abs().sum()) / total if total > 0 else 0.0


def _step_latency(
    v: int,
    ks: range,
    touching: Sequence[int],
    terms: Sequence[LayerTerms],
    sizes: Sequence[int],
    shapes: Sequence[tuple[Layer, int, bool]],
    layer_vars: Sequence[LayerVar | None],
) -> dict[int, int]:
    """Dense cycles of the layers group ``v`` touches, per kept count k in ``ks``, every other group full.

    A layer's channels are ``base + mult * k``; layers with the same shape, base and multiplier cost
    the same at every k, so each such class is costed once and counted as often as it occurs.
    """
    # (shape, in base, in mult, out base, out mult) -> [layer, count]
    classes: dict[tuple[tuple[Layer, int, bool], int, int, int, int], list[int]] = {}
    for li in touching:
        it, fi, ot, fo = terms[li]
        key = (
            shapes[li],
            fi + sum(m * sizes[u] for u, m in it if u != v),
            sum(m for u, m in it if u == v),
            fo + sum(m * sizes[u] for u, m in ot if u != v),
            sum(m for u, m in ot if u == v),
        )
        entry = classes.setdefault(key, [li, 0])
        entry[1] += 1
    curves = [
        (_var(layer_vars, li).cost, bi, mi, bo, mo, n) for (_, bi, mi, bo, mo), (li, n) in classes.items()
    ]
    return {k: sum(n * cost(bi + mi * k, bo + mo * k, 0) for cost, bi, mi, bo, mo, n in curves) for k in ks}


def _var(layer_vars: Sequence[LayerVar | None], li: int) -> LayerVar:
    lv = layer_vars[li]
    if lv is None:  # touching lists only layers that are variables
        raise AssertionError(f"layer {li} is constant but listed as touched by a group")
    return lv


@dataclass(frozen=True, slots=True)
class LossCache:
    """N:M loss proxies kept across rebuilds: per (layer, M) the weight loss by N (None: no block fits),
    per layer the 2:4 activation loss."""

    weight: dict[tuple[str, int], list[float] | None] = field(default_factory=dict)
    act: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Built:
    """The problem plus what the planner needs to turn a solution back into a plan."""

    problem: Problem
    group_vars: tuple[ChannelGroup, ...]  # groups that became variables, in variable order
    patterns: tuple[tuple[LayerSparsity, ...], ...]  # per lowered layer
    terms: tuple[LayerTerms, ...]  # per lowered layer, over the problem's variables
    order: dict[int, np.ndarray]  # group id -> member indices by descending importance


def _pattern_losses(
    op: str,
    pats: tuple[LayerSparsity, ...],
    weights: Mapping[str, torch.Tensor],
    layer_inputs: Mapping[str, torch.Tensor] | None,
    cache: LossCache,
    shape: Callable[[float], float],
) -> tuple[tuple[LayerSparsity, ...], tuple[float, ...]]:
    """The patterns layer ``op`` can take (those whose loss is finite) and the loss proxy of each."""
    losses = [0.0]
    for p in pats[1:]:
        assert p.weight is not None  # every sparse choice has a weight pattern
        key = (op, p.weight.m)
        if key not in cache.weight:
            cache.weight[key] = _nm_weight_losses(weights[op], p.weight.m)
        by_n = cache.weight[key]
        loss = math.inf if by_n is None else shape(by_n[p.weight.n])
        if p.act:
            if op not in cache.act:
                cache.act[op] = _act_loss((layer_inputs or {}).get(op))
            loss += shape(cache.act[op]) if math.isfinite(cache.act[op]) else math.inf
        losses.append(loss)
    keep = [i for i, x in enumerate(losses) if math.isfinite(x)]
    return tuple(pats[i] for i in keep), tuple(losses[i] for i in keep)


def build_problem(
    latency: LatencyModel,
    scores: Mapping[int, np.ndarray],
    *,
    budget: int,
    nm: bool,
    round_to: int | None,
    min_keep: float,
    sensitivity: Mapping[str, float] | None,
    layer_inputs: Mapping[str, torch.Tensor] | None,
    weights: Mapping[str, torch.Tensor],
    cache: LossCache | None = None,
    loss_shape: str = "log",
) -> Built:
    """Turn a traced, analysed model into a :class:`Problem` (see the module docstring).

    Every cycle count comes from ``latency`` (the one latency model, shared with the Vitis
    workflows and OFA); ``cache`` (a :class:`LossCache` the caller keeps) memoises N:M losses across
    rebuilds.
    """
    cache = LossCache() if cache is None else cache
    shape = LOSS_SHAPES[loss_shape]
    analysis, lowered, cfg = latency.analysis, latency.lowered, latency.cfg
    groups = [g for g in analysis.groups if g.prunable and g.id in scores and g.size > 1]
    var_of = {g.id: i for i, g in enumerate(groups)}
    terms = layer_terms(analysis, lowered, var_of)
    sizes = [g.size for g in groups]
    all_patterns = sparse_patterns(cfg) if nm else (DENSE,)

    def cost_fn(index: int, pats: tuple[LayerSparsity, ...]) -> CostFn:
        def cost(cin: int, cout: int, p: int) -> int:
            pat = pats[p]
            if pat.weight is not None and cin % pat.weight.m:
                return INFEASIBLE
            return latency.layer_cycles(index, cin, cout, pat)

        return cost

    layer_vars: list[LayerVar | None] = []
    layer_pats: list[tuple[LayerSparsity, ...]] = []
    const = 0
    nm_kinds = (LayerKind.CONV, LayerKind.GEMM)
    for li, (lw, t) in enumerate(zip(lowered, terms, strict=True)):
        sparse_ok = lw.layer.kind in nm_kinds and lw.layer.groups == 1 and lw.op in weights
        pats, losses = _pattern_losses(
            lw.op, all_patterns if sparse_ok else (DENSE,), weights, layer_inputs, cache, shape
        )
        layer_pats.append(pats)
        it, fi, ot, fo = t
        if not it and not ot and len(pats) == 1:
            const += latency.lowered_cycles(li)
            layer_vars.append(None)
            continue
        layer_vars.append(
            LayerVar(lw.op, it, fi, ot, fo, tuple(str(p) for p in pats), losses, cost_fn(li, pats))
        )

    # candidates: tops of latency steps of each group with the others at full size
    touching: list[list[int]] = [[] for _ in groups]
    for li, lv in enumerate(layer_vars):
        if lv is not None:
            for v in lv.vars:
                touching[v].append(li)
    gvars, order = [], {}
    shapes = latency.shapes
    for v, g in enumerate(groups):
        lo = max(1, math.ceil(min_keep * g.size))
        step = max(1, round_to or 1)
        lat = _step_latency(v, range(lo, g.size + 1), touching[v], terms, sizes, shapes, layer_vars)
        cands = [k for k in range(lo, g.size) if lat[k] < lat[k + 1] and k % step == 0] + [g.size]
        s = np.asarray(scores[g.id], dtype=np.float64)
        idx = np.argsort(-s, kind="stable")
        order[g.id] = idx
        srt = np.sort(s)  # ascending: the first size-k are what keeping k removes
        total = float(srt.sum())
        csum = np.concatenate([[0.0], np.cumsum(srt)])
        n_layers = len({sl.op for sl in g.slots if sl.role in (SlotRole.IN, SlotRole.OUT)})
        weight = max(1, n_layers) * (sensitivity.get(g.key, 1.0) if sensitivity else 1.0)
        loss = tuple(weight * shape(float(csum[g.size - k]) / total) if total > 0 else 0.0 for k in cands)
        gvars.append(GroupVar(g.key, g.id, tuple(cands), loss))

    # layers no choice affects become constant cycles
    kept_layers = [lv for lv in layer_vars if lv is not None]
    problem = Problem(tuple(gvars), tuple(kept_layers), int(const), int(budget))
    return Built(problem, tuple(groups), tuple(layer_pats), tuple(terms), order)
