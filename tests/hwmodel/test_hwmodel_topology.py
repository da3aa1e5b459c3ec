"""SCALE-Sim topology files: conv and GEMM formats, DP rows, N:M column, errors with file/line/field."""

from __future__ import annotations

import pytest

import hwmodel
from hwmodel.errors import TopologyError
from hwmodel.workloads.layers import LayerKind
from hwmodel.workloads.topology import read_topology, write_topology


def test_conv_rows_dp_expansion_and_nm(tmp_path, conv_topology_text):
    p = tmp_path / "net.csv"
    p.write_text(conv_topology_text)
    layers = read_topology(p)
    assert [ly.name for ly in layers] == [
        "conv1",
        "conv2",
        "dw_DPChannel_0",
        "dw_DPChannel_1",
        "dw_DPChannel_2",
    ]
    c1, c2 = layers[0], layers[1]
    assert (c1.gemm_m, c1.gemm_k, c1.gemm_n, c1.weight_nm) == (64, 36, 12, None)
    assert (c2.ofmap_h, c2.stride_h, c2.gemm_k, c2.gemm_k_sparse) == (4, 2, 45, 23)
    dw = layers[2]
    assert (dw.channels, dw.num_filter, dw.kind) == (1, 1, LayerKind.CONV)


def test_stride_height_width_columns(tmp_path):
    p = tmp_path / "hw.csv"
    p.write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
        "Stride height, Stride width,\nc, 9, 9, 3, 3, 2, 4, 2, 1,\n"
    )
    (c,) = read_topology(p)
    assert (c.stride_h, c.stride_w, c.ofmap_h, c.ofmap_w) == (2, 1, 4, 7)


def test_gemm_format_is_m_n_k(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("Layer, M, N, K,\nfc, 20, 12, 30,\nqkv, 64, 8, 16, 2:4,\n")
    fc, qkv = read_topology(p, "gemm")
    assert (fc.kind, fc.gemm_m, fc.gemm_n, fc.gemm_k) == (LayerKind.GEMM, 20, 12, 30)
    assert (qkv.gemm_k_sparse, str(qkv.weight_nm)) == (8, "2:4")


@pytest.mark.parametrize(
    "row,needle",
    [
        ("c, 9, 9, 3, x, 2, 4, 1,", r"net\.csv:2: field 'Filter Width' must be an integer, got 'x'"),
        ("c, 9, 9, 3, 3, 2,", r"net\.csv:2: field 'Num Filter' is missing"),
        ("c, 9, 9, 3, 3, 0, 4, 1,", r"net\.csv:2: field 'Channels' must be >= 1"),
        ("c, 9, 9, 3, 3, 2, 4, 1, 5:4,", r"net\.csv:2: field 'Sparsity'"),
        ("c, 9, 9, 3, 3, 2, 4, 1, half,", r"net\.csv:2: field 'Sparsity'"),
        ("c, 2, 2, 3, 3, 2, 4, 1,", r"net\.csv:2: .*larger than the padded input"),
    ],
)
def test_malformed_rows_name_file_line_field(tmp_path, row, needle):
    p = tmp_path / "net.csv"
    p.write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
        "Strides, Sparsity,\n" + row + "\n"
    )
    with pytest.raises(TopologyError, match=needle):
        read_topology(p)


def test_empty_and_missing_files(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("Layer, M, N, K,\n")
    with pytest.raises(TopologyError, match="no layers"):
        read_topology(p, "gemm")
    with pytest.raises(TopologyError, match="cannot read"):
        read_topology(tmp_path / "missing.csv")
    with pytest.raises(TopologyError, match="mode"):
        read_topology(p, "attention")


def test_write_read_round_trip(tmp_path):
    layers = [
        hwmodel.Layer.conv("a", 56, 56, 64, 64, 3, padding=1),
        hwmodel.Layer.conv("b", 56, 56, 64, 128, 1, stride=2, weight_nm="2:4"),
    ]
    p = write_topology(layers, tmp_path / "t.csv")
    back = read_topology(p)
    assert [(b.gemm_m, b.gemm_k, b.gemm_n, b.weight_nm) for b in back] == [
        (a.gemm_m, a.gemm_k, a.gemm_n, a.weight_nm) for a in layers
    ]
    assert p.read_text().splitlines()[1].endswith(",")


def test_bundled_resnet_topologies_read():
    from hwmodel.config.presets import PRESET_DIR

    r18 = read_topology(PRESET_DIR / "topologies" / "resnet18.csv")
    r50 = read_topology(PRESET_DIR / "topologies" / "resnet50.csv")
    assert len(r18) == 21 and len(r50) == 54
    assert sum(ly.macs for ly in r18) > 1.5e9
