"""``hwmodel`` CLI: SCALE-Sim drop-in behaviour, presets, and no partial reports on bad input."""

from __future__ import annotations

import json

import pytest

from hwmodel.cli import main


@pytest.fixture
def files(tmp_path, scale_cfg_text, conv_topology_text):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(scale_cfg_text)
    topo = tmp_path / "net.csv"
    topo.write_text(conv_topology_text)
    return cfg, topo, tmp_path / "out"


def test_simulate_writes_scalesim_reports_under_run_name(files, capsys):
    cfg, topo, out = files
    assert main(["simulate", "-c", str(cfg), "-t", str(topo), "-p", str(out)]) == 0
    folder = out / "tiny"
    names = {p.name for p in folder.iterdir()}
    assert {
        "COMPUTE_REPORT.csv",
        "BANDWIDTH_REPORT.csv",
        "DETAILED_ACCESS_REPORT.csv",
        "REPORT.json",
        "REPORT.md",
        "cycles.svg",
    } <= names
    lines = (folder / "COMPUTE_REPORT.csv").read_text().splitlines()
    assert len(lines) == 1 + 5  # header + conv1, conv2, three DP channels
    # conv1: M=64, K=36, N=12 on 8x8 OS -> 16 folds * 50 - 1 (SCALE-Sim: 799)
    assert lines[1].split(", ")[2] == "799"
    assert "total cycles" in capsys.readouterr().out


def test_preset_gemm_and_analytic_mode(tmp_path):
    topo = tmp_path / "g.csv"
    topo.write_text("Layer, M, N, K,\nfc1, 20, 12, 30,\n")
    assert (
        main(
            [
                "simulate",
                "--preset",
                "systolic-32x32-ws",
                "-t",
                str(topo),
                "-p",
                str(tmp_path / "o"),
                "-i",
                "gemm",
                "--mode",
                "analytic",
                "--no-markdown",
                "-q",
            ]
        )
        == 0
    )
    rep = json.loads((tmp_path / "o" / "systolic-32x32-ws" / "REPORT.json").read_text())
    assert rep["mode"] == "analytic" and rep["layers"][0]["compute_cycles"] == (2 * 32 + 32 + 20 - 2) - 1


@pytest.mark.parametrize(
    "change,needle",
    [
        (lambda c, t: t.write_text(t.read_text().replace("conv2, 9, 9,", "conv2, 9, nine,")), "net.csv:3"),
        (lambda c, t: t.write_text(t.read_text().replace("2:4", "3:2")), "field 'Sparsity'"),
        (lambda c, t: c.write_text(c.read_text().replace("Dataflow : os", "Dataflow : zz")), "tiny.cfg:13"),
        (lambda c, t: c.write_text(c.read_text().replace("ArrayHeight: 8", "ArrayHeight: 0")), "ArrayHeight"),
        (
            lambda c, t: c.write_text(
                c.read_text().replace("ArrayHeight: 8\nArrayWidth: 8", "ArrayHeight: 256\nArrayWidth: 256")
            ),
            "ofmap_sram_kb",
        ),
    ],
)
def test_bad_inputs_fail_cleanly_without_partial_reports(files, capsys, change, needle):
    cfg, topo, out = files
    change(cfg, topo)
    assert main(["simulate", "-c", str(cfg), "-t", str(topo), "-p", str(out), "--no-markdown"]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.startswith("hwmodel: error:")
    assert not (out / "tiny").exists() or not any((out / "tiny").iterdir())
    assert not any(p.name.endswith(".tmp") for p in out.glob("*")) if out.exists() else True


def test_presets_command_lists_names(capsys):
    assert main(["presets"]) == 0
    names = capsys.readouterr().out.split()
    assert "dpu-b4096" in names and "google" in names


def test_failure_while_writing_leaves_no_partial_reports(files, monkeypatch):
    cfg, topo, out = files

    def broken(report, outdir):
        raise OSError("disk full while plotting")

    monkeypatch.setattr("hwmodel.reports.markdown.write_markdown_report", broken)
    with pytest.raises(OSError, match="disk full"):
        main(["simulate", "-c", str(cfg), "-t", str(topo), "-p", str(out)])
    # the CSVs were written to the temporary folder first; none reached OUTDIR/<run_name>
    assert not (out / "tiny").exists() or not any((out / "tiny").iterdir())
    assert list(out.iterdir()) == [] if out.exists() else True
