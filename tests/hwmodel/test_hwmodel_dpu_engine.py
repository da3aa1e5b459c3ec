"""DPU engine: cycle kernel == pure-Python reference == closed form; staircase, monotonicity, kinds."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.dpu.analytic import analytic_args
from hwmodel.dpu.engine import estimate_cycles, estimate_layer, layer_plan, simulate_layer
from hwmodel.dpu.kernels import run_kernel
from hwmodel.dpu.params import DPU_NAMES, dpu_params
from hwmodel.dpu.reference import reference_layer
from hwmodel.dpu.tiling import PLANNERS, DpuPlan, DpuUnit
from hwmodel.errors import ConfigError
from hwmodel.workloads.layers import Layer, LayerKind

# the bare step model (fidelity switches off): the hand-checked numbers below are about its mechanics
BARE = {
    "channel_augmentation": False,
    "layer_startup": False,
    "onchip_fmap_kb": -1,
    "layer_overhead": 0,
    "conv_stretch_pct": 100,
}
B512 = dpu_params("dpu-b512", **BARE)
B4096 = dpu_params("dpu-b4096", **BARE)
FAST = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def cfg(name: str = "dpu-b4096", bare: bool = False, **kw) -> AcceleratorConfig:
    p = dpu_params(name, **(BARE if bare else {}), **kw)
    return AcceleratorConfig(name=name, engine="dpu", dpu=p, clock_mhz=300.0)


# --- strategies ---------------------------------------------------------------------------------
@st.composite
def plans(draw) -> DpuPlan:
    """Random schedules, including ones no layer produces (the three models must agree on any)."""
    n = draw(st.integers(1, 5))
    in_h = draw(st.integers(1, 10))
    pad = draw(st.integers(0, 3))
    eff = draw(st.integers(1, min(7, in_h + 2 * pad)))
    stride = draw(st.integers(1, 3))
    q = draw(st.integers(1, 3))
    wt = draw(st.integers(0, 900))
    return DpuPlan(
        engine=DpuUnit.CONV,
        groups=draw(st.integers(1, 4)),
        n_chunks=n,
        n_small=draw(st.integers(1, n)),
        small_tiles=q,
        cyc_tile=draw(st.integers(1, 20)),
        row_tiles=draw(st.integers(1, 4)),
        out_h=(in_h + 2 * pad - eff) // stride + 1,
        in_h=in_h,
        pad=pad,
        stride=stride,
        eff=eff,
        in_row_bytes=draw(st.integers(0, 300)),
        out_tile_row_bytes=draw(st.integers(1, 200)),
        w_small=q * wt,
        w_big=(q + 1) * wt,
        streamed=draw(st.booleans()),
        bw=draw(st.sampled_from([1, 3, 16, 32])),
    )


@st.composite
def layers(draw) -> Layer:
    """Any layer kind, reading the network's input / writing its output from/to DDR or not."""
    layer = draw(_layers_of_every_kind())
    return layer.with_(dram_input=draw(st.booleans()), dram_output=draw(st.booleans()))


@st.composite
def _layers_of_every_kind(draw) -> Layer:
    kind = draw(
        st.sampled_from(["conv", "grouped", "depthwise", "gemm", "pool", "add", "mul", "concat", "cpu"])
    )
    h = draw(st.integers(1, 12))
    w = draw(st.integers(1, 12))
    c = draw(st.integers(1, 80))
    if kind == "gemm":
        return Layer.gemm("g", draw(st.integers(1, 40)), c, draw(st.integers(1, 300)))
    if kind == "cpu":
        return Layer("host", LayerKind.CPU, h, w, c, c)
    if kind in ("add", "mul", "concat"):
        lk = {"add": LayerKind.ELTWISE_ADD, "mul": LayerKind.ELTWISE_MUL, "concat": LayerKind.CONCAT}[kind]
        return Layer(kind, lk, h, w, c, c, num_inputs=draw(st.integers(2, 3)))
    k = draw(st.sampled_from([1, 2, 3, 5]))
    d = draw(st.sampled_from([1, 1, 2]))
    s = draw(st.sampled_from([1, 2]))
    p = draw(st.integers(0, 2))
    h, w = max(h, d * (k - 1) + 1), max(w, d * (k - 1) + 1)
    if kind == "pool":
        return Layer("pool", LayerKind.POOL, h, w, c, c, k, k, s, s, p, p)
    if kind == "depthwise":
        return Layer.conv("dw", h, w, c, c, k, stride=s, padding=p, dilation=d, groups=c)
    g = draw(st.sampled_from([2, 4])) if kind == "grouped" else 1
    cout = draw(st.integers(1, 300))
    return Layer.conv("c", h, w, c * g, cout * g, k, stride=s, padding=p, dilation=d, groups=g)


# --- three models agree -------------------------------------------------------------------------
@FAST
@given(plans(), st.booleans(), st.sampled_from([100, 117, 150]))
def test_kernel_equals_reference_equals_closed_form(plan, open_ends, stretch):
    args = dataclasses.replace(plan, open_ends=open_ends, stretch=stretch).kernel_args()
    ref = reference_layer(*args)
    assert run_kernel(args) == ref
    assert analytic_args(*args) == ref


@FAST
@given(
    layers(), st.sampled_from(DPU_NAMES), st.sampled_from([2, 8, 32]), st.booleans(), st.sampled_from([0, 8])
)
def test_estimate_equals_simulate_on_every_kind(layer, name, bw, bare, min_tile):
    c = cfg(name, bare, dram_bytes_per_cycle=bw, min_tile_cycles=min_tile)
    rep = simulate_layer(layer, c)
    assert estimate_layer(layer, c) == rep
    assert estimate_cycles(layer, c) == rep.total_cycles
    assert rep.total_cycles >= rep.compute_cycles >= 0
    assert 0.0 <= rep.mapping_efficiency <= 1.0 and 0.0 <= rep.utilization <= 1.0


def test_every_layer_kind_has_a_planner():
    assert set(PLANNERS) == set(LayerKind)


# --- hand-checked numbers -----------------------------------------------------------------------
def test_conv_compute_cycles_by_hand():
    layer = Layer.conv("c", 8, 8, 16, 16, 3, padding=1)
    rep = simulate_layer(layer, B512)  # PP=4, ICP=OCP=8
    rows, pixel_tiles, oc_tiles, cin_steps, taps = 8, 2, 2, 2, 9
    assert rep.compute_cycles == rows * pixel_tiles * oc_tiles * cin_steps * taps + B512.pipeline_fill
    assert rep.folds == rows * pixel_tiles * oc_tiles
    assert rep.mapping_efficiency == 1.0
    # every real input row is loaded once (padding rows are not), outputs saved once
    assert rep.dram_reads.ifmap == 8 * 8 * 16 and rep.dram_writes.ofmap == 8 * 8 * 16
    assert rep.dram_reads.filter == 9 * 16 * 16


def test_depthwise_runs_on_the_alu_engine():
    layer = Layer.conv("dw", 14, 14, 40, 40, 3, padding=1, groups=40)
    rep = simulate_layer(layer, B4096)  # ALU: 4 pixels x 16 channels
    assert rep.compute_cycles == 14 * math.ceil(14 / 4) * math.ceil(40 / 16) * 9 + B4096.pipeline_fill
    assert rep.macs == layer.macs


def test_depthwise_multiplier_tiles_the_output_channels():
    layer = Layer.conv("dw2", 14, 14, 32, 64, 3, padding=1, groups=32)  # two filters per channel
    rep = simulate_layer(layer, B4096)
    assert rep.compute_cycles == 14 * 4 * math.ceil(64 / 16) * 9 + B4096.pipeline_fill
    assert rep.dram_writes.ofmap == 14 * 14 * 64 and rep.macs == layer.macs


def test_concat_is_free():
    rep = simulate_layer(Layer("cat", LayerKind.CONCAT, 7, 7, 64, 64, num_inputs=2), B4096)
    assert rep.total_cycles == 0 and rep.dram_traffic == 0


def test_gemm_is_a_one_by_one_conv_over_m_pixels():
    g = Layer.gemm("fc", 24, 200, 100)
    c = Layer.conv("c", 1, 24, 200, 100, 1)
    assert estimate_cycles(g, B4096) == estimate_cycles(c, B4096)
    assert simulate_layer(g, B4096).macs == g.macs


def test_grouped_conv_repeats_the_group_schedule():
    grouped = Layer.conv("g", 14, 14, 64, 128, 3, padding=1, groups=4)
    one = Layer.conv("one", 14, 14, 16, 32, 3, padding=1)
    fill = B4096.pipeline_fill
    assert simulate_layer(grouped, B4096).compute_cycles - fill == 4 * (
        simulate_layer(one, B4096).compute_cycles - fill
    )


def test_dilation_keeps_compute_and_widens_the_first_rows():
    plain = Layer.conv("p", 20, 20, 32, 32, 3, padding=2, dilation=1)
    dil = Layer.conv("d", 20, 20, 32, 32, 3, padding=2, dilation=2)
    assert layer_plan(dil, B4096).eff == 5
    assert (
        simulate_layer(dil, B4096).compute_cycles < simulate_layer(plain, B4096).compute_cycles
    )  # fewer rows
    assert dil.ofmap_h == 20 and simulate_layer(dil, B4096).folds == 20 * 3 * 2


def test_no_dpu_parameters_is_a_config_error():
    with pytest.raises(ConfigError, match="dpu-b4096"):
        estimate_cycles(Layer.conv("c", 4, 4, 8, 8), AcceleratorConfig())


# --- staircase and monotonicity -----------------------------------------------------------------
def test_latency_staircase_on_ocp16():
    base = Layer.conv("c", 28, 28, 128, 120, 3, padding=1)
    assert estimate_cycles(base, B4096) == estimate_cycles(base.with_(num_filter=128), B4096)
    assert estimate_cycles(base.with_(num_filter=129), B4096) > estimate_cycles(
        base.with_(num_filter=128), B4096
    )
    assert estimate_cycles(base.with_(channels=113), B4096) == estimate_cycles(base, B4096)


@FAST
@given(
    st.integers(1, 600),
    st.integers(1, 600),
    st.sampled_from([1, 3]),
    st.integers(1, 20),
    st.sampled_from(["dpu-b512", "dpu-b1152", "dpu-b4096"]),
)
def test_flat_inside_a_channel_step(cin, cout, k, h, name):
    p = dpu_params(name, channel_augmentation=False)
    layer = Layer.conv("c", h + k, h + k, cin, cout, k)
    top = layer.with_(channels=math.ceil(cin / p.icp) * p.icp, num_filter=math.ceil(cout / p.ocp) * p.ocp)
    assert estimate_cycles(layer, p) == estimate_cycles(top, p)


@st.composite
def grown(draw) -> tuple[Layer, Layer]:
    """A conv or GEMM (few output rows included: where pipelining effects are largest) and a copy
    with more input or output channels."""
    if draw(st.booleans()):
        layer = Layer.gemm(
            "g", draw(st.integers(1, 64)), draw(st.integers(1, 2100)), draw(st.integers(1, 2100))
        )
    else:
        k = draw(st.sampled_from([1, 3, 5]))
        h = draw(st.integers(k, 40))
        layer = Layer.conv(
            "c",
            h,
            h,
            draw(st.integers(1, 2100)),
            draw(st.integers(1, 2100)),
            k,
            stride=draw(st.sampled_from([1, 2])),
            padding=k // 2,
        )
    which = draw(st.sampled_from(["channels", "num_filter"]))
    return layer, layer.with_(**{which: getattr(layer, which) + draw(st.sampled_from([1, 16]))})


@settings(max_examples=150, deadline=None, derandomize=True)
@given(grown(), st.sampled_from(DPU_NAMES), st.sampled_from([4, 8, 32, 64]))
def test_more_channels_never_fewer_cycles(pair, name, bw):
    layer, bigger = pair
    for p in (dpu_params(name, dram_bytes_per_cycle=bw), dpu_params(name, dram_bytes_per_cycle=bw, **BARE)):
        assert estimate_cycles(bigger, p) >= estimate_cycles(layer, p)
        assert simulate_layer(bigger, p).compute_cycles >= simulate_layer(layer, p).compute_cycles


@FAST
@given(layers(), st.sampled_from([1, 4, 16]))
def test_more_bandwidth_never_more_cycles(layer, bw):
    slow = dpu_params("dpu-b1024", dram_bytes_per_cycle=bw)
    fast = slow.with_(dram_bytes_per_cycle=2 * bw)
    assert estimate_cycles(layer, fast) <= estimate_cycles(layer, slow)


def test_ample_bandwidth_means_no_stalls():
    layer = Layer.conv("c", 28, 28, 64, 64, 3, padding=1)
    rep = simulate_layer(layer, B4096.with_(dram_bytes_per_cycle=1 << 30))
    assert rep.stall_cycles == 0 and rep.total_cycles == rep.compute_cycles


def test_weight_bound_layer_stalls_and_streams_chunks():
    layer = Layer.conv("l4", 7, 7, 512, 512, 3, padding=1)
    plan = layer_plan(layer, B4096)
    rep = simulate_layer(layer, B4096)
    # 32 OC tiles of 16 x 9 x 512 B; 3 fit in half the 512 KiB bank -> 11 balanced chunks (2 and 3 tiles)
    assert (plan.n_chunks, plan.n_small, plan.small_tiles, plan.streamed) == (11, 1, 2, False)
    assert rep.dram_reads.filter == 9 * 512 * 512  # every weight loaded exactly once
    assert rep.dram_reads.ifmap == 11 * 7 * 7 * 512  # the feature map is re-streamed per chunk
    assert rep.stall_cycles > 0.1 * rep.compute_cycles


def test_streamed_weights_reload_every_row():
    layer = Layer.conv("wide", 4, 4, 4096, 16, 3, padding=1)  # one tile: 3*3*4096*16 B > half bank
    plan = layer_plan(layer, B512)
    assert plan.streamed
    assert simulate_layer(layer, B512).dram_reads.filter == 4 * 9 * 4096 * 8 * 2  # E rows x 2 OC tiles
