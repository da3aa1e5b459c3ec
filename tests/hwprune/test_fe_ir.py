"""IR plumbing: handler tables cover every kind, verify catches broken graphs, counts, structure hash."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import hwprune
from hwprune.analysis.counts import count
from hwprune.errors import VerifyError
from hwprune.ir.handlers import CONCERNS, table
from hwprune.ir.kinds import OpKind
from tests.hwprune.fe_support import (
    forward_with_macs,
    n_params,
)
from tests.hwprune.zoo import ZOO, zoo_input


@pytest.mark.parametrize("concern", sorted(CONCERNS))
def test_every_kind_has_a_handler(concern: str) -> None:
    assert set(table(concern)) == set(OpKind)


def test_ir_nodes_are_frozen_with_tuple_fields() -> None:
    g = hwprune.trace(ZOO["vgg"](), zoo_input("vgg"))
    assert isinstance(g.ops, tuple) and isinstance(g.values, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.ops[0].name = "x"
    with pytest.raises(KeyError, match="did you mean"):
        g.op("features.00")


def test_verify_names_the_broken_op() -> None:
    g = hwprune.trace(ZOO["vgg"](), zoo_input("vgg"))
    conv = next(op for op in g.ops if op.kind is OpKind.CONV)
    bad = dataclasses.replace(conv, attrs=tuple((k, 99 if k == "out_channels" else v) for k, v in conv.attrs))
    broken = g.replace(ops=tuple(bad if op is conv else op for op in g.ops))
    with pytest.raises(VerifyError, match=conv.name):
        hwprune.verify(broken)
    reordered = g.replace(ops=(g.ops[1], g.ops[0], *g.ops[2:]))
    with pytest.raises(VerifyError, match="topological"):
        hwprune.verify(reordered)
    value = g.value(conv.output)
    wrong = g.replace(selection=((value.name, 1, (0, 1)),))
    with pytest.raises(VerifyError, match="selection"):
        hwprune.verify(wrong)


def test_counts_match_the_real_model() -> None:
    model, x = ZOO["efficientnet"]().eval(), zoo_input("efficientnet")
    c = count(hwprune.trace(model, x))
    _, macs = forward_with_macs(model, x)
    assert (c.params, c.macs) == (n_params(model), macs)
    assert sum(r.macs for r in c.per_op) == c.macs and c.of("nonexistent").macs == 0


def test_structure_hash_ignores_weights_but_not_architecture() -> None:
    x = zoo_input("resnet_basic")
    h1 = hwprune.structure_hash(hwprune.trace(ZOO["resnet_basic"](), x))
    other = ZOO["resnet_basic"]()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(2)
    assert hwprune.structure_hash(hwprune.trace(other, x)) == h1
    assert hwprune.structure_hash(hwprune.trace(ZOO["resnet_basic"](), x[:, :, :16, :16])) != h1
    slim = hwprune.prune(ZOO["resnet_basic"](), x, ratio=0.5)
    assert hwprune.structure_hash(hwprune.trace(slim, x)) != h1
    assert len(h1) == 16 and h1 == hwprune.structure_hash(hwprune.trace(ZOO["resnet_basic"](), x))
    # the batch size is not part of the structure
    assert hwprune.structure_hash(hwprune.trace(ZOO["resnet_basic"](), torch.cat([x, x, x]))) == h1
    assert hwprune.structure_hash(hwprune.trace(ZOO["resnet_basic"](), x[:1])) == h1


def test_linear_on_3d_input_counts_tokens() -> None:
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    c = count(hwprune.trace(Tokens(), torch.randn(2, 5, 4)))
    assert c.macs == 5 * 4 * 6 and c.params == 30
