"""Baselines the planner is measured against (benchmarks only; not part of the hwprune package).

- :func:`torch_pruning_uniform`: uniform L1 channel pruning with the real Torch-Pruning library
  (``torch_pruning.pruner.MagnitudePruner``, one ratio for every layer), the ratio bisected until the
  slim model meets a latency target on simulated hardware.
- :func:`halp_knapsack`: HALP-style latency-saliency knapsack (Shen et al., "Structural Pruning via
  Latency-Saliency Knapsack", NeurIPS 2022): per channel group, channels sorted by Taylor importance;
  removal proceeds in latency steps (the channels between one step top and the next), and a greedy
  knapsack removes, step by step, the step with the least importance per cycle saved, priced on the
  same latency tables as hwprune's planner (``hwprune.planning.latency.LatencyModel``), until the
  target is met in cycle mode.

Torch-Pruning is an optional dependency (``pip install -c constraints.txt -e ".[bench]"``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

import hwmodel
import hwprune
from hwprune.analysis.groups import analyze
from hwprune.analysis.importance import group_importance
from hwprune.planning.latency import LatencyModel
from hwprune.pruning import apply_keep

__all__ = ["bisect_smallest", "torch_pruning_uniform", "halp_knapsack", "taylor_grads"]


def bisect_smallest(
    make: Callable[[float], Any], fits: Callable[[Any], bool], lo: float, hi: float, steps: int = 12
) -> tuple[float | None, Any]:
    """Smallest x in [lo, hi] (to ``(hi - lo) / 2**steps``) with ``fits(make(x))``; ``(None, None)`` if none.

    ``make`` need not be monotone near ``hi`` (Torch-Pruning keeps whole layers at extreme ratios): when
    ``hi`` does not fit, the upper end steps down by ``(hi - lo) / 20`` until one fits.
    """
    best, top = make(hi), hi
    while not fits(best):
        top -= (hi - lo) / 20
        if top <= lo:
            return None, None
        best = make(top)
    hi = top
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        m = make(mid)
        if fits(m):
            hi, best = mid, m
        else:
            lo = mid
    return hi, best


def _classifier_layers(model: nn.Module) -> list[nn.Module]:
    """The output layer(s): every Linear whose out_features is the model's class count."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1:] if linears else []


def torch_pruning_uniform(model: nn.Module, x: torch.Tensor, ratio: float) -> nn.Module:
    """A copy of ``model`` with ``ratio`` of every layer's channels removed by Torch-Pruning (L1).

    Args:
        model: the trained model (not modified).
        x: an example input.
        ratio: Torch-Pruning's ``pruning_ratio`` (same in every layer; ``global_pruning=False``).

    Returns:
        The pruned copy (a plain ``nn.Module`` with smaller layers).
    """
    import torch_pruning as tp

    m = copy.deepcopy(model).eval()
    if ratio <= 0:
        return m
    pruner = tp.pruner.MagnitudePruner(
        m,
        x,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=ratio,
        global_pruning=False,
        ignored_layers=_classifier_layers(m),
    )
    pruner.step()
    return m


def taylor_grads(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """Parameter name -> gradient of the summed cross-entropy over ``batches`` (model not modified)."""
    m = copy.deepcopy(model).eval()  # eval: BN statistics untouched, as HALP scores a trained net
    m.zero_grad()
    for xb, yb in batches:
        nn.functional.cross_entropy(m(xb), yb).backward()
    return {n: p.grad.detach().clone() for n, p in m.named_parameters() if p.grad is not None}


def halp_knapsack(
    model: nn.Module, x: torch.Tensor, hw: str, target_cycles: int, grads: dict[str, torch.Tensor]
) -> tuple[nn.Module, dict[int, int]]:
    """HALP-style greedy latency-saliency knapsack down to ``target_cycles`` on ``hw`` (cycle mode).

    Args:
        model: the trained model (not modified).
        x: an example input.
        hw: accelerator preset.
        target_cycles: latency target in cycles (simulated, cycle mode).
        grads: parameter gradients for Taylor importance (:func:`taylor_grads`).

    Returns:
        ``(slim model, kept count per group id)``.

    Raises:
        hwprune.errors.BudgetError: the target is below what one channel per group reaches.
    """
    graph = hwprune.trace(model, x)
    analysis = analyze(graph)
    lm = LatencyModel(analysis, hwmodel.preset(hw))
    scores = group_importance(graph, analysis.groups, "taylor", model=model, grads=grads)
    # HALP normalises importance per layer; per-group sums of |g*w| differ by orders of magnitude
    order = {
        gid: np.sort(np.asarray(s, dtype=np.float64) / max(float(np.sum(s)), 1e-12))[::-1]
        for gid, s in scores.items()
    }
    counts = dict(lm.full)

    def step_down(gid: int) -> tuple[int, int] | None:
        """(next kept count, its cycles): the top of the next lower latency step of group ``gid``."""
        now = lm.cycles(counts)
        k = counts[gid]
        for k2 in range(k - 1, 0, -1):
            c = lm.cycles({**counts, gid: k2})
            if c < now:
                return k2, c
        return None

    target = target_cycles
    while True:
        cycles = lm.cycles(counts)
        while cycles > target:
            best = None
            for gid in order:
                nxt = step_down(gid)
                if nxt is None:
                    continue
                k2, c2 = nxt
                lost = float(order[gid][k2 : counts[gid]].sum())
                ratio = lost / (cycles - c2)
                if best is None or ratio < best[0]:
                    best = (ratio, gid, k2, c2)
            if best is None:
                raise hwprune.errors.BudgetError(
                    f"HALP: {target_cycles} cycles on {hw} is below what one channel per group reaches "
                    f"({cycles} cycles)"
                )
            counts[best[1]], cycles = best[2], best[3]
        simulated = lm.simulate(counts).total_cycles  # stalls are not in the analytic tables
        if simulated <= target_cycles:
            break
        target = cycles - (simulated - target_cycles)
    keep = {
        gid: sorted(int(i) for i in np.argsort(-np.asarray(scores[gid]), kind="stable")[: counts[gid]])
        for gid in order
        if counts[gid] < lm.full[gid]
    }
    return apply_keep(graph, keep), {gid: counts[gid] for gid in order}
