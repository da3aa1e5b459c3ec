"""Helpers shared by the frontend/pruning tests (test_fe_*.py)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hwprune.analysis.counts import count
from hwprune.analysis.groups import ChannelGroup, channel_groups
from hwprune.emit.module import emit
from hwprune.frontend.trace import trace
from hwprune.ir.graph import Graph
from hwprune.ir.verify import verify
from hwprune.transforms.channels import prune_channels
from hwprune.transforms.mask import masked_model


def random_keep(groups: list[ChannelGroup], seed: int = 0, exact_only: bool = True) -> dict[int, list[int]]:
    """A random non-empty, strict subset of members for every prunable (exact) group of size > 1."""
    rng = np.random.default_rng(seed)
    keep = {}
    for g in groups:
        if g.prunable and g.size > 1 and (g.exact or not exact_only):
            n = int(rng.integers(1, g.size))
            keep[g.id] = sorted(rng.choice(g.size, size=n, replace=False).tolist())
    return keep


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def forward_with_macs(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Run ``m(x)`` and count MACs per sample of its convolutions and matrix products (modules or functional
    calls alike), from torch's own FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = m(x)
    flops = counter.get_total_flops()
    assert flops % (2 * x.shape[0]) == 0
    return out, flops // (2 * x.shape[0])


def check_model(model: nn.Module, x: torch.Tensor, seed: int = 0, tol: float = 1e-5) -> tuple[Graph, list]:
    """Every property the brief asks of a pruned model, on one model (eval mode).

    ratio 0 reproduces the original; a random keep set equals the consumer-masked original (and the masking
    really changes the output); verify holds; parameter and MAC counts of the slim model match the IR.
    """
    model = model.eval()
    graph = verify(trace(model, x))
    groups = channel_groups(graph)
    with torch.no_grad():
        ref = model(x)
        same = emit(graph).eval()(x)
    assert torch.equal(same, ref), "emitting the unpruned graph must reproduce the model exactly"
    keep = random_keep(groups, seed)
    assert keep, "the model should have at least one prunable exact group"
    pruned = verify(prune_channels(graph, keep))
    slim = emit(pruned).eval()
    masked = masked_model(graph, keep).eval()
    out, macs = forward_with_macs(slim, x)
    with torch.no_grad():
        want = masked(x)
    scale = max(1.0, float(ref.abs().max()))
    assert out.shape == ref.shape
    assert float((out - want).abs().max()) < tol * scale, f"slim != masked: {(out - want).abs().max()}"
    assert float((want - ref).abs().max()) > 0, "masking changed nothing: the test would not catch a bug"
    counts = count(pruned)
    assert counts.params == n_params(slim)
    assert counts.macs == macs
    assert count(graph).params == n_params(model)
    assert counts.params < count(graph).params
    return graph, groups
