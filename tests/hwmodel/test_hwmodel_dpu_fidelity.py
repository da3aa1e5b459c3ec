"""DPU fidelity switches (PG338 / Vitis AI behaviours) and the ZCU102/ZCU104 board presets."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwmodel
from hwmodel.config.presets import list_presets
from hwmodel.dpu.board import latency_ms, throughput_fps
from hwmodel.dpu.engine import estimate_cycles, estimate_layer, layer_plan, simulate_layer
from hwmodel.dpu.params import dpu_params
from hwmodel.errors import ConfigError
from hwmodel.workloads.layers import Layer, LayerKind

B4096 = dpu_params("dpu-b4096")
FAST = settings(max_examples=60, deadline=None, derandomize=True)


def test_channel_augmentation_packs_kernel_width_into_icp():
    conv1 = Layer.conv("conv1", 224, 224, 3, 64, 7, stride=2, padding=3)
    on, off = layer_plan(conv1, B4096), layer_plan(conv1, B4096.with_(channel_augmentation=False))
    assert on.cyc_tile == 7 * math.ceil(7 * 3 / 16) == 14 and off.cyc_tile == 49
    assert estimate_cycles(conv1, B4096) < 0.5 * estimate_cycles(
        conv1, B4096.with_(channel_augmentation=False)
    )
    # no augmentation once Cin fills ICP
    wide = conv1.with_(channels=16)
    assert layer_plan(wide, B4096).cyc_tile == 49


@FAST
@given(st.integers(1, 40), st.sampled_from([1, 3, 5, 7]), st.integers(7, 30))
def test_augmented_latency_is_monotone_in_input_channels(cin, k, h):
    layer = Layer.conv("c", h, h, cin, 32, k, padding=k // 2)
    assert estimate_cycles(layer.with_(channels=cin + 1), B4096) >= estimate_cycles(layer, B4096)
    assert estimate_cycles(layer, B4096) <= estimate_cycles(layer, B4096.with_(channel_augmentation=False))


def test_augmented_input_loads_as_stored_unpadded():
    conv1 = Layer.conv("conv1", 224, 224, 3, 32, 3, stride=2, padding=1)
    packed, padded = B4096, B4096.with_(augmented_input_packed=False)
    # the RGB image comes from DDR as 3 bytes a pixel, not padded to ICP = 16
    assert simulate_layer(conv1, packed).dram_reads.ifmap == 224 * 224 * 3
    assert simulate_layer(conv1, padded).dram_reads.ifmap == 224 * 224 * 16
    assert simulate_layer(conv1, packed) == estimate_layer(conv1, packed)
    assert estimate_cycles(conv1, packed) < estimate_cycles(conv1, padded)
    assert simulate_layer(conv1, packed).compute_cycles == simulate_layer(conv1, padded).compute_cycles
    # a map whose bank image fits on chip moves nothing either way; an unaugmented layer is unchanged
    small = Layer.conv("c", 32, 32, 3, 16, 3, padding=1)
    assert (
        simulate_layer(small, packed).dram_reads.ifmap == simulate_layer(small, padded).dram_reads.ifmap == 0
    )
    wide = conv1.with_(channels=16)
    assert estimate_cycles(wide, packed) == estimate_cycles(wide, padded)
    # without augmentation nothing is packed
    plain = B4096.with_(channel_augmentation=False)
    assert simulate_layer(conv1, plain).dram_reads.ifmap == 224 * 224 * 16


@FAST
@given(st.integers(1, 24), st.sampled_from([3, 5, 7]), st.sampled_from([56, 100, 160, 224]), st.booleans())
def test_packed_input_latency_is_monotone_in_input_channels(cin, k, h, packed):
    p = B4096.with_(augmented_input_packed=packed)
    layer = Layer.conv("c", h, h, cin, 32, k, stride=2, padding=k // 2)
    assert estimate_cycles(layer.with_(channels=cin + 1), p) >= estimate_cycles(layer, p)
    assert estimate_cycles(layer, B4096) <= estimate_cycles(layer, B4096.with_(augmented_input_packed=False))


def test_min_tile_cycles_floors_short_conv_tiles_only():
    short = Layer.conv("expand", 56, 56, 16, 96, 1)  # one ICP step: a 1-cycle tile
    long = Layer.conv("c3", 28, 28, 64, 64, 3, padding=1)  # 9 taps x 4 steps = 36 cycles
    floored = B4096.with_(min_tile_cycles=8)
    assert layer_plan(short, B4096).cyc_tile == 1 and layer_plan(short, floored).cyc_tile == 8
    assert layer_plan(long, floored).cyc_tile == layer_plan(long, B4096).cyc_tile == 36
    assert simulate_layer(short, floored) == estimate_layer(short, floored)
    assert estimate_cycles(short, floored) > estimate_cycles(short, B4096)
    # still flat inside a channel step and monotone across it
    assert estimate_cycles(short.with_(channels=9), floored) == estimate_cycles(short, floored)
    assert estimate_cycles(short.with_(channels=17), floored) >= estimate_cycles(short, floored)


def test_fused_add_keeps_the_conv_output_on_chip():
    p = B4096.with_(onchip_fmap_kb=-1)
    conv = Layer.conv("conv3", 56, 56, 64, 256, 1).with_(residual_inputs=1)
    add = Layer("add", LayerKind.ELTWISE_ADD, 56, 56, 256, 256, num_inputs=2, fused=True)
    plain, unfused = conv.with_(residual_inputs=0), add.with_(fused=False)
    assert simulate_layer(conv, p).dram_writes.ofmap == 0 < simulate_layer(plain, p).dram_writes.ofmap
    # the add still runs on the ALU, but loads only the shortcut operand
    assert simulate_layer(add, p).dram_reads.ifmap == simulate_layer(unfused, p).dram_reads.ifmap // 2 > 0
    assert simulate_layer(add, p).compute_cycles == simulate_layer(unfused, p).compute_cycles
    assert estimate_cycles(conv, p) + estimate_cycles(add, p) < estimate_cycles(plain, p) + estimate_cycles(
        unfused, p
    )
    # without fusion the marks change nothing
    nofuse = p.with_(fuse_eltwise=False)
    assert estimate_cycles(conv, nofuse) == estimate_cycles(plain, nofuse)
    assert estimate_cycles(add, nofuse) == estimate_cycles(unfused, nofuse)


def test_feature_maps_that_fit_stay_on_chip():
    small = Layer.conv("l4", 7, 7, 512, 512, 3, padding=1)  # 7*7*512 B = 25 KB in and out
    on, off = simulate_layer(small, B4096), simulate_layer(small, B4096.with_(onchip_fmap_kb=-1))
    assert on.dram_reads.ifmap == 0 and on.dram_writes.ofmap == 0
    assert off.dram_reads.ifmap > 0 and off.dram_writes.ofmap == 7 * 7 * 512
    assert on.dram_reads.filter == off.dram_reads.filter == 9 * 512 * 512
    big = Layer.conv("l1", 56, 56, 256, 64, 1)  # 800 KB input: does not fit in 128 KiB
    assert simulate_layer(big, B4096).dram_reads.ifmap == 56 * 56 * 256


@pytest.mark.parametrize(
    "layer",
    [
        Layer.conv("c", 28, 28, 128, 200, 3, padding=1),
        Layer.conv("l4", 7, 7, 512, 512, 3, padding=1),
        Layer.gemm("fc", 1, 4096, 1000),
        Layer.conv("g", 9, 9, 64, 64, 3, groups=4),
    ],
)
def test_startup_moves_the_same_bytes_and_costs_the_first_rows_and_last_save(layer):
    p = B4096.with_(onchip_fmap_kb=-1)
    opened, cyclic = simulate_layer(layer, p), simulate_layer(layer, p.with_(layer_startup=False))
    assert opened == estimate_layer(layer, p)
    assert (opened.dram_reads, opened.dram_writes) == (cyclic.dram_reads, cyclic.dram_writes)
    plan = layer_plan(layer, p)
    rows, weights, save = plan.edge_bytes()
    assert weights == save == 0 and rows > 0
    assert plan.startup == -(-rows // plan.bw) + -(-plan.out_tile_row_bytes // plan.bw)
    assert opened.compute_cycles == cyclic.compute_cycles


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.booleans(),
    st.integers(1, 3000),
    st.integers(1, 3000),
    st.integers(1, 9),
    st.sampled_from([1, 3]),
    st.sampled_from(["dpu-b512", "dpu-b4096"]),
    st.sampled_from([4, 32]),
    st.sampled_from([1, 16]),
)
def test_startup_keeps_latency_monotone_when_chunks_split(gemm, cin, cout, h, k, name, bw, step):
    p = dpu_params(name, dram_bytes_per_cycle=bw)
    layer = Layer.gemm("g", h, cin, cout) if gemm else Layer.conv("c", h + k, h + k, cin, cout, k)
    for which in ("channels", "num_filter"):
        bigger = layer.with_(**{which: getattr(layer, which) + step})
        assert estimate_cycles(bigger, p) >= estimate_cycles(layer, p)


def test_fc_weights_stream_at_their_own_bandwidth():
    fc = Layer.gemm("fc", 1, 25088, 4096)
    conv = Layer.conv("c", 28, 28, 128, 128, 3, padding=1)
    slow = B4096.with_(fc_bytes_per_cycle=8)
    assert estimate_cycles(fc, slow) > 3 * estimate_cycles(fc, B4096) // 2
    assert estimate_cycles(conv, slow) == estimate_cycles(conv, B4096)
    assert B4096.fc_bw == B4096.dram_bytes_per_cycle == 32


def test_board_presets_and_shared_ddr_throughput():
    z104, z102 = hwmodel.preset("zcu104"), hwmodel.preset("zcu102")
    assert (z104.dpu.cores, z104.clock_mhz, z104.dpu.pp * z104.dpu.icp * z104.dpu.ocp) == (2, 300.0, 2048)
    assert (z102.dpu.cores, z102.clock_mhz) == (3, 281.0)
    assert {"zcu102", "zcu104", "kv260"} <= set(list_presets())
    kv = hwmodel.preset("kv260")
    assert (kv.dpu.cores, kv.clock_mhz) == (1, 300.0)
    net = [Layer.conv("a", 56, 56, 64, 64, 3, padding=1), Layer.gemm("fc", 1, 25088, 4096)]
    one = latency_ms(net, z104)
    # unlimited DDR: each core as fast as alone
    free = z104.replace(dpu=z104.dpu.with_(ddr_bytes_per_cycle=0))
    assert throughput_fps(net, free) == pytest.approx(2 * 1e3 / one)
    # shared DDR slows the bandwidth-bound FC layer
    assert throughput_fps(net, z104) < throughput_fps(net, free)
    assert z104.dpu.core_share().dram_bytes_per_cycle == min(32, z104.dpu.ddr_bytes_per_cycle // 2)
    # one core: its latency is the ZCU104's single-thread latency, its throughput 1 / that latency unless
    # the board DDR caps its port
    assert latency_ms(net, kv) == pytest.approx(one)
    assert throughput_fps(net, kv) <= 1e3 / one + 1e-9


@pytest.mark.parametrize(
    "bad",
    [
        {"channel_augmentation": "yes"},
        {"cores": 0},
        {"onchip_fmap_kb": -2},
        {"fc_bytes_per_cycle": -1},
        {"layer_startup": 1},
        {"augmented_input_packed": "no"},
        {"min_tile_cycles": -1},
    ],
)
def test_bad_switches_are_config_errors(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        dpu_params("dpu-b4096", **bad)
