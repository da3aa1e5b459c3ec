"""Public API (simulate/estimate/layer_cycles), engine dispatch, reports and their writers."""

from __future__ import annotations

import csv
import json

import pytest

import hwmodel
from hwmodel.errors import ConfigError, TopologyError
from hwmodel.reports import write_csv_reports, write_json_report, write_markdown_report
from hwmodel.reports.csv import BANDWIDTH_HEADER, COMPUTE_HEADER, DETAILED_HEADER
from hwmodel.reports.model import LayerReport, NetworkReport

NET = (
    hwmodel.Layer.conv("conv1", 16, 16, 8, 16, 3, padding=1),
    hwmodel.Layer.conv("dw", 16, 16, 16, 16, 3, padding=1, groups=16),
    hwmodel.Layer("pool", hwmodel.LayerKind.POOL, 16, 16, 16, 16, 2, 2, 2, 2),
    hwmodel.Layer("add", hwmodel.LayerKind.ELTWISE_ADD, 8, 8, 16, 16, num_inputs=2),
    hwmodel.Layer("cat", hwmodel.LayerKind.CONCAT, 8, 8, 16, 32, num_inputs=2),
    hwmodel.Layer.gemm("fc", 1, 1024, 10, weight_nm="2:4"),
)


@pytest.mark.parametrize(
    "hw",
    [
        "systolic-32x32-os",
        "systolic-32x32-ws",
        "systolic-32x32-is",
        "eyeriss",
        "dpu-b1024",
        "dpu-b4096-sparse",
    ],
)
def test_simulate_and_estimate_agree_on_compute(hw):
    cfg = hwmodel.preset(hw)
    net = NET if cfg.engine == "systolic" or cfg.sparse else tuple(ly.with_(weight_nm=None) for ly in NET)
    rep = hwmodel.simulate(net, hw)
    est = hwmodel.estimate(net, hw)
    assert isinstance(rep, NetworkReport) and len(rep.layers) == len(NET)
    assert [r.compute_cycles for r in rep.layers] == [r.compute_cycles for r in est.layers]
    assert rep.total_cycles == sum(r.compute_cycles + r.stall_cycles for r in rep.layers)
    assert rep.latency_ms == pytest.approx(rep.total_cycles / (cfg.clock_mhz * 1e3))
    assert rep.fps == pytest.approx(1e3 / rep.latency_ms)
    assert [hwmodel.layer_cycles(ly, hw) for ly in net] == [r.total_cycles for r in est.layers]
    assert 0.0 < rep.utilization <= 1.0


def test_engine_dispatch_uses_the_config_engine():
    sys_rep = hwmodel.simulate(NET[:1], "systolic-32x32-os")
    dpu_rep = hwmodel.simulate(NET[:1], "dpu-b4096")
    assert sys_rep.layers[0].engine == "systolic" and dpu_rep.layers[0].engine == "dpu"


def test_topology_path_and_bad_inputs(tmp_path, conv_topology_text):
    p = tmp_path / "net.csv"
    p.write_text(conv_topology_text)
    rep = hwmodel.simulate(p, "systolic-32x32-os")
    assert rep.topology == "net" and len(rep.layers) == 5
    with pytest.raises(ConfigError, match="mode"):
        hwmodel.simulate(p, "systolic-32x32-os", mode="fast")
    with pytest.raises(TopologyError, match="no layers"):
        hwmodel.simulate([], "systolic-32x32-os")
    with pytest.raises(TopologyError, match="Layer"):
        hwmodel.simulate(["conv"], "systolic-32x32-os")
    with pytest.raises(ConfigError, match="Known presets"):
        hwmodel.simulate(NET, "tpu-v9")


def test_user_bandwidth_gives_stalls_and_analytic_marks_them_estimates():
    cfg = hwmodel.preset("systolic-32x32-os").replace(
        bandwidth_mode="USER", dram_bw=2, ifmap_sram_kb=4, filter_sram_kb=4
    )
    layer = hwmodel.Layer.conv("c", 28, 28, 64, 64, 3, padding=1)
    cyc = hwmodel.simulate([layer], cfg).layers[0]
    est = hwmodel.estimate([layer], cfg).layers[0]
    assert cyc.stall_cycles > 0 and cyc.exact_stalls
    assert est.stall_cycles > 0 and not est.exact_stalls
    assert cyc.dram_reads.ifmap >= layer.ifmap_h * layer.ifmap_w * layer.channels


def test_report_json_round_trip_and_lookup():
    rep = hwmodel.simulate(NET, "systolic-32x32-ws")
    back = NetworkReport.from_dict(json.loads(rep.to_json()))
    assert back.layers == rep.layers and back.config == rep.config
    assert rep.layer("fc").kind == "gemm"
    with pytest.raises(KeyError, match="conv1"):
        rep.layer("nope")
    d = rep.to_dict()
    assert d["summary"]["total_cycles"] == rep.total_cycles


def test_layer_report_checks_its_total():
    with pytest.raises(ValueError, match="total_cycles"):
        LayerReport("x", "conv", 10, 2, 13, 0.5, 0.5, 100)
    r = LayerReport.make("x", "conv", 10, 2, 480, 64, 0.5)
    assert r.total_cycles == 12 and r.utilization == pytest.approx(480 / (64 * 12))


def _rows(path):
    with open(path) as f:
        return [[c.strip() for c in row if c.strip()] for row in csv.reader(f)]


def test_csv_json_markdown_writers(tmp_path):
    rep = hwmodel.simulate(NET, "systolic-32x32-os")
    paths = write_csv_reports(rep, tmp_path / "out")
    assert [p.name for p in paths] == [
        "COMPUTE_REPORT.csv",
        "BANDWIDTH_REPORT.csv",
        "DETAILED_ACCESS_REPORT.csv",
    ]
    for path, header in zip(paths, (COMPUTE_HEADER, BANDWIDTH_HEADER, DETAILED_HEADER), strict=True):
        rows = _rows(path)
        assert tuple(rows[0]) == header and len(rows) == len(NET) + 1
        assert path.read_text().splitlines()[1].endswith(",")
    compute = _rows(paths[0])
    assert [int(r[2]) for r in compute[1:]] == [r.total_cycles for r in rep.layers]
    js = write_json_report(rep, tmp_path / "out")
    assert len(json.loads(js.read_text())["layers"]) == len(NET)
    md = write_markdown_report(rep, tmp_path / "out")
    text = md.read_text()
    assert "| total cycles |" in text and "conv1" in text
    svg = (tmp_path / "out" / "cycles.svg").read_text()
    assert "](cycles.svg)" in text and svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count("<rect") == 4 * len(NET)  # compute + stall, utilization, stall share per layer
    for r in rep.layers:
        assert f"{r.name}: {r.compute_cycles:,} cycles" in svg


def test_dilation_grouped_and_vector_layers():
    cfg = hwmodel.preset("systolic-32x32-os")
    plain = hwmodel.Layer.conv("c", 16, 16, 8, 8, 3)
    dilated = hwmodel.Layer.conv("d", 16, 16, 8, 8, 3, dilation=2)
    assert dilated.gemm_k == plain.gemm_k and dilated.gemm_m < plain.gemm_m
    assert hwmodel.layer_cycles(dilated, cfg) <= hwmodel.layer_cycles(plain, cfg)
    grouped = hwmodel.Layer.conv("g", 16, 16, 8, 8, 3, groups=2)
    rep = hwmodel.simulate([grouped], cfg).layers[0]
    assert (
        rep.macs == grouped.macs == plain.macs // 2 and rep.folds == 2 * 7
    )  # 2 groups x ceil(14*14 / 32) row folds
    pool, add = NET[2], NET[3]
    p = hwmodel.simulate([pool, add], cfg)
    assert p.layers[0].compute_cycles == -(-8 * 8 * 16 * 4 // 32) and p.layers[0].macs == 0
    assert p.layers[1].compute_cycles == -(-8 * 8 * 16 // 32)
