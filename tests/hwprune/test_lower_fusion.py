"""Lowering marks conv (+BN) + add pairs that the DPU compiler fuses (ELEW path)."""

from __future__ import annotations

import torch
from torch import nn

import hwprune
import hwprune.lower.simulate
import hwprune.models as models
from hwmodel.workloads.layers import LayerKind
from hwprune.frontend.trace import trace
from hwprune.lower.lower import lower


def test_every_resnet18_residual_add_is_fused_into_a_conv():
    torch.manual_seed(0)
    m = models.get("resnet18", num_classes=10)
    layers = [lw.layer for lw in lower(trace(m, models.default_input("resnet18")))]
    adds = [x for x in layers if x.kind is LayerKind.ELTWISE_ADD]
    assert len(adds) == 8 and all(a.fused for a in adds)
    fused_convs = [x for x in layers if x.residual_inputs]
    assert len(fused_convs) == 8 and all(
        x.residual_inputs == 1 and x.kind is LayerKind.CONV for x in fused_convs
    )
    # a fused conv's output channels are the add's
    by_name = {x.name: x for x in layers}
    assert all(by_name[c.name].num_filter in {a.num_filter for a in adds} for c in fused_convs)
    x = models.default_input("resnet18")
    fused = hwprune.simulate(m, x, hw="dpu-b4096", mode="analytic")
    separate = hwprune.simulate(
        m,
        x,
        hw=hwprune.lower.simulate.resolve_hw("dpu-b4096").replace(
            dpu=hwprune.lower.simulate.resolve_hw("dpu-b4096").dpu.with_(fuse_eltwise=False)
        ),
        mode="analytic",
    )
    assert fused.total_cycles < separate.total_cycles
    fused_by = {r.name: r for r in fused.layers}
    assert all(fused_by[c.name].dram_writes.ofmap == 0 for c in fused_convs)


class _Shared(nn.Module):
    """The conv feeding the add is also read elsewhere: its output must reach DRAM, no fusion."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        y = self.a(x)
        return y + x, self.b(y)


def test_a_conv_with_other_readers_is_not_fused():
    layers = [lw.layer for lw in lower(trace(_Shared(), torch.zeros(1, 8, 16, 16)))]
    add = next(x for x in layers if x.kind is LayerKind.ELTWISE_ADD)
    assert not add.fused and not any(x.residual_inputs for x in layers)


def test_resnet18_on_zcu104_is_within_what_amds_figures_allow():
    """Vitis AI 2.5 zoo, chen_color_resnet18_pt: ZCU104 217.68 fps one thread, 437.02 fps two cores; KV260
    (one core of the same kind at the same clock) 239.61 fps multi-thread, so at most 4.17 ms a frame."""
    from hwmodel.dpu.board import latency_ms

    torch.manual_seed(0)
    m = models.get("resnet18", num_classes=15)
    layers = [lw.layer for lw in lower(trace(m, torch.zeros(1, 3, 224, 224)))]
    cfg = hwprune.lower.simulate.resolve_hw("zcu104")
    ms = latency_ms(layers, cfg)
    ideal = sum(x.macs for x in layers) / cfg.dpu.peak_macs_per_cycle / (cfg.clock_mhz * 1e3)
    assert 1.2 * ideal < ms <= min(1000 / 217.68, 2000 / 437.02, 1000 / 239.61)
