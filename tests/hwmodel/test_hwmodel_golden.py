"""hwmodel against SCALE-Sim 3.0.0's own reports (goldens made by tools/scalesim/gen_golden.py).

Every case runs through the CLI path (``hwmodel simulate -c config.cfg -t topology.csv``), as a
SCALE-Sim user would. Compared exactly: compute cycles (Total Cycles - Stall Cycles), mapping
efficiency, per-fold compute utilization and SRAM read/write counts; in USER bandwidth cases also the
stall cycles of every layer, Total Cycles (incl. prefetch) and the DRAM start/stop cycles and counts
of DETAILED_ACCESS_REPORT.

Goldens are never regenerated here: ``--update-golden`` only points at tools/scalesim/gen_golden.py.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hwmodel.api import estimate
from hwmodel.cli import main
from hwmodel.config.files import load_config
from hwmodel.workloads.topology import read_topology

GOLDEN = Path(__file__).resolve().parent / "golden"
DRAM_WINDOW_COLUMNS = tuple(
    f"DRAM {op} {edge} Cycle" for op in ("IFMAP", "Filter", "OFMAP") for edge in ("Start", "Stop")
)
ESTIMATE_FACTOR = 2.5  # measured: 8x8 os x1.22, ws x1.06, is x1.11, ResNet-18 x0.48
# The closed form has no model of SCALE-Sim's wrap-around refetch (NOTES.md section 8): it is held to
# ESTIMATE_FACTOR on these cases only. Measured on the others (estimate / SCALE-Sim): user_bw4_*_16x8
# os 0.84, ws 0.42, is 0.90; user_bw10_* os 1.70 (8x8), 0.32 (16x8), ws 0.03 (16x8), is 1.16, 0.81.
ESTIMATE_CASES = ("user_bw_os_8x8", "user_bw_ws_8x8", "user_bw_is_8x8", "resnet18_user_bw")


def _cases() -> list[dict]:
    index = GOLDEN / "cases.json"
    if not index.exists():
        return [{"name": "missing-goldens"}]
    return json.loads(index.read_text())["cases"]


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0] if h.strip()]
    return [
        dict(zip(header, (v.strip() for v in row), strict=False))
        for row in rows[1:]
        if any(v.strip() for v in row)
    ]


def test_update_golden_flag_points_to_generator(request):
    if request.config.getoption("--update-golden", default=False):
        pytest.fail(
            "hwmodel goldens are SCALE-Sim's reports: regenerate them with "
            "'python tools/scalesim/gen_golden.py' (needs tools/scalesim/venv), then rerun the tests"
        )
    assert (GOLDEN.parent.parent.parent / "tools" / "scalesim" / "gen_golden.py").exists()


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_matches_scalesim(case, tmp_path, capsys):
    if case["name"] == "missing-goldens":
        pytest.fail(f"no {GOLDEN / 'cases.json'}; generate goldens with tools/scalesim/gen_golden.py")
    folder = GOLDEN / case["name"]
    argv = [
        "simulate",
        "-c",
        str(folder / "config.cfg"),
        "-t",
        str(folder / "topology.csv"),
        "-p",
        str(tmp_path),
        "-i",
        case["topology_mode"],
        "--no-markdown",
        "-q",
    ]
    assert main(argv) == 0
    out = next(p for p in tmp_path.iterdir() if p.is_dir())
    ours, theirs = _read(out / "COMPUTE_REPORT.csv"), _read(folder / "COMPUTE_REPORT.csv")
    assert len(ours) == len(theirs), "layer count differs (DP expansion?)"
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        compute_a = int(a["Total Cycles"]) - int(a["Stall Cycles"])
        compute_b = int(b["Total Cycles"]) - int(b["Stall Cycles"])
        assert compute_a == compute_b, f"layer {i}: compute cycles {compute_a} != SCALE-Sim {compute_b}"
        assert float(a["Mapping Efficiency %"]) == pytest.approx(float(b["Mapping Efficiency %"]), rel=1e-9)
        assert float(a["Compute Util %"]) == pytest.approx(float(b["Compute Util %"]), rel=1e-9)
    det_a, det_b = _read(out / "DETAILED_ACCESS_REPORT.csv"), _read(folder / "DETAILED_ACCESS_REPORT.csv")
    for i, (a, b) in enumerate(zip(det_a, det_b, strict=True)):
        for col in ("SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes"):
            assert float(a[col]) == float(b[col]), f"layer {i}: {col} {a[col]} != SCALE-Sim {b[col]}"
    if case["bandwidth_mode"] == "USER":
        stalls_a = [int(r["Stall Cycles"]) for r in ours]
        stalls_b = [int(r["Stall Cycles"]) for r in theirs]
        with capsys.disabled():
            print(
                f"\n{case['name']}: stall cycles hwmodel vs SCALE-Sim per layer: "
                + ", ".join(f"{x}/{y}" for x, y in zip(stalls_a, stalls_b, strict=True))
                + f"; total {sum(stalls_a)}/{sum(stalls_b)}"
            )
        assert stalls_a == stalls_b
        for i, (a, b) in enumerate(zip(det_a, det_b, strict=True)):
            for col in DRAM_WINDOW_COLUMNS:
                assert float(a[col]) == float(b[col]), f"layer {i}: {col} {a[col]} != SCALE-Sim {b[col]}"
            for col in ("DRAM IFMAP Reads", "DRAM Filter Reads", "DRAM OFMAP Writes"):
                assert float(a[col]) == float(b[col]), f"layer {i}: {col} {a[col]} != SCALE-Sim {b[col]}"
        assert [int(r["Total Cycles (incl. prefetch)"]) for r in ours] == [
            int(r["Total Cycles (incl. prefetch)"]) for r in theirs
        ]
        if case["name"] not in ESTIMATE_CASES:
            return
        # the analytic (closed-form) estimate is looser: within ESTIMATE_FACTOR of SCALE-Sim
        cfg = load_config(folder / "config.cfg")
        est = estimate(read_topology(folder / "topology.csv", case["topology_mode"]), cfg).stall_cycles
        assert sum(stalls_b) / ESTIMATE_FACTOR <= est <= sum(stalls_b) * ESTIMATE_FACTOR
    else:
        assert all(int(r["Stall Cycles"]) == 0 for r in ours)
