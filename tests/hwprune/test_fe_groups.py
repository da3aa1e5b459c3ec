"""Channel groups on hand-made patterns: what couples, with which offsets, and what blocks pruning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import hwprune
from hwprune.analysis.groups import format_groups, op_channel_groups
from hwprune.errors import ExcludeError
from tests.hwprune.fe_support import (
    check_model,
)


def _groups(model: nn.Module, x: torch.Tensor, **kw):
    g = hwprune.trace(model, x)
    return g, {gr.key: gr for gr in hwprune.channel_groups(g, **kw)}


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.c = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        return self.c(F.relu(self.b(y)) + y)


def test_residual_add_couples_both_branches() -> None:
    g, groups = _groups(Residual(), torch.randn(1, 3, 6, 6))
    a = groups["a"]
    assert a.prunable and a.size == 8
    assert {(s.op, s.role) for s in a.slots} >= {("a", "out"), ("b", "in"), ("b", "out"), ("c", "in")}
    assert groups["c"].prunable is False and "output" in groups["c"].reason
    check_model(Residual(), torch.randn(2, 3, 6, 6))


class Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Conv2d(3, 4, 1)
        self.q = nn.Conv2d(3, 6, 1)
        self.r = nn.Conv2d(10, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.r(torch.cat([self.p(x), self.q(x)], dim=1))


def test_concat_gives_offsets_in_the_consumer() -> None:
    g, groups = _groups(Concat(), torch.randn(1, 3, 4, 4))
    (p_in,) = groups["p"].slots_of("in")
    (q_in,) = groups["q"].slots_of("in")
    assert (p_in.op, p_in.offset, p_in.length) == ("r", 0, 4)
    assert (q_in.op, q_in.offset, q_in.length) == ("r", 4, 6)
    spans = op_channel_groups(g, hwprune.channel_groups(g))["r"]
    assert [(s.group, s.offset, s.length) for s in spans.in_spans] == [
        (groups["p"].id, 0, 4),
        (groups["q"].id, 4, 6),
    ]
    assert spans.in_after({groups["p"].id: 1, groups["q"].id: 3}) == 4
    check_model(Concat(), torch.randn(2, 3, 4, 4))


class FlattenLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3)
        self.fc = nn.Linear(5 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.conv(x), 1))


def test_flatten_expands_each_channel_to_hw_features() -> None:
    g, groups = _groups(FlattenLinear(), torch.randn(1, 3, 4, 4))
    (fc_in,) = groups["conv"].slots_of("in")
    assert (fc_in.op, fc_in.offset, fc_in.stride, fc_in.reps, fc_in.rep_stride) == ("fc", 0, 4, 4, 1)
    slim = hwprune.prune(FlattenLinear(), torch.randn(1, 3, 4, 4), ratio=0.4)
    assert slim.conv.out_channels == 3 and slim.fc.in_features == 12
    check_model(FlattenLinear(), torch.randn(2, 3, 4, 4))


class DepthwiseGrouped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pw = nn.Conv2d(3, 8, 1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.gc = nn.Conv2d(8, 12, 3, padding=1, groups=4)
        self.head = nn.Conv2d(12, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gc(self.dw(self.pw(x))))


def test_depthwise_in_equals_out_and_grouped_conv_prunes_per_group() -> None:
    g, groups = _groups(DepthwiseGrouped(), torch.randn(1, 3, 5, 5))
    pw = next(gr for gr in groups.values() if ("pw", "out") in {(s.op, s.role) for s in gr.slots})
    assert {("dw", "in"), ("dw", "out"), ("gc", "in")} <= {(s.op, s.role) for s in pw.slots}
    # the grouped conv (4 groups, 2 in / 3 out per group) couples the same position of every group
    assert pw.size == 2 and pw.granularity == 4
    gc = next(gr for gr in groups.values() if ("gc", "out") in {(s.op, s.role) for s in gr.slots})
    assert gc.size == 3 and gc.granularity == 4
    slim = hwprune.prune_with_keep(DepthwiseGrouped(), torch.randn(1, 3, 5, 5), {pw.id: [1], gc.id: [0, 2]})
    assert (slim.pw.out_channels, slim.dw.groups, slim.gc.in_channels, slim.gc.out_channels) == (4, 4, 4, 8)
    check_model(DepthwiseGrouped(), torch.randn(2, 3, 5, 5))


class Shuffle(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 4, 1)
        self.c = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.a(x), self.b(x)], 1)
        n, c, h, w = y.size()
        y = y.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        return self.c(y)


def test_channel_shuffle_is_proven_and_pairs_the_interleaved_channels() -> None:
    g, groups = _groups(Shuffle(), torch.randn(1, 3, 4, 4))
    group = next(gr for gr in groups.values() if gr.prunable)
    # (a_j, b_j) sit side by side after the shuffle: they are removed together, and c reads them at 2j, 2j+1
    assert {(s.op, s.role) for s in group.slots} >= {("a", "out"), ("b", "out"), ("c", "in")}
    (c_in,) = group.slots_of("in")
    assert (c_in.stride, c_in.reps, c_in.rep_stride) == (2, 2, 1)
    check_model(Shuffle(), torch.randn(2, 3, 4, 4))


class LayerScale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 1)
        self.norm = nn.LayerNorm(6)
        self.fc1 = nn.Linear(6, 12)
        self.fc2 = nn.Linear(12, 6)
        self.gamma = nn.Parameter(torch.rand(6))
        self.head = nn.Conv2d(6, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = self.norm(y.permute(0, 2, 3, 1))
        z = self.gamma * self.fc2(F.gelu(self.fc1(z)))
        return self.head(y + z.permute(0, 3, 1, 2))


def test_permute_layernorm_and_layer_scale_prune_with_the_group() -> None:
    model = LayerScale().eval()
    x = torch.randn(1, 3, 4, 4)
    g, groups = _groups(model, x)
    conv = groups["conv"]
    roles = {(s.op, s.role) for s in conv.slots}
    assert {("norm", "param"), ("gamma", "param"), ("fc1", "in"), ("fc2", "out")} <= roles
    assert conv.prunable and not conv.exact  # LayerNorm statistics span the channels
    assert groups["fc1"].exact and groups["fc1"].prunable
    slim = hwprune.prune(model, x, ratio=0.5)
    assert slim.gamma.shape == (3,) and slim.norm.normalized_shape == (3,) and slim.fc1.out_features == 6
    assert slim(x).shape == model(x).shape


class Blockers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 4, 1)
        self.c = nn.Conv2d(3, 4, 1)
        self.out = nn.Conv2d(12, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a(x)
        a = a - a.mean(
            dim=1, keepdim=True
        )  # mean over channels: pruning changes it (inexact, like LayerNorm)
        a = a * a.amax(dim=1, keepdim=True)  # a max over channels blocks
        b = torch.softmax(self.b(x), dim=1)
        c = self.c(x)[:, 0:4]
        return self.out(torch.cat([a, b, c], 1))


def test_reductions_over_channels_block_with_a_reason_naming_the_op() -> None:
    g, groups = _groups(Blockers(), torch.randn(1, 3, 4, 4))
    assert not groups["a"].prunable and "amax" in groups["a"].reason
    assert any("statistic over channels" in s.note for s in groups["a"].slots if s.role == "mix")
    table = format_groups(list(groups.values()))
    assert groups["a"].reason in table and table.count("\n") == len(groups)
    assert not groups["b"].prunable and "softmax" in groups["b"].reason
    assert groups["c"].prunable  # a full-range slice keeps channels trackable


def test_excludes_pin_a_module_and_unknown_excludes_fail() -> None:
    g, groups = _groups(Residual(), torch.randn(1, 3, 6, 6), excludes=("b",))
    assert not groups["a"].prunable and "'b' is excluded" in groups["a"].reason
    with pytest.raises(ExcludeError, match="did you mean 'b'"):
        hwprune.channel_groups(g, excludes=("bb",))
    with pytest.raises(ExcludeError):
        hwprune.prune(Residual(), torch.randn(1, 3, 6, 6), ratio=0.5, excludes=("nothing.here",))


def test_group_keys_are_stable_and_unique() -> None:
    g1 = hwprune.channel_groups(hwprune.trace(Concat(), torch.randn(1, 3, 4, 4)))
    g2 = hwprune.channel_groups(hwprune.trace(Concat(), torch.randn(1, 3, 4, 4)))
    assert [g.key for g in g1] == [g.key for g in g2]
    assert len({g.key for g in g1}) == len(g1)
    assert [g.id for g in g1] == list(range(len(g1)))


class Literals(nn.Module):
    """Channel counts written as literals in the forward: the emitter must rewrite them."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 1)
        self.b = nn.Conv2d(3, 6, 1)
        self.c = nn.Conv2d(4, 4, 3)
        self.d = nn.Conv2d(4, 4, 1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(8 * 2 * 2, 3)
        self.fc2 = nn.Linear(6 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a(x)
        lo, hi = torch.split(a, [4, 4], dim=1)
        y = self.c(F.pad(lo, (1, 1, 1, 1))) + self.d(hi[:, :, :, :])
        y = F.interpolate(y, scale_factor=0.5)
        z = torch.cat([y, a[:, 4:8, ::2, ::2]], 1)
        z = self.fc(z.view(-1, 8 * 2 * 2))
        w = self.b(x)
        return z + self.fc2(self.flat(w)) + self.fc2(w.reshape(w.shape[0], 96))


def test_literal_channel_counts_are_rewritten() -> None:
    model = Literals().eval()
    x = torch.randn(2, 3, 4, 4)
    g, groups = _groups(model, x)
    assert all(gr.prunable for gr in groups.values() if "model" not in gr.reason)
    check_model(Literals(), x)
    slim = hwprune.prune(model, x, ratio=0.5)
    assert slim(x).shape == (2, 3)
    assert slim.b.out_channels == 3 and slim.fc2.in_features == 48


class Norms1d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(3, 6, 3, padding=1)
        self.inorm = nn.InstanceNorm1d(6, affine=True)
        self.b = nn.Conv1d(6, 4, 1)
        self.gn = nn.GroupNorm(2, 4)
        self.c = nn.Conv1d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(self.gn(self.b(F.relu(self.inorm(self.a(x))))))


def test_instance_norm_and_group_norm_prune_group_norm_by_whole_groups() -> None:
    g, groups = _groups(Norms1d(), torch.randn(2, 3, 7))
    assert groups["a"].prunable and ("inorm", "param") in {(s.op, s.role) for s in groups["a"].slots}
    # a member is a whole GroupNorm group (2 channels): the kept groups' statistics do not change
    assert groups["b"].prunable and groups["b"].size == 2 and groups["b"].granularity == 2
    check_model(Norms1d(), torch.randn(2, 3, 7))


class Duplicated(nn.Module):
    """The same tensor twice in a concat, and a channel split consumed out of order."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 1)
        self.b = nn.Conv2d(12, 4, 1)
        self.c = nn.Conv2d(6, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.a(x))
        p, q, r = a.split(2, dim=1)
        return self.b(torch.cat([a, a], 1)) + self.c(torch.cat([r, p, q], 1))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("factory", [Duplicated, Shuffle, Literals, DepthwiseGrouped, Concat])
def test_random_keep_sets_match_the_masked_model(factory, seed: int) -> None:
    torch.manual_seed(seed)
    x = torch.randn(2, 3, 4, 4)
    check_model(factory(), x, seed=seed)


def test_duplicate_concat_slot_repeats() -> None:
    g, groups = _groups(Duplicated(), torch.randn(1, 3, 4, 4))
    first = next(gr for gr in groups.values() if gr.prunable)
    (b_in,) = [s for s in first.slots if s.op == "b"]
    assert (b_in.reps, b_in.rep_stride) == (2, 6)
