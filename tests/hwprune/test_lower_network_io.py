"""Lowering marks the layers that read the network's input / write its outputs (in DDR on a DPU)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

import hwprune
import hwprune.models as models
from hwmodel.workloads.layers import Layer
from hwprune.analysis.groups import analyze
from hwprune.frontend.trace import trace
from hwprune.lower.lower import lower, lower_graph
from hwprune.lower.simulate import resolve_hw
from hwprune.planning.latency import LatencyModel


def _marks(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[bool, bool]]:
    return {lw.op: (lw.layer.dram_input, lw.layer.dram_output) for lw in lower(trace(model.eval(), x))}


def _marked(marks: dict[str, tuple[bool, bool]]) -> tuple[set[str], set[str]]:
    return {k for k, (i, _) in marks.items() if i}, {k for k, (_, o) in marks.items() if o}


def test_resnet20_first_conv_reads_and_fc_writes_ddr_and_nothing_else():
    marks = _marks(models.get("resnet20", num_classes=10, in_channels=1), torch.zeros(1, 1, 32, 32))
    assert _marked(marks) == ({"conv1"}, {"fc"})


def test_small_net_pays_its_input_load_and_internal_maps_stay_on_chip():
    m = models.get("resnet20", num_classes=10, in_channels=1).eval()
    x = torch.zeros(1, 1, 32, 32)
    rep = {r.name: r for r in hwprune.simulate(m, x, hw="dpu-b4096").layers}
    assert rep["conv1"].dram_reads.ifmap == 32 * 32  # one byte a pixel, as the host stored it
    assert rep["layer1.0.conv1"].dram_reads.ifmap == 0  # 32x32x16: an internal map that fits on chip
    assert rep["fc"].dram_writes.ofmap > 0
    off = resolve_hw("dpu-b4096")
    off = off.replace(dpu=off.dpu.with_(network_io_dram=False))
    old = {r.name: r for r in hwprune.simulate(m, x, hw=off).layers}
    assert old["conv1"].dram_reads.ifmap == 0 and old["fc"].dram_writes.ofmap == 0
    assert rep["conv1"].total_cycles > old["conv1"].total_cycles


class _Views(nn.Module):
    """The input reaches the first layer through BN, a flatten and a view; the output leaves through
    a dropout; the last view takes its size from the input (shape arithmetic, not data)."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(1)
        self.fc1 = nn.Linear(64, 32)
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc2 = nn.Linear(8 * 64, 10)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        a = self.fc1(torch.flatten(x, 1))
        b = self.conv(self.bn(x.view(x.size(0), 1, 8, 8)))
        return a, self.drop(self.fc2(b.view(x.size(0), -1)))


def test_input_through_free_ops_and_sizes_taken_from_the_input():
    marks = _marks(_Views(), torch.zeros(2, 1, 8, 8))
    # fc2 reads b (internal) viewed with the input's batch size: it does not read the input
    assert _marked(marks) == ({"fc1", "conv"}, {"fc1", "fc2"})


class _Concat(nn.Module):
    """The input is concatenated with a conv's output: the reader of the concat loads the input's part."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 1)
        self.c = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = self.b(torch.cat([x, self.a(x)], 1))
        return torch.cat([y, self.c(y)], 1)


def test_concats_pass_the_marks_both_ways():
    marks = _marks(_Concat(), torch.zeros(1, 4, 8, 8))
    inputs, outputs = _marked(marks)
    assert {"a", "b"} <= inputs and "c" not in inputs
    assert {"b", "c"} <= outputs and "a" not in outputs


class _Interp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0))


def test_an_unmodelled_op_stops_the_walk():
    lowering = lower_graph(trace(_Interp(), torch.zeros(1, 3, 8, 8)))
    assert lowering.unmodelled  # the resample has no cost model: where it leaves its result is unknown
    (conv,) = lowering.layers
    assert (conv.layer.dram_input, conv.layer.dram_output) == (False, True)


class _Twins(nn.Module):
    """Two convs of one shape: the first reads the network's input, the second an internal map."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(16, 16, 3, padding=1)
        self.second = nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x):
        return self.second(torch.relu(self.first(x))).mean((2, 3))


def test_the_latency_model_keeps_same_shaped_layers_apart_by_their_marks():
    m, x = _Twins().eval(), torch.zeros(1, 16, 8, 8)
    g = trace(m, x)
    cfg = resolve_hw("dpu-b4096")
    lat = LatencyModel(analyze(g), cfg)
    names = [lw.op for lw in lat.lowered]
    i, j = names.index("first"), names.index("second")
    strip = Layer.with_
    assert strip(lat.lowered[i].layer, name="", dram_input=False) == strip(lat.lowered[j].layer, name="")
    # the shared-shape memo must not hand the first conv the second's (on-chip) cost, nor the reverse
    assert lat.layer_cycles(j, 16, 16) < lat.layer_cycles(i, 16, 16)
    assert lat.cycles() == hwprune.simulate(m, x, hw=cfg, mode="analytic").total_cycles
