"""ResNet-50 on dpu-b4096: the modelled DPU latency sits just under AMD's end-to-end 13.3 ms (ZCU104)."""

from __future__ import annotations

import pytest

from hwmodel.dpu.engine import estimate_cycles, estimate_layer, simulate_layer
from hwmodel.dpu.params import dpu_params
from hwmodel.workloads.layers import Layer, LayerKind

ZOO_E2E_MS = 13.3


def _conv(name: str, h: int, cin: int, cout: int, k: int, s: int = 1, p: int = 0) -> Layer:
    hh = h - (h + 2 * p - k) % s  # PyTorch floors the output size; Layer uses SCALE-Sim's ceil
    return Layer.conv(name, hh, hh, cin, cout, k, stride=s, padding=p)


def resnet50(adds: bool = True) -> list[Layer]:
    out = [_conv("conv1", 224, 3, 64, 7, 2, 3)]
    out.append(Layer("maxpool", LayerKind.POOL, 111, 111, 64, 64, 3, 3, 2, 2, 1, 1))
    h, cin = 56, 64
    for stage, (w, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), 1):
        for b in range(blocks):
            s = stride if b == 0 else 1
            n = f"layer{stage}.{b}"
            out += [_conv(f"{n}.conv1", h, cin, w, 1), _conv(f"{n}.conv2", h, w, w, 3, s, 1)]
            ho = out[-1].ofmap_h
            out.append(_conv(f"{n}.conv3", ho, w, 4 * w, 1))
            if b == 0:
                out.append(_conv(f"{n}.downsample", h, cin, 4 * w, 1, s))
            if adds:
                out.append(Layer(f"{n}.add", LayerKind.ELTWISE_ADD, ho, ho, 4 * w, 4 * w, num_inputs=2))
            h, cin = ho, 4 * w
    return [*out, Layer("avgpool", LayerKind.POOL, 7, 7, 2048, 2048, 7, 7), Layer.gemm("fc", 1, 2048, 1000)]


@pytest.fixture(scope="module")
def b4096():
    return dpu_params("dpu-b4096")


def test_geometry_is_torchvision_resnet50():
    layers = resnet50()
    assert sum(x.macs for x in layers) == 4_089_184_256  # torchvision ResNet-50: 4.09 GMAC
    assert layers[0].ofmap_h == 112 and layers[1].ofmap_h == 56 and layers[-3].ifmap_h == 7


@pytest.mark.parametrize("adds", [True, False])
def test_latency_is_below_end_to_end_and_above_ideal(b4096, adds):
    layers = resnet50(adds)
    cycles = sum(simulate_layer(x, b4096).total_cycles for x in layers)
    assert cycles == sum(estimate_cycles(x, b4096) for x in layers)
    ms = cycles / (b4096.clock_mhz * 1e3)
    ideal = sum(x.macs for x in layers) / b4096.peak_macs_per_cycle / (b4096.clock_mhz * 1e3)
    # DPU-only time must leave room for the host's pre/post-processing, and not beat the ideal by far
    assert 1.25 * ideal < ms < ZOO_E2E_MS


def test_reports_agree_layer_by_layer(b4096):
    for x in resnet50():
        assert simulate_layer(x, b4096) == estimate_layer(x, b4096)
