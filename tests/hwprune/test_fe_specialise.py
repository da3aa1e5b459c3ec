"""Tracing that specialises Python control flow on sizes and non-tensor arguments to the example inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hwprune
from hwprune.errors import PlanMismatchError, TraceError
from hwprune.frontend.trace import trace
from hwprune.ir.kinds import OpKind
from tests.hwprune.fe_support import check_model
from tests.hwprune.test_fe_functional import ZOO, check_ratio
from tests.hwprune.zoo import ZOO as CLASSIC
from tests.hwprune.zoo import zoo_input


def _x(side: int = 16, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(side))


def test_specialised_trace_records_what_it_fixed_and_prunes_exactly() -> None:
    model = ZOO["shape_flow"]().eval()
    graph = trace(model, _x())
    fixed = graph.source.specialised
    assert "argument return_features=False" in fixed
    assert any(".size(" in f and "= 16" in f for f in fixed)  # the "same" padding read the input size
    assert not graph.ops_of(OpKind.OPAQUE)
    check_model(model, _x())
    slim = check_ratio(model, _x())
    # the example's batch was never fixed: view(x.size(0), -1) stays a size of the graph
    with torch.no_grad():
        assert slim(_x(batch=5)).shape == (5, 5)


def test_a_plan_for_another_input_size_is_refused_clearly() -> None:
    model = ZOO["shape_flow"]().eval()
    plan = hwprune.plan(model, _x(), hw="dpu-b512", budget=0.99)
    slim = hwprune.apply(model, _x(), plan)
    assert slim(_x()).shape == (2, 5)
    with pytest.raises(PlanMismatchError, match=r"specialised to its example input 2x3x32x32 .*plan again"):
        hwprune.apply(model, _x(32), plan)


def test_plain_traceable_models_are_not_specialised() -> None:
    graph = trace(CLASSIC["resnet_basic"]().eval(), zoo_input("resnet_basic"))
    assert graph.source.specialised == ()


def test_specialised_tracing_leaves_the_model_and_its_statistics_untouched() -> None:
    model = ZOO["shape_flow"]().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    graph = trace(model, _x())
    assert graph.source.specialised
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training and all(m.training for m in model.modules())


def test_data_dependent_control_flow_still_fails_with_the_first_error() -> None:
    class Gate(nn.Module):
        def forward(self, x: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
            if x.sum() > 0:  # a value, not a size: cannot be specialised
                return x * scale
            return x

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 4, 1)
            self.gate = Gate()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gate(self.a(x))

    with pytest.raises(TraceError, match=r"in module 'gate'.*x\.sum\(\) > 0"):
        trace(Net(), _x())
