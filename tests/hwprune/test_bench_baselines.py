"""The benchmark's baselines (benchmarks/baselines.py): each meets its latency target on the simulated
hardware, keeps the model runnable and leaves the user's model untouched."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import hwprune
from hwprune.errors import BudgetError

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "baselines.py"
_spec = importlib.util.spec_from_file_location("bench_baselines", _PATH)
baselines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baselines)


def _net():
    torch.manual_seed(0)
    return hwprune.models.get("resnet20", num_classes=10, in_channels=1).eval()


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_halp_meets_target_in_cycle_mode_and_keeps_important_channels():
    model, x = _net(), torch.zeros(1, 1, 32, 32)
    before = _state(model)
    full = hwprune.simulate(model, x, hw="dpu-b4096").total_cycles
    batch = (torch.randn(16, 1, 32, 32), torch.randint(0, 10, (16,)))
    grads = baselines.taylor_grads(model, [batch])
    assert grads and all(torch.isfinite(g).all() for g in grads.values())
    slim, counts = baselines.halp_knapsack(model, x, "dpu-b4096", int(0.5 * full), grads)
    cycles = hwprune.simulate(slim, x, hw="dpu-b4096").total_cycles
    assert cycles <= 0.5 * full
    assert cycles > 0.35 * full  # a knapsack stops near the target, it does not overshoot wildly
    sizes = {g.id: g.size for g in hwprune.channel_groups(hwprune.trace(model, x))}
    assert all(1 <= k <= sizes[gid] for gid, k in counts.items())
    assert sum(counts.values()) < sum(sizes[gid] for gid in counts)
    assert slim(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(BudgetError, match="below"):
        baselines.halp_knapsack(model, x, "dpu-b4096", 10, grads)


def test_torch_pruning_uniform_bisected_to_a_latency_target():
    pytest.importorskip("torch_pruning")  # the bench extra
    model, x = _net(), torch.zeros(1, 1, 32, 32)
    before = _state(model)
    full = hwprune.simulate(model, x, hw="dpu-b4096").total_cycles

    def fits(m):
        return hwprune.simulate(m, x, hw="dpu-b4096").total_cycles <= 0.6 * full

    ratio, slim = baselines.bisect_smallest(
        lambda r: baselines.torch_pruning_uniform(model, x, r), fits, 0.0, 0.95, 8
    )
    assert ratio is not None and 0.0 < ratio < 0.95 and fits(slim)
    # one step less pruning no longer fits: the bisection found the smallest ratio (to its resolution)
    assert not fits(baselines.torch_pruning_uniform(model, x, ratio - 0.95 / 2**8 - 1e-9)) or ratio < 0.01
    convs = [m for m in slim.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[1].out_channels < 16  # channels really removed
    assert slim(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
