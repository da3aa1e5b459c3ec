"""DPU: the network's input and outputs live in DDR (``Layer.dram_input`` / ``dram_output``) however small."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodel.dpu.engine import estimate_cycles, estimate_layer, simulate_layer
from hwmodel.dpu.params import DPU_NAMES, dpu_params
from hwmodel.errors import TopologyError
from hwmodel.workloads.layers import Layer, LayerKind
from hwmodel.workloads.topology import read_topology

B4096 = dpu_params("dpu-b4096")
OLD = B4096.with_(network_io_dram=False)  # the size-only rule
FAST = settings(max_examples=60, deadline=None, derandomize=True)


def test_a_small_network_input_is_loaded_and_a_small_internal_map_is_not():
    # ResNet-20's first conv on a 32x32 image: its bank image (32*32*16 B) fits on chip
    conv1 = Layer.conv("conv1", 32, 32, 3, 16, 3, padding=1)
    first = conv1.with_(dram_input=True)
    assert simulate_layer(conv1, B4096).dram_reads.ifmap == 0
    # the image comes from DDR as stored (3 bytes a pixel: channel augmentation packs it on chip)
    assert simulate_layer(first, B4096).dram_reads.ifmap == 32 * 32 * 3
    assert estimate_cycles(first, B4096) > estimate_cycles(conv1, B4096)
    # a layer reading an internal map of the same size keeps it on chip
    inner = Layer.conv("layer1.0.conv1", 32, 32, 16, 16, 3, padding=1)
    assert simulate_layer(inner, B4096).dram_reads.ifmap == 0
    assert simulate_layer(inner.with_(dram_input=True), B4096).dram_reads.ifmap == 32 * 32 * 16
    # the switch off: the size rule decides for the network's input too
    assert simulate_layer(first, OLD) == simulate_layer(conv1, OLD)
    # an unaugmented input is loaded padded, as stored in the banks' layout
    plain = B4096.with_(channel_augmentation=False)
    assert simulate_layer(first, plain).dram_reads.ifmap == 32 * 32 * 16


def test_a_small_network_output_is_saved():
    fc = Layer.gemm("fc", 1, 64, 10)
    last = fc.with_(dram_output=True)
    assert simulate_layer(fc, B4096).dram_writes.ofmap == 0
    assert simulate_layer(last, B4096).dram_writes.ofmap == 16  # one OCP-wide tile of the logits row
    assert estimate_cycles(last, B4096) > estimate_cycles(fc, B4096)
    assert simulate_layer(last, OLD) == simulate_layer(fc, OLD)
    # a conv fused with a residual add keeps its output on chip, unless that output is a network output
    conv = Layer.conv("c", 8, 8, 64, 64, 1).with_(residual_inputs=1)
    assert simulate_layer(conv, B4096).dram_writes.ofmap == 0
    assert simulate_layer(conv.with_(dram_output=True), B4096).dram_writes.ofmap == 8 * 8 * 64


@pytest.mark.parametrize(
    "layer",
    [
        Layer("pool", LayerKind.POOL, 8, 8, 32, 32, 2, 2, 2, 2),
        Layer.conv("dw", 8, 8, 32, 32, 3, padding=1, groups=32),
        Layer("add", LayerKind.ELTWISE_ADD, 8, 8, 32, 32, num_inputs=2),
    ],
)
def test_alu_layers_move_the_network_input_and_output(layer):
    rep = simulate_layer(layer, B4096)
    assert rep.dram_reads.ifmap == 0 and rep.dram_writes.ofmap == 0
    both = layer.with_(dram_input=True, dram_output=True)
    got = simulate_layer(both, B4096)
    n_in = layer.num_inputs
    assert got.dram_reads.ifmap == n_in * 8 * 8 * 32
    assert got.dram_writes.ofmap == layer.ofmap_h * layer.ofmap_w * 32
    assert got == estimate_layer(both, B4096)
    assert simulate_layer(both, OLD) == rep


def test_cpu_and_concat_layers_ignore_the_marks():
    for layer in (
        Layer("sig", LayerKind.CPU, 8, 8, 16, 16),
        Layer("cat", LayerKind.CONCAT, 8, 8, 32, 32, num_inputs=2),
    ):
        marked = layer.with_(dram_input=True, dram_output=True)
        assert simulate_layer(marked, B4096) == simulate_layer(layer, B4096)


@st.composite
def small_convs(draw) -> Layer:
    """Convs and GEMMs whose maps would stay on chip, marked as reading / writing the network's I/O."""
    inp, out = draw(st.booleans()), draw(st.booleans())
    if draw(st.booleans()):
        layer = Layer.gemm(
            "g", draw(st.integers(1, 16)), draw(st.integers(1, 300)), draw(st.integers(1, 300))
        )
    else:
        k = draw(st.sampled_from([1, 3, 5, 7]))
        h = draw(st.integers(k, 24))
        layer = Layer.conv(
            "c",
            h,
            h,
            draw(st.integers(1, 64)),
            draw(st.integers(1, 64)),
            k,
            stride=draw(st.sampled_from([1, 2])),
            padding=k // 2,
        )
    return layer.with_(dram_input=inp, dram_output=out)


@FAST
@given(
    small_convs(),
    st.sampled_from(["channels", "num_filter"]),
    st.sampled_from([1, 16]),
    st.sampled_from(DPU_NAMES),
)
def test_marked_layers_stay_monotone_in_channels(layer, which, more, name):
    p = dpu_params(name)
    bigger = layer.with_(**{which: getattr(layer, which) + more})
    assert estimate_cycles(bigger, p) >= estimate_cycles(layer, p)
    # moving the network's I/O through DDR never makes a layer cheaper
    assert estimate_cycles(layer, p) >= estimate_cycles(layer.with_(dram_input=False, dram_output=False), p)


@FAST
@given(small_convs(), st.sampled_from(["dpu-b512", "dpu-b1152", "dpu-b4096"]))
def test_marked_layers_are_flat_inside_a_channel_step(layer, name):
    p = dpu_params(name, channel_augmentation=False)  # augmented inputs load Cin bytes a pixel: not flat
    top = layer.with_(
        channels=math.ceil(layer.channels / p.icp) * p.icp,
        num_filter=math.ceil(layer.num_filter / p.ocp) * p.ocp,
    )
    assert estimate_cycles(layer, p) == estimate_cycles(top, p)


def test_marks_are_booleans():
    with pytest.raises(TopologyError, match="dram_input"):
        Layer.conv("c", 8, 8, 8, 8).with_(dram_input=1)
    with pytest.raises(TopologyError, match="dram_output"):
        Layer.conv("c", 8, 8, 8, 8).with_(dram_output="yes")


def test_a_topology_marks_its_first_and_last_rows(tmp_path):
    p = tmp_path / "net.csv"
    p.write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "conv1, 34, 34, 3, 3, 3, 16, 1,\n"
        "conv2, 34, 34, 3, 3, 16, 16, 1,\n"
        "fc, 1, 1, 1, 1, 16, 10, 1,\n"
    )
    conv1, conv2, fc = read_topology(p)
    assert (conv1.dram_input, conv1.dram_output) == (True, False)
    assert (conv2.dram_input, conv2.dram_output) == (False, False)
    assert (fc.dram_input, fc.dram_output) == (False, True)
    assert simulate_layer(conv1, B4096).dram_reads.ifmap == 34 * 34 * 3
    assert simulate_layer(conv2, B4096).dram_reads.ifmap == 0
    # a depthwise (DP) first row: every channel layer reads the input
    q = tmp_path / "dw.csv"
    q.write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "DP1, 10, 10, 3, 3, 2, 1, 1,\n"
    )
    assert all(ly.dram_input and ly.dram_output for ly in read_topology(q))
