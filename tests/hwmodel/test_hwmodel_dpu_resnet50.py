"""ResNet-50 on dpu-b4096: the modelled DPU latency sits under what AMD's ZCU104 figures allow."""

from __future__ import annotations

import pytest

from hwmodel.dpu.engine import estimate_cycles, estimate_layer, simulate_layer
from hwmodel.dpu.params import dpu_params
from hwmodel.workloads.layers import Layer
from hwmodel.workloads.nets import resnet50_layers

# Vitis AI 2.5 model zoo, resnet50_pt on ZCU104: 83.56 fps single thread (end to end), 157.2 fps on
# two cores: one frame's DPU time is at most min(1000 / 83.56, 2000 / 157.2) ms
ZOO_BOUND_MS = min(1000 / 83.56, 2000 / 157.2)


def resnet50(adds: bool = True) -> list[Layer]:
    return resnet50_layers(adds=adds)


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
    # DPU-only time must leave room for the host's pre/post-processing, and not beat the ideal
    assert 1.1 * ideal < ms < ZOO_BOUND_MS


def test_reports_agree_layer_by_layer(b4096):
    for x in resnet50():
        assert simulate_layer(x, b4096) == estimate_layer(x, b4096)
