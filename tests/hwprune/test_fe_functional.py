"""Functional ops on the model's own parameters (timm/torchvision patterns): every zoo model prunes exactly.

Each model of ``zoo_functional`` is checked like the classic zoo (ratio 0 is the identity, random keep sets
equal the masked original, verify, parameter and MAC counts), then pruned at ratio 0.3 with the exact
groups compared against the masked original.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import hwprune
from hwprune.analysis.groups import channel_groups
from hwprune.analysis.importance import group_importance
from hwprune.emit.module import emit
from hwprune.frontend.trace import trace
from hwprune.ir.kinds import OpKind
from hwprune.ir.verify import verify
from hwprune.pruning import keep_top, uniform_keep
from hwprune.transforms.channels import prune_channels
from hwprune.transforms.mask import masked_model
from tests.hwprune.fe_support import check_model, n_params
from tests.hwprune.zoo import _seeded
from tests.hwprune.zoo_functional import FUNCTIONAL_ZOO, INPUT_SHAPES

ZOO = {name: _seeded(f) for name, f in FUNCTIONAL_ZOO.items()}


def _input(name: str = "", seed: int = 0) -> torch.Tensor:
    shape = INPUT_SHAPES.get(name, (2, 3, 16, 16))
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def check_ratio(model: nn.Module, x: torch.Tensor, ratio: float = 0.3) -> nn.Module:
    """Prune every exact prunable group by ``ratio`` (l1), compare with the masked original; inexact groups
    are pruned too in ``hwprune.prune``, which must still run and shrink the model."""
    model = model.eval()
    graph = verify(trace(model, x))
    groups = channel_groups(graph)
    scores = group_importance(graph, groups, "l1")
    keep = {
        g.id: keep_top(scores[g.id], uniform_keep(g.size, ratio))
        for g in groups
        if g.prunable and g.exact and uniform_keep(g.size, ratio) < g.size
    }
    assert keep, "nothing to prune at this ratio"
    slim = emit(verify(prune_channels(graph, keep))).eval()
    with torch.no_grad():
        want, got, ref = masked_model(graph, keep).eval()(x), slim(x), model(x)
    assert got.shape == ref.shape
    assert float((got - want).abs().max()) < 1e-5 * max(1.0, float(ref.abs().max()))
    slim_all = hwprune.prune(model, x, ratio=ratio)
    with torch.no_grad():
        assert slim_all(x).shape == ref.shape
    assert n_params(slim_all) < n_params(model)
    return slim_all


@pytest.mark.parametrize("name", sorted(ZOO))
def test_functional_zoo_prunes_exactly(name: str) -> None:
    model, x = ZOO[name](), _input(name)
    graph, groups = check_model(model, x)
    assert not graph.ops_of(OpKind.OPAQUE), [op.target for op in graph.ops_of(OpKind.OPAQUE)]
    for g in groups:  # only the model input and output are blocked (and single channels, never pruned)
        if not g.prunable and g.size > 1:
            assert "model input" in g.reason or "model output" in g.reason, (g.key, g.reason)
    check_ratio(model, x)


def test_batchnorm_act_calls_are_batchnorms_whose_tensors_prune_with_the_channels() -> None:
    model = ZOO["bnact"]().eval()
    graph = trace(model, _input())
    bns = graph.ops_of(OpKind.BATCHNORM)
    assert len(bns) == 3 and all(op.attr("functional") for op in bns)
    slim = hwprune.prune(model, _input(), ratio=0.5)
    assert slim.bn3.weight.shape == slim.bn3.running_var.shape == (8,)
    assert slim.w.shape == (6, 8) and slim.b.shape == (6,) and slim.fc.in_features == 6


def test_weight_standardised_conv_prunes_outputs_exactly_and_marks_inputs_inexact() -> None:
    model = ZOO["weight_std"]().eval()
    graph = trace(model, _input())
    by_key = {g.key: g for g in channel_groups(graph)}
    ws1 = next(
        g
        for g in by_key.values()
        if any(s.op == graph.ops_of(OpKind.CONV)[1].name and s.role == "out" for s in g.slots)
    )
    assert ws1.prunable and not ws1.exact  # ws2 standardises over these input channels
    assert by_key["stem"].prunable and not by_key["stem"].exact
    assert by_key["mid"].prunable and by_key["mid"].exact  # the functional conv reads a plain parameter
    slim = hwprune.prune(model, _input(), ratio=0.5)
    assert slim.ws2.gain.shape[0] == slim.ws2.weight.shape[0] == 6  # gain follows the output channels
    assert slim.kernel.shape == (5, 8, 3, 3)


def test_grn_prunes_the_expanded_channels_inexactly() -> None:
    graph = trace(ZOO["grn"]().eval(), _input())
    pw1 = next(g for g in channel_groups(graph) if g.key == "pw1")
    assert pw1.prunable and not pw1.exact
    notes = [s.note for s in pw1.slots if s.role == "mix"]
    assert any("statistic over channels" in n for n in notes)


def test_unknown_ops_name_what_is_unknown() -> None:
    class Dynamic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 4, 1)
            self.b = nn.Conv2d(4, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.a(x)
            w = y.mean((0, 2, 3)).view(4, 1, 1, 1).expand(4, 4, 1, 1)  # a weight computed from the input
            return self.b(torch.cumsum(F.conv2d(y, w), 1))

    graph = trace(Dynamic(), torch.randn(1, 3, 4, 4))
    why = {op.target.rsplit(".", 1)[-1]: op.attr("why") for op in graph.ops_of(OpKind.OPAQUE)}
    assert "dynamic weight" in why["conv2d"] and "no rule for torch.cumsum" in why["cumsum"]
    a = next(g for g in channel_groups(graph) if g.key == "a")
    assert not a.prunable and "dynamic weight" in a.reason


def test_expand_that_enlarges_channels_blocks() -> None:
    class Widen(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 1, 1)
            self.b = nn.Conv2d(3, 4, 1)
            self.c = nn.Conv2d(4, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c(self.a(x).expand(-1, 4, -1, -1) * self.b(x))

    groups = {g.key: g for g in channel_groups(trace(Widen(), torch.randn(1, 3, 4, 4)))}
    assert not groups["a"].prunable and "enlarges" in groups["a"].reason


def test_group_norm_functional_keeps_the_group_size() -> None:
    model = ZOO["norms"]().eval()
    slim = hwprune.prune(model, _input(), ratio=0.5)
    # F.group_norm(x, 3, ...) over 12 channels keeps 2 groups of 4; nn.GroupNorm(4, 8) keeps 2 groups of 2
    assert slim.gn_w.shape == (8,) and slim.gn.num_groups == 2 and slim.gn.num_channels == 4
    gn = next(n for n in slim.graph.nodes if n.target is F.group_norm)
    assert 2 in (*gn.args, *gn.kwargs.values())
    assert slim(_input()).shape == (2, 4)


def test_group_norm_is_priced_by_lowering() -> None:
    from hwprune.lower.lower import lower

    graph = trace(ZOO["norms"]().eval(), _input())
    names = {lw.op for lw in lower(graph)}
    assert "gn" in names and any(op.name in names for op in graph.ops_of(OpKind.GROUPNORM) if op.name != "gn")


def test_conv_transpose_prunes_both_sides() -> None:
    model = ZOO["decoder"]().eval()
    graph = trace(model, _input())
    assert len(graph.ops_of(OpKind.CONV_TRANSPOSE)) == 3
    groups = {g.key: g for g in channel_groups(graph)}
    assert groups["enc"].prunable and ("up", "in") in {(s.op, s.role) for s in groups["enc"].slots}
    assert (
        groups["up[0:4]"].prunable and groups["up[0:4]"].granularity == 3
    )  # read by a 3-group transposed conv
    slim = hwprune.prune(model, _input(), ratio=0.5)
    assert (
        slim.up.in_channels == 4
        and slim.up.out_channels == 6
        and slim.grouped.groups == 3
        and slim.up.weight.shape[:2] == (4, slim.up.out_channels)
    )
    assert slim.dw.groups == slim.dw.in_channels == slim.dw.out_channels == slim.grouped.out_channels
    from hwprune.lower.lower import lower

    layers = {lw.op: lw.layer for lw in lower(graph)}
    assert {"up", "grouped", "dw"} <= set(layers)  # priced, never free


def test_1d_and_3d_layers_prune() -> None:
    for name, conv in (("seq1d", "b"), ("vol3d", "b")):
        model = ZOO[name]().eval()
        slim = hwprune.prune(model, _input(name), ratio=0.5)
        assert slim.get_submodule(conv).out_channels < model.get_submodule(conv).out_channels
        assert slim.bn.num_features == slim.a.out_channels < 6 + 2 * (name == "seq1d")


def test_eca_window_over_channels_is_inexact_and_global_context_exact() -> None:
    graph = trace(ZOO["attention"]().eval(), _input())
    groups = {g.key: g for g in channel_groups(graph)}
    assert groups["stem"].prunable and not groups["stem"].exact  # ECA's conv slides over these channels
    assert any("window along the channels" in s.note for s in groups["stem"].slots)
    assert groups["mid"].prunable and groups["mid"].exact  # global context: matmul over pixels, not channels
    assert graph.ops_of(OpKind.MATMUL) and not graph.ops_of(OpKind.OPAQUE)
    slim = hwprune.prune(ZOO["attention"]().eval(), _input(), ratio=0.5)
    assert slim.eca.conv.weight.shape == (1, 1, 3) and slim.gc.fc2.out_channels == 8
