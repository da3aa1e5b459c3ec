"""Ops the DPU cannot run are CPU work: lowered to ``LayerKind.CPU`` workloads tied to their channels,
priced in simulate and plan (pruning the channels that feed them saves host time), and reported."""

from __future__ import annotations

import warnings

import torch
from torch import nn

import hwmodel
import hwprune
from hwmodel.workloads.layers import LayerKind
from hwprune.lower.lower import lower_graph
from hwprune.report.plan_report import plan_markdown


class Net(nn.Module):
    def __init__(self, act: type[nn.Module] = nn.SiLU, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = act()
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(width)
        self.act2 = act()
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        y = self.act2(self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))
        return self.fc(y.mean((2, 3)))


class Mixed(nn.Module):
    """Every unary op in one net: the DPU's own activations, no-ops, and host work."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.hs = nn.Hardswish()
        self.drop = nn.Dropout()

    def forward(self, x):
        y = self.drop(self.hs(torch.relu(self.conv(x))))
        y = nn.functional.leaky_relu(y, 0.1).clamp(0, 6)
        y = torch.sigmoid(y) * nn.functional.gelu(y) + torch.tanh(y)
        return torch.softmax(y.mean((2, 3)), 1)


X = torch.randn(1, 3, 16, 16)


def _sim(model: nn.Module, hw="dpu-b4096"):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CPU ops are priced, not "unmodelled"
        return hwprune.simulate(model.eval(), X, hw=hw, mode="analytic")


def test_only_ops_the_dpu_cannot_run_become_cpu_work():
    lowering = lower_graph(hwprune.trace(Mixed().eval(), X))
    cpu = [lw.op for lw in lowering.layers if lw.layer.kind is LayerKind.CPU]
    assert cpu == ["sigmoid", "gelu", "tanh", "softmax"]
    assert lowering.unmodelled == ()


def test_silu_latency_includes_the_cpu_term_proportional_to_elements():
    silu, relu = _sim(Net(nn.SiLU)), _sim(Net(nn.ReLU))
    host = [r for r in silu.layers if r.engine == "cpu"]
    assert [r.name for r in host] == ["act1", "act2"]
    dpu = hwmodel.preset("dpu-b4096").dpu
    n = 64 * 16 * 16
    assert host[0].compute_cycles == dpu.cpu_cycles(n) and host[0].dram_traffic == 2 * n
    assert silu.total_cycles == relu.total_cycles + sum(r.total_cycles for r in host)
    narrow = [r for r in _sim(Net(nn.SiLU, width=32)).layers if r.engine == "cpu"]
    assert 2 * narrow[0].compute_cycles == host[0].compute_cycles
    assert 2 * narrow[0].stall_cycles == host[0].stall_cycles


def test_cpu_rate_is_read_from_the_hardware_config():
    base = hwmodel.preset("dpu-b4096")
    fast = base.replace(
        dpu=base.dpu.with_(cpu_elems_per_us=4 * base.dpu.cpu_elems_per_us, cpu_transfer=False)
    )
    slow = base.replace(dpu=base.dpu.with_(cpu_transfer=False))
    a = sum(r.total_cycles for r in _sim(Net(), slow).layers if r.engine == "cpu")
    b = sum(r.total_cycles for r in _sim(Net(), fast).layers if r.engine == "cpu")
    assert a == 4 * b


def test_cycle_mode_equals_closed_form_with_cpu_ops():
    model = Net().eval()
    cyc = hwprune.simulate(model, X, hw="dpu-b4096", mode="cycle")
    ana = hwprune.simulate(model, X, hw="dpu-b4096", mode="analytic")
    assert [r.total_cycles for r in cyc.layers] == [r.total_cycles for r in ana.layers]


def test_planner_costs_and_reports_cpu_work():
    plan = hwprune.plan(Net().eval(), X, hw="dpu-b4096", budget=0.5)
    host = {lp.name: lp for lp in plan.layers if lp.kind == "cpu"}
    assert set(host) == {"act1", "act2"}
    # pruning the channels feeding an op the DPU cannot run shrinks its host time with them
    for lp in host.values():
        assert lp.cout < lp.cout_before and lp.cycles < lp.cycles_before
    assert sum(lp.cycles for lp in plan.layers) == plan.cycles
    text = plan_markdown(plan)
    assert "On the host CPU" in text and "| act1 |" in text
    # the channels kept follow the CPU term: without it (ReLU) the plan keeps whole OCP steps
    relu = hwprune.plan(Net(nn.ReLU).eval(), X, hw="dpu-b4096", budget=0.5)
    assert all(g.kept % 16 == 0 for g in relu.groups if g.prunable)


def test_a_depthwise_conv_pruned_to_one_channel_is_priced_as_the_slim_models_plain_conv():
    from hwmodel.workloads.layers import Layer
    from hwprune.lower.lower import Lowered, resize

    dw = Layer.conv("dw", 8, 8, 32, 32, 3, padding=1, groups=32)
    one = resize(Lowered("dw", dw, "x", 1, "y", 1, tied=True), 1, 1)
    assert one == Layer.conv("dw", 8, 8, 1, 1, 3, padding=1)  # what lowering the slim model gives


class TokenMlp(nn.Module):
    """ConvNeXt-style: NHWC after a permute, linear, GELU (host work on the last dim), linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc1 = nn.Linear(16, 48)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(48, 16)

    def forward(self, x):
        y = self.conv(x).permute(0, 2, 3, 1)
        return self.fc2(self.act(self.fc1(y))).permute(0, 3, 1, 2).mean((2, 3))


def test_cpu_work_in_a_channels_last_layout_follows_the_last_dim():
    lowering = lower_graph(hwprune.trace(TokenMlp().eval(), X))
    act = next(lw for lw in lowering.layers if lw.op == "act")
    assert act.out_dim == 3 and act.layer.channels == 48 and act.layer.elements == 16 * 16 * 48
    plan = hwprune.plan(TokenMlp().eval(), X, hw="dpu-b4096", budget=0.6)
    slim = hwprune.apply(TokenMlp().eval(), X, plan)
    assert _sim(slim).total_cycles == plan.cycles
