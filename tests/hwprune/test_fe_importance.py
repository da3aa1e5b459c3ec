"""Importance criteria: they rank the channels they should, and the registry is closed over names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import hwprune
from hwprune.analysis.importance import criteria, group_importance
from hwprune.errors import PruneConfigError


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.b = nn.Conv2d(4, 2, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.bn(self.a(x))))


def _setup():
    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.a.weight.copy_(torch.ones_like(net.a.weight))
        net.a.weight[1] *= 3.0  # channel 1 is the largest producer
        net.b.weight.copy_(torch.ones_like(net.b.weight))
        net.b.weight[:, 2] = 0.0
        net.bn.weight.copy_(torch.tensor([1.0, 0.1, 5.0, -2.0]))
    x = torch.randn(2, 3, 5, 5)
    g = hwprune.trace(net, x)
    groups = hwprune.channel_groups(g)
    group = next(gr for gr in groups if gr.key == "a")
    return net, x, g, groups, group


def test_l1_l2_sum_producer_rows_and_consumer_columns() -> None:
    net, x, g, groups, group = _setup()
    l1 = group_importance(g, groups, "l1")[group.id]
    assert np.allclose(l1, [27 + 2, 81 + 2, 27 + 0, 27 + 2])
    l2 = group_importance(g, groups, "l2")[group.id]
    assert np.allclose(l2, np.sqrt([27 + 2, 243 + 2, 27, 29]))


def test_bn_scale_uses_gamma_magnitude() -> None:
    net, x, g, groups, group = _setup()
    assert np.allclose(group_importance(g, groups, "bn_scale")[group.id], [1.0, 0.1, 5.0, 2.0])


def test_taylor_uses_weight_times_gradient() -> None:
    net, x, g, groups, group = _setup()
    net.zero_grad()
    net(x).sum().backward()
    t = group_importance(g, groups, "taylor", model=net)[group.id]
    want_out = (net.a.weight * net.a.weight.grad).sum(dim=(1, 2, 3)).abs()
    want_in = (net.b.weight * net.b.weight.grad).sum(dim=(0, 2, 3)).abs()
    assert np.allclose(t, (want_out + want_in).detach().numpy())
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert np.allclose(group_importance(g, groups, "taylor", model=net, grads=grads)[group.id], t)


def test_random_is_seeded_and_registry_rejects_unknown_names() -> None:
    net, x, g, groups, group = _setup()
    r1 = group_importance(g, groups, "random", seed=1)[group.id]
    assert np.array_equal(r1, group_importance(g, groups, "random", seed=1)[group.id])
    assert not np.array_equal(r1, group_importance(g, groups, "random", seed=2)[group.id])
    assert set(criteria()) >= {"l1", "l2", "bn_scale", "taylor", "random"}
    with pytest.raises(PruneConfigError, match="use one of"):
        group_importance(g, groups, "magic")


def test_prune_removes_the_least_important_channel() -> None:
    net, x, g, groups, group = _setup()
    slim = hwprune.prune(net, x, ratio=0.25, importance="bn_scale")
    assert torch.allclose(slim.bn.weight, torch.tensor([1.0, 5.0, -2.0]))
    slim = hwprune.prune(net, x, ratio=0.25, importance="l1")
    assert torch.allclose(slim.bn.weight, torch.tensor([1.0, 0.1, -2.0]))
