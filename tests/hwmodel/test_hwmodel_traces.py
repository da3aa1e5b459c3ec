"""The address-level memory model and trace files against SCALE-Sim 3.0.0, and the SCALE-Sim command line.

Goldens: tests/hwmodel/golden/{user_bw*,traces_*} (made by tools/scalesim/gen_golden.py).
"""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwmodel.cli import main
from hwmodel.config.files import load_config
from hwmodel.errors import HwModelError
from hwmodel.systolic.memory_model import run_memory
from hwmodel.systolic.operands import Offsets, operand_matrices
from hwmodel.systolic.traces import TRACE_FILES, layer_memory_run
from hwmodel.workloads.topology import read_topology

GOLDEN = Path(__file__).resolve().parent / "golden"
ROOT = GOLDEN.parent.parent.parent


def _cases(prefix: str) -> list[str]:
    index = json.loads((GOLDEN / "cases.json").read_text())["cases"]
    return [c["name"] for c in index if c["name"].startswith(prefix) and c["bandwidth_mode"] == "USER"]


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return [[v.strip() for v in row[:-1]] for row in list(csv.reader(f))[1:]]


@pytest.mark.parametrize("case", _cases("user_bw") + _cases("traces_"))
def test_memory_model_equals_scalesim_reports(case):
    """Stall cycles, Total Cycles, SRAM and DRAM start/stop cycles and DRAM counts, every layer."""
    folder = GOLDEN / case
    cfg = load_config(folder / "config.cfg")
    compute, detail = _rows(folder / "COMPUTE_REPORT.csv"), _rows(folder / "DETAILED_ACCESS_REPORT.csv")
    layers = read_topology(folder / "topology.csv")
    assert len(layers) == len(compute)
    for layer, row, det in zip(layers, compute, detail, strict=True):
        run = layer_memory_run(layer, cfg)
        d = [float(x) for x in det]
        assert (run.total_cycles, run.stall_cycles) == (int(row[2]), int(row[3])), layer.name
        assert run.sram_window("ifmap") == (d[1], d[2]) and run.sram_window("filter") == (d[4], d[5])
        assert run.sram_window("ofmap") == (d[7], d[8])
        assert run.dram_window("ifmap") == (d[10], d[11]) and run.dram_window("filter") == (d[13], d[14])
        assert run.dram_window("ofmap") == (d[16], d[17])
        assert [run.dram_words[k] for k in ("ifmap", "filter", "ofmap")] == [d[12], d[15], d[18]]


@pytest.mark.parametrize("case", _cases("traces_"))
def test_cli_traces_equal_scalesim_byte_for_byte(case, tmp_path):
    folder = GOLDEN / case
    layout = tmp_path / "layout.csv"
    layout.write_text("Layer name,\n")
    argv = [
        "-c",
        str(folder / "config.cfg"),
        "-t",
        str(folder / "topology.csv"),
        "-l",
        str(layout),
        "-p",
        str(tmp_path / "out"),
        "-i",
        "conv",
        "-s",
        "Y",
        "--no-markdown",
        "-q",
    ]
    assert main(argv) == 0  # SCALE-Sim's own command line, no sub-command
    run_dir = tmp_path / "out" / "golden"
    expected = sorted((folder / "traces").glob("layer*/*.csv.gz"))
    assert len(expected) == 2 * len(TRACE_FILES)
    for gz in expected:
        ours = run_dir / gz.parent.name / gz.name[:-3]
        assert ours.read_bytes() == gzip.decompress(gz.read_bytes()), f"{case}: {ours.name} differs"


def test_traces_are_off_by_default_and_need_cycle_mode(tmp_path, capsys):
    folder = GOLDEN / "traces_os_8x8"
    base = [
        "simulate",
        "-c",
        str(folder / "config.cfg"),
        "-t",
        str(folder / "topology.csv"),
        "--no-markdown",
        "-q",
    ]
    assert main([*base, "-p", str(tmp_path / "a")]) == 0
    assert not list((tmp_path / "a" / "golden").glob("layer*"))
    assert main([*base, "-p", str(tmp_path / "b"), "-s", "Y", "--mode", "analytic"]) == 2
    assert "needs cycle mode" in capsys.readouterr().err
    assert not (tmp_path / "b" / "golden").exists()


def test_traces_refuse_calc_mode(tmp_path, capsys):
    cfg = tmp_path / "calc.cfg"
    cfg.write_text((GOLDEN / "traces_os_8x8" / "config.cfg").read_text().replace("= USER", "= CALC"))
    argv = [
        "-c",
        str(cfg),
        "-t",
        str(GOLDEN / "traces_os_8x8" / "topology.csv"),
        "-p",
        str(tmp_path),
        "-s",
        "Y",
    ]
    assert main(argv) == 2
    assert "USER bandwidth mode only" in capsys.readouterr().err


def test_layout_flag_is_checked_and_custom_layouts_refused(tmp_path, capsys):
    folder = GOLDEN / "traces_ws_8x8"
    base = [
        "-c",
        str(folder / "config.cfg"),
        "-t",
        str(folder / "topology.csv"),
        "-p",
        str(tmp_path / "o"),
        "-q",
        "--no-markdown",
    ]
    assert main([*base, "-l", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read layout file" in capsys.readouterr().err
    custom = tmp_path / "custom.cfg"
    custom.write_text(
        (folder / "config.cfg").read_text().replace("IfmapCustomLayout = False", "IfmapCustomLayout = True")
    )
    assert main(["-c", str(custom), *base[2:]]) == 2
    assert "IfmapCustomLayout = True" in capsys.readouterr().err


def test_python_dash_m_hwmodel(tmp_path):
    folder = GOLDEN / "gemm_ws_8x8"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hwmodel",
            "simulate",
            "-c",
            str(folder / "config.cfg"),
            "-t",
            str(folder / "topology.csv"),
            "-p",
            str(tmp_path),
            "-i",
            "gemm",
            "--no-markdown",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "golden" / "COMPUTE_REPORT.csv").read_text().count("\n") == (
        folder / "COMPUTE_REPORT.csv"
    ).read_text().count("\n")


def test_memory_model_takes_whole_float_bandwidths_and_refuses_fractional_ones():
    # AcceleratorConfig.stream_bw is a float (configs may say 2.5): a whole one runs exactly as its
    # integer, a fractional one is refused by name, since SCALE-Sim's DRAM lines hold whole words
    case = GOLDEN / "traces_os_8x8"
    cfg = load_config(case / "config.cfg")
    layer = read_topology(case / "topology.csv")[0]
    ops = operand_matrices(layer, cfg.nm_support, Offsets())
    words = (cfg.sram_words("ifmap"), cfg.sram_words("filter"), cfg.sram_words("ofmap"))
    as_float = run_memory(cfg.dataflow, cfg.rows, cfg.cols, ops, words, (4.0, 4.0, 4.0))
    as_int = run_memory(cfg.dataflow, cfg.rows, cfg.cols, ops, words, (4, 4, 4))
    assert as_float.stall_cycles > 0
    assert (as_float.total_cycles, as_float.stall_cycles) == (as_int.total_cycles, as_int.stall_cycles)
    for op in ("ifmap", "filter"):
        assert (as_float.dram_trace[op][1] == as_int.dram_trace[op][1]).all()
    with pytest.raises(HwModelError, match="whole DRAM words per cycle"):
        layer_memory_run(layer, cfg.replace(ifmap_dram_bw=2.5))
