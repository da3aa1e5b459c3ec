"""Systolic engine: kernel == pure-Python reference, analytic == cycle mode, SCALE-Sim worked examples."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwmodel
from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.systolic import engine
from hwmodel.systolic.addresses import ifmap_address_index
from hwmodel.systolic.analytic import gemm_compute_cycles, gemm_cost
from hwmodel.systolic.kernel import OUT_COMPUTE, simulate_gemm
from hwmodel.systolic.mapping import DF_CODE, spatial_dims
from hwmodel.systolic.operands import address_index, ifmap_stream, operand_matrices
from hwmodel.systolic.reference import simulate_gemm_reference
from hwmodel.systolic.traces import layer_memory_run
from hwmodel.workloads.layers import Layer, LayerKind

NO_ADDR = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0)
DFS = ("os", "ws", "is")


def _random_case(rng: random.Random) -> tuple:
    df = rng.randrange(3)
    r, c = rng.randint(1, 6), rng.randint(1, 6)
    sr, sc, t = rng.randint(1, 30), rng.randint(1, 30), rng.randint(1, 30)
    words = [rng.randint(2, 300) for _ in range(3)]
    bws = [float(rng.choice([0.5, 1, 2, 3, 7])) for _ in range(3)]
    return (df, r, c, sr, sc, t, *words, *bws, rng.randint(0, 1), rng.choice([1, 2]), *NO_ADDR)


def test_kernel_equals_reference_on_seeded_random_shapes():
    rng = random.Random(1234)
    for _ in range(120):
        args = _random_case(rng)
        assert list(simulate_gemm(*args)) == simulate_gemm_reference(*args), args


def _random_conv(rng: random.Random) -> tuple:
    """A small conv (overlapping windows, strides, SCALE-Sim's ceil output size) on a small array."""
    k = rng.randint(1, 4)
    h, w = rng.randint(k, 12), rng.randint(k, 12)
    layer = Layer.conv(
        "x",
        h,
        w,
        rng.randint(1, 6),
        rng.randint(1, 12),
        k,
        stride=rng.randint(1, 3),
        weight_nm=rng.choice([None, None, "2:4"]),
    )
    cfg = AcceleratorConfig(
        name="t",
        rows=rng.randint(2, 8),
        cols=rng.randint(2, 8),
        dataflow=rng.choice(DFS),
        ifmap_sram_kb=1,
        filter_sram_kb=1,
        ofmap_sram_kb=1,
        bandwidth_mode="USER",
        dram_bw=rng.choice([1, 2, 4, 10]),
        nm_support=rng.random() < 0.5,
    )
    return layer, cfg.replace(**{f"{op}_sram_kb": rng.choice([1, 2]) for op in ("ifmap", "filter", "ofmap")})


def test_kernel_address_mode_equals_reference_on_seeded_random_convs():
    rng = random.Random(77)
    for _ in range(60):
        layer, cfg = _random_conv(rng)
        words = cfg.sram_words("ifmap")
        ifmap = operand_matrices(layer, cfg.nm_support).ifmap
        index = address_index(ifmap_stream(cfg.dataflow, cfg.rows, cfg.cols, ifmap), words)
        m, k = ifmap.shape
        sr, sc, t = spatial_dims(cfg.dataflow, m, k, layer.gemm_n)
        args = (
            DF_CODE[cfg.dataflow],
            cfg.rows,
            cfg.cols,
            sr,
            sc,
            t,
            words,
            cfg.sram_words("filter"),
            cfg.sram_words("ofmap"),
            float(cfg.dram_bw),
            float(cfg.dram_bw),
            float(cfg.dram_bw),
            1,
            2,
            *index,
        )
        assert list(simulate_gemm(*args)) == simulate_gemm_reference(*args), (layer, cfg)


def test_address_index_kernel_equals_numpy_definition():
    rng = random.Random(5)
    for _ in range(80):
        layer, cfg = _random_conv(rng)
        words = cfg.sram_words("ifmap")
        ifmap = operand_matrices(layer, cfg.nm_support).ifmap
        want = address_index(ifmap_stream(cfg.dataflow, cfg.rows, cfg.cols, ifmap), words)
        got = ifmap_address_index(layer, cfg.dataflow, cfg.rows, cfg.cols, words, cfg.nm_support)
        assert got[2] == want[2] and np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), (
            layer
        )


def test_cycle_mode_equals_address_level_memory_model_on_seeded_random_convs():
    """Stalls, Total Cycles and DRAM start/stop cycles of the engine equal SCALE-Sim's memory system."""
    rng = random.Random(2024)
    for _ in range(60):
        layer, cfg = _random_conv(rng)
        rep = engine.simulate_layer(layer, cfg)
        run = layer_memory_run(layer, cfg)
        assert (rep.stall_cycles, rep.compute_cycles + rep.stall_cycles) == (
            run.stall_cycles,
            run.total_cycles,
        ), (layer, cfg)
        w = rep.windows
        assert (w.dram_ifmap.start, w.dram_ifmap.stop) == run.dram_window("ifmap"), (layer, cfg)
        assert (w.dram_filter.start, w.dram_filter.stop) == run.dram_window("filter"), (layer, cfg)
        assert (rep.dram_reads.ifmap, rep.dram_reads.filter) == (
            run.dram_words["ifmap"],
            run.dram_words["filter"],
        )


def test_kernel_stalls_only_with_user_bandwidth():
    # 3x3 64->64 on a 16x16 map, 8x8 OS array, 4 KiB SRAMs: DRAM bound at 2 words/cycle
    sr, sc, t = spatial_dims("os", 196, 576, 64)
    user = simulate_gemm(0, 8, 8, sr, sc, t, 4096, 4096, 4096, 2.0, 2.0, 2.0, 1, 2, *NO_ADDR)
    calc = simulate_gemm(0, 8, 8, sr, sc, t, 4096, 4096, 4096, 2.0, 2.0, 2.0, 0, 2, *NO_ADDR)
    assert calc[1] == 0 and user[1] > 0
    assert user[OUT_COMPUTE] == calc[OUT_COMPUTE]
    # more bandwidth never adds stalls
    fast = simulate_gemm(0, 8, 8, sr, sc, t, 4096, 4096, 4096, 64.0, 64.0, 64.0, 1, 2, *NO_ADDR)
    assert fast[1] < user[1]


@pytest.mark.parametrize(
    "df,m,k,n,rows,cols,expected",
    [
        # worked examples checked against SCALE-Sim 3.0.0 (tools/scalesim/NOTES.md section 4)
        ("os", 64, 36, 12, 8, 8, 799),
        ("os", 16, 45, 7, 8, 8, 117),
        ("ws", 20, 30, 12, 8, 8, 335),
        ("os", 20, 30, 12, 8, 8, 263),
    ],
)
def test_scalesim_worked_examples(df, m, k, n, rows, cols, expected):
    assert gemm_compute_cycles(df, rows, cols, m, k, n) == expected
    sr, sc, t = spatial_dims(df, m, k, n)
    out = simulate_gemm(
        DF_CODE[df], rows, cols, sr, sc, t, 65536, 65536, 32768, 10.0, 10.0, 10.0, 0, 2, *NO_ADDR
    )
    assert out[OUT_COMPUTE] == expected


shapes = st.tuples(
    st.sampled_from(["os", "ws", "is"]),
    st.integers(1, 16),
    st.integers(1, 16),  # array
    st.integers(1, 12),
    st.integers(1, 12),  # ifmap h, w
    st.integers(1, 3),
    st.integers(1, 3),  # kernel
    st.integers(1, 2),  # stride
    st.integers(1, 24),
    st.integers(1, 24),  # cin, cout
    st.sampled_from([None, "1:4", "2:4", "2:8"]),
    st.sampled_from(["CALC", "USER"]),
)


@settings(max_examples=60, deadline=None)
@given(shapes)
def test_analytic_compute_cycles_equal_cycle_mode(shape):
    df, rows, cols, h, w, kh, kw, s, cin, cout, nm, mode = shape
    h, w = max(h, kh), max(w, kw)
    layer = hwmodel.Layer.conv("l", h, w, cin, cout, (kh, kw), stride=s, weight_nm=nm)
    cfg = hwmodel.AcceleratorConfig(
        rows=rows,
        cols=cols,
        dataflow=df,
        ifmap_sram_kb=2,
        filter_sram_kb=2,
        ofmap_sram_kb=2,
        dram_bw=4,
        bandwidth_mode=mode,
    )
    cyc = engine.simulate_layer(layer, cfg)
    ana = engine.estimate_layer(layer, cfg)
    assert cyc.compute_cycles == ana.compute_cycles
    assert cyc.compute_cycles == gemm_compute_cycles(
        df, rows, cols, layer.gemm_m, layer.gemm_k_sparse, layer.gemm_n
    )
    assert engine.layer_cycles(layer, cfg) == ana.total_cycles
    if mode == "CALC":
        assert cyc.stall_cycles == 0 == ana.stall_cycles


def test_depthwise_runs_as_single_channel_gemms():
    dw = hwmodel.Layer.conv("dw", 10, 10, 4, 4, 3, groups=4)
    assert dw.kind is LayerKind.DEPTHWISE
    cfg = hwmodel.preset("systolic-32x32-os")
    rep = engine.simulate_layer(dw, cfg)
    one = gemm_compute_cycles("os", 32, 32, 64, 9, 1)
    assert rep.compute_cycles == 4 * one
    assert rep.macs == dw.macs


def test_nm_support_flag_decides_whether_k_shrinks():
    layer = hwmodel.Layer.conv("c", 10, 10, 16, 16, 3, weight_nm="2:4")
    on = hwmodel.preset("systolic-32x32-os")
    off = on.replace(nm_support=False)
    assert engine.layer_cycles(layer, on) < engine.layer_cycles(layer, off)
    assert engine.layer_cycles(layer, off) == engine.layer_cycles(layer.with_(weight_nm=None), on)


def test_mapping_efficiency_and_fold_utilization():
    cost = gemm_cost("os", 8, 8, 64, 36, 12)
    assert cost.folds == 16 and cost.fold_len == 50
    assert cost.mapping_efficiency == pytest.approx(64 * 12 / (16 * 64))
    full = gemm_cost("os", 8, 8, 64, 1000, 8)
    assert 0.9 < full.fold_utilization <= 1.0


def test_every_layer_kind_has_a_systolic_handler():
    assert set(engine.HANDLERS) == set(LayerKind)
