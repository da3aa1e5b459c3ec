"""Ops the DPU cannot run (``LayerKind.CPU``): host time proportional to elements, DDR round trip,
configurable rate, cycle mode == closed form, and the latency properties the planner relies on."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwmodel
from hwmodel.dpu.engine import estimate_cycles, estimate_layer, simulate_layer
from hwmodel.dpu.params import CPU_ELEMS_PER_US, DpuParams, dpu_params
from hwmodel.errors import ConfigError
from hwmodel.workloads.layers import Layer, LayerKind

B4096 = dpu_params("dpu-b4096")


def host(c: int, h: int = 14, w: int = 14) -> Layer:
    return Layer("silu", LayerKind.CPU, h, w, c, c)


def test_cpu_time_is_elements_over_the_rate_plus_the_ddr_round_trip():
    layer = host(64)
    n = 14 * 14 * 64
    rep = simulate_layer(layer, B4096)
    assert rep.engine == "cpu" and rep.macs == 0 and rep.folds == 0
    assert rep.compute_cycles == math.ceil(n * B4096.clock_mhz / CPU_ELEMS_PER_US)
    assert rep.stall_cycles == 2 * math.ceil(n / B4096.dram_bytes_per_cycle)  # saved, then loaded back
    assert rep.dram_writes.ofmap == n and rep.dram_reads.ifmap == n
    assert estimate_layer(layer, B4096) == rep and estimate_cycles(layer, B4096) == rep.total_cycles
    off = B4096.with_(cpu_transfer=False)
    assert simulate_layer(layer, off).stall_cycles == 0 and simulate_layer(layer, off).dram_traffic == 0


def test_cpu_time_is_proportional_to_elements_and_inverse_to_the_rate():
    p = B4096.with_(cpu_transfer=False)
    one, four = estimate_cycles(host(16), p), estimate_cycles(host(64), p)
    assert four == 4 * one
    assert estimate_cycles(host(64), p.with_(cpu_elems_per_us=2 * CPU_ELEMS_PER_US)) == four // 2


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    st.integers(1, 2000),
    st.integers(1, 30),
    st.sampled_from(["dpu-b512", "dpu-b4096"]),
    st.sampled_from([1.0, 25.0, 400.0]),
)
def test_cpu_layers_are_monotone_in_channels_and_modes_agree(c, h, name, rate):
    p = dpu_params(name, cpu_elems_per_us=rate)
    small, big = host(c, h, h), host(c + 1, h, h)
    assert estimate_cycles(big, p) > estimate_cycles(small, p) > 0
    cfg = hwmodel.AcceleratorConfig(name=name, engine="dpu", dpu=p, clock_mhz=p.clock_mhz)
    cyc = hwmodel.simulate([small, big], cfg, mode="cycle")
    assert cyc.total_cycles == hwmodel.simulate([small, big], cfg, mode="analytic").total_cycles


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "fast", True])
def test_bad_cpu_rate_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="cpu_elems_per_us"):
        dpu_params("dpu-b4096", cpu_elems_per_us=bad)


def test_cpu_rate_round_trips_through_the_config_dict():
    p = B4096.with_(cpu_elems_per_us=80, cpu_transfer=False)
    assert DpuParams.from_dict(p.to_dict()) == p


def test_systolic_runs_cpu_layers_on_its_vector_unit():
    rep = hwmodel.simulate([host(64)], "systolic-32x32-ws", mode="analytic")
    assert rep.layers[0].total_cycles >= math.ceil(14 * 14 * 64 / rep.config.cols)


def test_markdown_report_lists_host_work():
    from hwmodel.reports.markdown import markdown_text

    conv = Layer.conv("conv", 14, 14, 64, 64, 3, padding=1)
    rep = hwmodel.simulate([conv, host(64)], "dpu-b4096", mode="analytic")
    text = markdown_text(rep)
    assert "On the host CPU" in text and "silu (" in text
