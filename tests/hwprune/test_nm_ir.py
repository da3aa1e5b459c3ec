"""N:M as a typed field of the IR: one definition (``LayerSparsity``), read by the frontend, lowered as is."""

from __future__ import annotations

import pytest
import torch

import hwprune
import hwprune.models as models
from hwmodel.config.presets import preset
from hwmodel.errors import SparsityError
from hwmodel.workloads.layers import DENSE, LayerSparsity, NMPattern
from hwprune.lower.lower import lower


@pytest.mark.parametrize("text", ["4:16", "4:16+act0.5", "2:4", "1:8"])
def test_layer_sparsity_text_round_trips(text):
    assert str(LayerSparsity.parse(text)) == text
    assert LayerSparsity.parse("dense") == LayerSparsity.parse(None) == DENSE and str(DENSE) == "dense"


@pytest.mark.parametrize("bad", ["4-16", "4:16+actx", "0:4", "5:4"])
def test_layer_sparsity_parse_errors_name_the_text(bad):
    with pytest.raises(SparsityError, match="N:M|N <= M|parse"):
        LayerSparsity.parse(bad)


def test_engine_choices_are_exactly_what_it_accepts():
    engine = preset("dpu-b4096-sparse").sparse
    choices = engine.layer_choices()
    assert choices[0] == DENSE and len(set(choices)) == len(choices)
    for c in choices[1:]:
        engine.check(c.weight, c.act, "test")  # raises if not accepted
    # Vitis AI's rule: 2:4 activations only with 75% weight sparsity
    assert {str(c) for c in choices if c.act} == {"1:4+act0.5", "2:8+act0.5", "4:16+act0.5"}
    assert LayerSparsity(NMPattern(8, 16), 0.5) not in choices


def test_frontend_reads_masks_into_ops_and_lowering_uses_them():
    torch.manual_seed(0)
    model = models.get("resnet20", num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    plan = hwprune.plan(model, x, hw="dpu-b1024-sparse", budget=0.4)
    assert plan.nm(), "the plan uses N:M somewhere"
    slim = hwprune.apply(model, x, plan)
    g = hwprune.trace(slim, x)
    got = {op.name: str(op.sparsity) for op in g.ops if op.sparsity is not None}
    assert got == plan.nm()
    lowered = {lw.op: lw.layer.sparsity for lw in lower(g)}
    assert all(str(lowered[name]) == text for name, text in plan.nm().items())
    # the unmasked model has no sparsity anywhere
    assert all(op.sparsity is None for op in hwprune.trace(model, x).ops)
    # channel masks (a Vitis sparse subnet) are not N:M and stay dense
    baked = hwprune.bake(slim)
    assert all(op.sparsity is None or op.sparsity.weight is None for op in hwprune.trace(baked, x).ops)
