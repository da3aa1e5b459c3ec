"""Every test architecture and reference net: ratio 0 is the identity, random keep sets equal the masked
original, verify holds, and parameter/MAC counts of the slim model match the IR."""

from __future__ import annotations

import pytest
import torch

import hwprune.models as models
from hwprune.analysis.groups import channel_groups
from hwprune.emit.module import emit
from hwprune.frontend.trace import trace
from hwprune.ir.verify import verify
from hwprune.transforms.channels import prune_channels
from tests.hwprune.fe_support import (
    check_model,
    random_keep,
)
from tests.hwprune.zoo import ZOO, zoo_input


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_prunes_exactly(name: str) -> None:
    graph, groups = check_model(ZOO[name](), zoo_input(name))
    # only the model input and the classifier output may be blocked in the zoo
    for g in groups:
        if not g.prunable:
            assert "model input" in g.reason or "model output" in g.reason, (g.key, g.reason)


def test_convnext_layernorm_groups_are_marked_inexact_and_still_prune() -> None:
    model = ZOO["convnext"]().double().eval()
    x = zoo_input("convnext").double()
    graph = trace(model, x)
    groups = channel_groups(graph)
    inexact = [g for g in groups if not g.exact]
    assert inexact and all(g.prunable for g in inexact)
    assert all(any(graph.op(s.op).kind.value == "layernorm" for s in g.slots_of("param")) for g in inexact)
    keep = {g.id: list(range(0, g.size, 2)) for g in inexact}
    slim = emit(verify(prune_channels(graph, keep))).eval()
    with torch.no_grad():
        assert slim(x).shape == model(x).shape


REFERENCE = ["digits_cnn", "resnet20", "resnet56", "resnet18", "resnet34", "mobilenet_v2"]


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_net_prunes_exactly(name: str) -> None:
    torch.manual_seed(0)
    model = models.get(name, num_classes=10)
    shape = models.input_shape(name, batch=2)
    if shape[-1] > 32:
        shape = (*shape[:2], 32, 32)
    check_model(model, torch.randn(*shape, generator=torch.Generator().manual_seed(0)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "vgg11_bn", "vgg16_bn"])
def test_big_reference_net_prunes_exactly(name: str) -> None:
    # float32 keeps these within memory; the tolerance is relative to the output scale
    torch.manual_seed(0)
    model = models.get(name, num_classes=10)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    check_model(model, x, tol=1e-5)


def test_random_keep_covers_every_prunable_group() -> None:
    graph = trace(ZOO["resnet_basic"]().eval(), zoo_input("resnet_basic"))
    groups = channel_groups(graph)
    keep = random_keep(groups, 3)
    assert set(keep) == {g.id for g in groups if g.prunable and g.size > 1}
    assert all(0 < len(v) < groups[k].size for k, v in keep.items())
