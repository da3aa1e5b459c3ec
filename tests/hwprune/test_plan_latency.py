"""The shared latency model: its MACs equal the IR's count, its cycles the simulator's, for any subnet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hwmodel
import hwprune
import hwprune.models as models
from hwmodel.workloads.layers import LayerSparsity, NMPattern
from hwprune.analysis.counts import count
from hwprune.analysis.groups import analyze
from hwprune.lower.simulate import resolve_hw
from hwprune.planning.latency import LatencyModel
from hwprune.pruning import apply_keep
from hwprune.transforms.channels import prune_channels

NETS = [("resnet20", 32, 3), ("mobilenet_v2", 64, 3), ("digits_cnn", 32, 1), ("vgg11_bn", 32, 3)]


def _setup(net, size, cin, hw="dpu-b4096"):
    torch.manual_seed(0)
    model = models.get(net, num_classes=10, in_channels=cin).eval()
    x = torch.randn(1, cin, size, size)
    g = hwprune.trace(model, x)
    a = analyze(g)
    return model, x, g, a, LatencyModel(a, resolve_hw(hw))


def _random_keep(a, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for grp in a.groups:
        if grp.prunable and grp.size > 1:
            k = int(rng.integers(1, grp.size + 1))
            out[grp.id] = sorted(rng.choice(grp.size, size=k, replace=False).tolist())
    return out


@pytest.mark.parametrize("net,size,cin", NETS)
def test_macs_equal_the_ir_count_of_the_pruned_graph(net, size, cin):
    _, _, g, a, lat = _setup(net, size, cin)
    assert lat.macs() == count(g).macs
    for seed in range(3):
        keep = _random_keep(a, seed)
        kept = {gid: len(idx) for gid, idx in keep.items()}
        assert lat.macs(kept) == count(prune_channels(g, keep)).macs
        assert lat.macs(kept) < lat.macs()


@pytest.mark.parametrize("net,size,cin", NETS[:2])
def test_cycles_equal_the_simulation_of_the_slim_model(net, size, cin):
    model, x, g, a, lat = _setup(net, size, cin)
    keep = _random_keep(a, 7)
    kept = {gid: len(idx) for gid, idx in keep.items()}
    slim = apply_keep(g, keep)
    for mode in ("analytic", "cycle"):
        want = hwprune.simulate(slim, x, hw=lat.cfg, mode=mode).total_cycles
        assert lat.simulate(kept, mode=mode).total_cycles == want
    assert lat.cycles(kept) == hwmodel.simulate(lat.workloads(kept), lat.cfg, mode="analytic").total_cycles


def test_sparsity_per_layer_shortens_only_that_layer():
    _, _, g, a, lat = _setup("resnet20", 32, 3, hw="dpu-b1024-sparse")
    name = next(
        lw.op
        for lw in lat.lowered
        if lw.layer.kind.value == "conv" and lw.layer.channels % 16 == 0 and lw.layer.channels >= 32
    )
    s = LayerSparsity(NMPattern(4, 16), 0.5)
    dense = {w.name: w for w in lat.workloads()}
    sparse = {w.name: w for w in lat.workloads(sparsity={name: s})}
    assert sparse[name].sparsity == s and all(sparse[n] == dense[n] for n in dense if n != name)
    assert lat.cycles(sparsity={name: s}) < lat.cycles()
