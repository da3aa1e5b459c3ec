"""SparseEngine: the Vitis AI sparsity rules, errors, and what sparsity buys on the DPU."""

from __future__ import annotations

import pytest

from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.config.sparse import SparseEngine
from hwmodel.dpu.engine import estimate_cycles, layer_plan, simulate_layer
from hwmodel.dpu.params import dpu_params
from hwmodel.errors import ConfigError, SparsityError
from hwmodel.workloads.layers import Layer, LayerKind, NMPattern

ENGINE = SparseEngine()
# ideal tile cycles (no fitted stretch), so speed-ups are exact ratios of the ICP loop
DENSE = AcceleratorConfig(
    name="dpu-b4096", engine="dpu", dpu=dpu_params("dpu-b4096", conv_stretch_pct=100), clock_mhz=300.0
)
SPARSE = DENSE.replace(name="dpu-b4096-sparse", sparse=ENGINE)


_LAYER = Layer.conv("l", 14, 14, 64, 64, 3, padding=1)


@pytest.mark.parametrize("nm", ["2:4", "1:4", "4:8", "2:8", "8:16", "4:16"])
def test_supported_weight_patterns_pass_and_save_cycles(nm):
    ENGINE.check(NMPattern.parse(nm), 0.0, "l")  # raises if the rule is wrong
    assert estimate_cycles(_LAYER.with_(weight_nm=nm), SPARSE) < estimate_cycles(_LAYER, SPARSE)


@pytest.mark.parametrize("nm", ["1:4", "2:8", "4:16"])
def test_activation_half_with_weight_three_quarters_passes(nm):
    ENGINE.check(NMPattern.parse(nm), 0.5, "l")  # raises if the rule is wrong
    weight_only = estimate_cycles(_LAYER.with_(weight_nm=nm), SPARSE)
    assert estimate_cycles(_LAYER.with_(weight_nm=nm, act_sparsity=0.5), SPARSE) < weight_only


def test_patterns_lists_the_six_supported():
    assert {str(p) for p in ENGINE.patterns()} == {"2:4", "1:4", "4:8", "2:8", "8:16", "4:16"}


@pytest.mark.parametrize(
    ("nm", "act", "match"),
    [
        ("2:4", 0.5, "needs weight sparsity 0.75"),
        (None, 0.5, "needs weight sparsity 0.75"),
        ("1:2", 0.0, "block size 2"),
        ("3:8", 0.0, "sparsity 0.625"),
        ("1:4", 0.25, "activation sparsity 0.25"),
        ("2:32", 0.0, "block size 32"),
    ],
)
def test_invalid_combinations_name_layer_and_allowed(nm, act, match):
    with pytest.raises(SparsityError, match=match) as exc:
        ENGINE.check(NMPattern.parse(nm) if nm else None, act, "backbone.conv3")
    assert "backbone.conv3" in str(exc.value) and "block size M in {4, 8, 16}" in str(exc.value)


def test_dense_pattern_counts_as_dense():
    ENGINE.check(NMPattern(4, 4), 0.0, "l")  # raises if 4:4 were treated as a sparsity
    assert estimate_cycles(_LAYER.with_(weight_nm="4:4"), SPARSE) == estimate_cycles(_LAYER, DENSE)


def test_index_bits_are_ceil_log2_m():
    assert [ENGINE.index_bits(m) for m in (4, 8, 16)] == [2, 3, 4]


def test_bad_engine_config_is_rejected():
    with pytest.raises(ConfigError):
        SparseEngine(block_sizes=(1,))
    with pytest.raises(ConfigError):
        SparseEngine(weight_sparsities=(1.5,))
    assert SparseEngine.from_dict(ENGINE.to_dict()) == ENGINE


def test_dense_dpu_rejects_sparse_layer_and_names_the_sparse_preset():
    layer = Layer.conv("stage2.conv", 14, 14, 64, 64, 3, padding=1, weight_nm="2:4")
    with pytest.raises(SparsityError, match="dpu-b4096-sparse") as exc:
        estimate_cycles(layer, DENSE)
    assert "stage2.conv" in str(exc.value)
    with pytest.raises(SparsityError):
        simulate_layer(layer.with_(weight_nm=None, act_sparsity=0.5), DENSE)


def test_sparse_engine_rejects_vitis_invalid_combination_in_engine():
    layer = Layer.conv("c", 14, 14, 64, 64, 3, padding=1, weight_nm="2:4", act_sparsity=0.5)
    with pytest.raises(SparsityError, match="needs weight sparsity 0.75"):
        estimate_cycles(layer, SPARSE)


def test_sparsity_on_alu_layers_is_an_error():
    dw = Layer.conv("dw", 14, 14, 64, 64, 3, padding=1, groups=64).with_(weight_nm=NMPattern(2, 4))
    assert dw.kind is LayerKind.DEPTHWISE
    with pytest.raises(SparsityError, match="ALU"):
        estimate_cycles(dw, SPARSE)


def _compute(layer, cfg):
    return simulate_layer(layer, cfg).compute_cycles - cfg.dpu.pipeline_fill - cfg.dpu.layer_overhead


def test_speedups_follow_the_ifmap_read_limit():
    base = Layer.conv("c", 14, 14, 256, 256, 3, padding=1)
    dense = _compute(base, SPARSE)
    assert _compute(base, DENSE) == dense  # a sparse engine does not slow dense layers
    assert dense == 2 * _compute(base.with_(weight_nm=NMPattern(2, 4)), SPARSE)
    # weight 0.75 alone is capped at 2x by the feature-map bank...
    assert dense == 2 * _compute(base.with_(weight_nm=NMPattern(4, 16)), SPARSE)
    # ...and reaches 4x with 2:4 activations (the reason Vitis AI pairs them)
    assert dense == 4 * _compute(base.with_(weight_nm=NMPattern(4, 16), act_sparsity=0.5), SPARSE)


def test_metadata_traffic_is_counted():
    base = Layer.conv("c", 7, 7, 512, 512, 3, padding=1)
    dense = simulate_layer(base, SPARSE).dram_reads.filter
    plan4 = layer_plan(base.with_(weight_nm=NMPattern(2, 4)), SPARSE)
    plan16 = layer_plan(base.with_(weight_nm=NMPattern(8, 16)), SPARSE)
    kept = dense // 2
    assert plan4.meta_bytes == kept * 2 // 8 and plan16.meta_bytes == kept * 4 // 8
    got = simulate_layer(base.with_(weight_nm=NMPattern(8, 16)), SPARSE).dram_reads.filter
    assert got == kept + plan16.meta_bytes
    assert (
        simulate_layer(base.with_(weight_nm=NMPattern(2, 4)), SPARSE).dram_reads.filter
        == kept + plan4.meta_bytes
    )


def test_sparse_macs_are_the_kept_ones():
    base = Layer.conv("c", 7, 7, 64, 64, 1)
    assert simulate_layer(base.with_(weight_nm=NMPattern(1, 4)), SPARSE).macs == base.macs // 4
