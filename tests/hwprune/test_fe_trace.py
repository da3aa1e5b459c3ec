"""hwprune.trace: fx tracing into the IR, shapes, names, untraceable models, the user's model untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import hwprune
from hwprune.errors import TraceError, UnsupportedOpError
from hwprune.ir.kinds import OpKind


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 2 * 2, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn(self.conv(x)))
        a, b = torch.chunk(y, 2, dim=1)
        y = torch.cat([b, a], 1) * torch.sigmoid(y.mean((2, 3), keepdim=True))
        y = F.adaptive_avg_pool2d(y, 2)
        return self.fc(y.view(y.size(0), -1))


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 4, 1)
        self.gate = Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.head(x))


class Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow
            return x
        return -x


def test_trace_kinds_shapes_and_names() -> None:
    g = hwprune.verify(hwprune.trace(Functional(), torch.randn(2, 3, 8, 8)))
    kinds = {op.name: op.kind for op in g.ops}
    assert kinds["conv"] is OpKind.CONV and kinds["bn"] is OpKind.BATCHNORM and kinds["fc"] is OpKind.LINEAR
    assert {
        OpKind.SPLIT,
        OpKind.GETITEM,
        OpKind.CAT,
        OpKind.MUL,
        OpKind.REDUCE,
        OpKind.ADAPTIVE_POOL,
        OpKind.RESHAPE,
        OpKind.SIZE,
        OpKind.ACT,
    } <= set(kinds.values())
    assert g.value(g.op("conv").output).shape == (2, 8, 8, 8)
    assert g.value(g.op("fc").output).shape == (2, 5)
    assert g.op("conv").attr("kernel_size") == (3, 3) and g.op("fc").attr("in_features") == 32
    split = next(op for op in g.ops if op.kind is OpKind.SPLIT)
    assert g.value(split.output).parts == ((2, 4, 8, 8), (2, 4, 8, 8))
    assert isinstance(g.module("conv"), nn.Conv2d)
    assert [g.producer(v).kind for v in g.outputs] == [OpKind.LINEAR]
    names = [op.name for op in g.ops]
    assert names.index("conv") < names.index("bn") < names.index("fc")


def test_trace_never_mutates_the_model() -> None:
    model = Functional().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = [id(p) for p in model.parameters()]
    g = hwprune.trace(model, torch.randn(2, 3, 8, 8))
    hwprune.prune(model, torch.randn(2, 3, 8, 8), ratio=0.5)
    assert model.training and all(m.training for m in model.modules())
    assert [id(p) for p in model.parameters()] == params
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # BN running stats untouched by shape propagation
    assert g.source.gm is not model and g.source.gm.get_submodule("conv") is not model.conv


def test_untraceable_model_names_module_and_line_and_suggests_leaf() -> None:
    with pytest.raises(TraceError) as err:
        hwprune.trace(Untraceable(), torch.randn(1, 3, 4, 4))
    msg = str(err.value)
    assert "'gate'" in msg and "test_fe_trace.py" in msg and "leaf_modules=('gate',)" in msg
    assert "x.sum() > 0" in msg


def test_leaf_module_becomes_opaque_and_blocks_pruning_through_it() -> None:
    g = hwprune.trace(Untraceable(), torch.randn(1, 3, 4, 4), leaf_modules=("gate",))
    assert g.op("gate").kind is OpKind.OPAQUE
    groups = hwprune.channel_groups(g)
    head = next(gr for gr in groups if gr.key == "head")
    assert not head.prunable and "'gate'" in head.reason


def test_leaf_module_by_type() -> None:
    g = hwprune.trace(Untraceable(), torch.randn(1, 3, 4, 4), leaf_modules=(Gate,))
    assert g.op("gate").kind is OpKind.OPAQUE
    assert g.source.leaf_modules == ("gate",)  # recorded by name, so specs can re-trace


def test_bad_inputs_raise_trace_errors() -> None:
    with pytest.raises(TraceError, match="not submodules"):
        hwprune.trace(Untraceable(), torch.randn(1, 3, 4, 4), leaf_modules=("nope",))
    with pytest.raises(TraceError, match="example_inputs"):
        hwprune.trace(Functional(), [1, 2])
    with pytest.raises(TraceError, match="do not run through"):
        hwprune.trace(Functional(), torch.randn(2, 5, 8, 8))
    with pytest.raises(TraceError, match="nn.Module"):
        hwprune.trace(lambda x: x, torch.randn(1))


def test_unknown_function_becomes_opaque() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 4, 1)
            self.b = nn.Conv2d(4, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(torch.cumsum(self.a(x), dim=1))

    g = hwprune.trace(Odd(), torch.randn(1, 3, 4, 4))
    op = next(op for op in g.ops if "cumsum" in op.target)
    assert op.kind is OpKind.OPAQUE
    a = next(gr for gr in hwprune.channel_groups(g) if gr.key == "a")
    assert not a.prunable and op.name in a.reason and a.blockers == (op.name,)
    with pytest.raises(UnsupportedOpError, match="does not understand"):
        hwprune.prune_with_keep(Odd(), torch.randn(1, 3, 4, 4), {"a": [0, 1]})
    slim = hwprune.prune(Odd(), torch.randn(1, 3, 4, 4), ratio=0.5)  # runs; nothing is pruned through it
    assert slim.a.out_channels == 4 and slim.b.out_channels == 4


def test_shared_module_called_twice_is_pruned_consistently() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 6, 1)
            self.body = nn.Conv2d(6, 6, 3, padding=1)
            self.head = nn.Conv2d(6, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(torch.relu(self.body(self.stem(x)))))

    model = Shared().eval()
    x = torch.randn(1, 3, 5, 5)
    g = hwprune.trace(model, x)
    assert g.has_op("body") and g.has_op("body#1")
    slim = hwprune.prune(model, x, ratio=0.5)
    assert slim.body.out_channels == slim.body.in_channels == 3
    assert slim(x).shape == (1, 2, 5, 5)


def test_trace_error_names_the_innermost_module() -> None:
    class Deep(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Sequential(nn.ReLU(), Gate()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.blocks(x)

    with pytest.raises(TraceError, match=r"in module 'blocks\.1\.1'.*leaf_modules=\('blocks\.1\.1',\)"):
        hwprune.trace(Deep(), torch.randn(1, 3, 2, 2))
    g = hwprune.trace(Deep(), torch.randn(1, 3, 2, 2), leaf_modules=("blocks.1.1",))
    assert g.op("blocks.1.1").kind is OpKind.OPAQUE
