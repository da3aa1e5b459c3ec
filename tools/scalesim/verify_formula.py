#!/usr/bin/env python3
"""Check NOTES.md's closed-form compute cycles against every stored golden report.

Usage:
    python tools/scalesim/verify_formula.py      # exit 0 when every layer matches

Independent of hwmodel: it re-parses each golden ``topology.csv`` the way SCALE-Sim 3.0.0 does
(trailing comma, one stride column, ``DP`` rows split per channel, GEMM rows ``M, N, K``,
sparsity only with SparsitySupport) and compares ``folds * L - 1`` with the report's
``Total Cycles - Stall Cycles``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_golden import GOLDEN
from run_scalesim import read_report

__all__ = ["compute_cycles", "topology_gemms"]


def topology_gemms(text: str, *, gemm_mode: bool, sparsity: bool) -> list[tuple[int, int, int]]:
    """(M, K', N) per SCALE-Sim layer of a topology CSV, in report order."""
    out: list[tuple[int, int, int]] = []
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        e = [x.strip() for x in line.strip().split(",")[:-1]]
        if gemm_mode:
            m, n, k = int(e[1]), int(e[2]), int(e[3])
            nm, reps = (e[4] if len(e) > 4 else "1:1"), 1
        else:
            h, w, fh, fw, ch, nf, s = (int(x) for x in e[1:8])
            nm = e[8] if len(e) > 8 else "1:1"
            depthwise = "DP" in e[0]
            m = math.ceil((h - fh + s) / s) * math.ceil((w - fw + s) / s)
            k, n, reps = fh * fw * (1 if depthwise else ch), nf, (ch if depthwise else 1)
        if sparsity:
            keep, block = (int(x) for x in nm.split(":"))
            k = (k // block) * keep + min(keep, k % block)
        out += [(m, k, n)] * reps
    return out


def compute_cycles(m: int, k: int, n: int, dataflow: str, rows: int, cols: int) -> int:
    """SCALE-Sim 3.0.0 compute cycles: folds * L - 1 (NOTES.md section 4)."""
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    fold_len = t + rows + cols - 2 if dataflow == "os" else 2 * rows + cols + t - 2
    return math.ceil(sr / rows) * math.ceil(sc / cols) * fold_len - 1


def main() -> int:
    cases = json.loads((GOLDEN / "cases.json").read_text())["cases"]
    checked = bad = 0
    for case in cases:
        folder = GOLDEN / case["name"]
        gemms = topology_gemms(
            (folder / "topology.csv").read_text(),
            gemm_mode=case["topology_mode"] == "gemm",
            sparsity=case["sparsity"],
        )
        rows = read_report(folder / "COMPUTE_REPORT.csv")
        if len(rows) != len(gemms):
            print(f"{case['name']}: {len(rows)} report rows, {len(gemms)} layers parsed")
            bad += 1
            continue
        for (m, k, n), row in zip(gemms, rows, strict=True):
            want = compute_cycles(m, k, n, case["dataflow"], case["array_rows"], case["array_cols"])
            got = int(row["Total Cycles"]) - int(row["Stall Cycles"])
            checked += 1
            if want != got:
                bad += 1
                print(f"{case['name']} layer {row['LayerID']}: formula {want}, SCALE-Sim {got}")
    print(f"{checked} layers in {len(cases)} cases checked, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
