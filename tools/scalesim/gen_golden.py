#!/usr/bin/env python3
"""Generate SCALE-Sim 3.0.0 golden reports for hwmodel's tests.

Usage:
    python tools/scalesim/gen_golden.py                 # refuses if goldens exist
    python tools/scalesim/gen_golden.py --update        # (re)generate every case
    python tools/scalesim/gen_golden.py --update --only conv_os_8x8 resnet18_user_bw
    python tools/scalesim/gen_golden.py --check         # re-run, compare with stored, write nothing
    python tools/scalesim/gen_golden.py --list          # print the case table

Each case runs SCALE-Sim (in tools/scalesim/venv, see make_venv.sh) on one config + topology and
stores, in ``tests/hwmodel/golden/<case>/``, the exact ``config.cfg`` and ``topology.csv`` it ran
and SCALE-Sim's ``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv`` and
``DETAILED_ACCESS_REPORT.csv`` (traces are dropped). ``tests/hwmodel/golden/cases.json`` lists
every case: dataflow, array shape, topology mode, sparsity, bandwidth mode, what it covers, and
the layer names in report order (depthwise ``DP`` rows expand to one layer per channel).
"""

from __future__ import annotations

import argparse
import filecmp
import gzip
import json
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_scalesim import ScaleSimError, read_report, run_scalesim

__all__ = ["CASES", "Case", "render_cfg", "generate"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TOPOLOGIES = HERE / "topologies"
GOLDEN = REPO / "tests" / "hwmodel" / "golden"
REPORTS = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")
SCALESIM_VERSION = "3.0.0"
RUN_NAME = "golden"


@dataclass(frozen=True, slots=True)
class Case:
    """One SCALE-Sim run to freeze as a golden.

    Attributes:
        name: folder name under tests/hwmodel/golden.
        dataflow: "os", "ws" or "is".
        rows, cols: systolic array height (ArrayHeight) and width (ArrayWidth).
        topology: CSV file name in tools/scalesim/topologies.
        mode: "conv" or "gemm" (``-i gemm``).
        sparsity: SparsitySupport in the cfg (layer-wise N:M from the topology's column).
        bandwidth_mode: "CALC" or "USER" (InterfaceBandwidth).
        bandwidth: DRAM words/cycle in USER mode, used for ifmap, filter and ofmap alike.
        sram_kb: (ifmap, filter, ofmap) SRAM sizes in KiB of 1-byte words.
        covers: what the case is there to check.
        note: extra facts (e.g. how a topology was scaled down).
        layer_multiplicity: for topologies of unique layers, how often each occurs in the net.
    """

    name: str
    dataflow: str
    rows: int
    cols: int
    topology: str
    mode: str = "conv"
    sparsity: bool = False
    bandwidth_mode: str = "CALC"
    bandwidth: int = 10
    sram_kb: tuple[int, int, int] = (64, 64, 32)
    covers: str = ""
    note: str = ""
    layer_multiplicity: tuple[int, ...] = field(default=())
    traces: bool = False  # keep SCALE-Sim's per-layer trace CSVs (gzipped) in <case>/traces/

    def __post_init__(self) -> None:
        if self.dataflow not in ("os", "ws", "is"):
            raise ValueError(f"case {self.name}: dataflow must be os/ws/is, got {self.dataflow!r}")
        if self.mode not in ("conv", "gemm"):
            raise ValueError(f"case {self.name}: mode must be conv/gemm, got {self.mode!r}")
        if self.bandwidth_mode not in ("CALC", "USER"):
            raise ValueError(f"case {self.name}: bandwidth_mode must be CALC/USER")
        if not (TOPOLOGIES / self.topology).is_file():
            raise ValueError(f"case {self.name}: no topology {TOPOLOGIES / self.topology}")


def render_cfg(case: Case) -> str:
    """The SCALE-Sim .cfg text for a case (every section SCALE-Sim 3.0.0 reads unconditionally).

    In USER mode SCALE-Sim takes the ifmap and filter DRAM bandwidth from the [layout] bank
    bandwidths and the ofmap drain bandwidth from [architecture_presets] Bandwidth; all three
    get ``case.bandwidth``.
    """
    ifmap_kb, filter_kb, ofmap_kb = case.sram_kb
    bw = case.bandwidth
    return f"""[general]
run_name = {RUN_NAME}

[architecture_presets]
ArrayHeight = {case.rows}
ArrayWidth = {case.cols}
ifmapsramszkB = {ifmap_kb}
filtersramszkB = {filter_kb}
ofmapsramszkB = {ofmap_kb}
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = {case.dataflow}
Bandwidth = {bw}
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = {bw}
IfmapSRAMBankNum = 1
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = {bw}
FilterSRAMBankNum = 1
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = {"true" if case.sparsity else "false"}
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 4
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = {case.bandwidth_mode}
UseRamulatorTrace = False
"""


SHAPES = ((8, 8), (16, 8), (8, 16), (32, 32))
DATAFLOWS = ("os", "ws", "is")
USER_BANDWIDTHS = (4, 10, 50)
RESNET18_64_MULT = (1, 4, 1, 3, 1, 1, 3, 1, 1, 3, 1, 1)


def _cases() -> tuple[Case, ...]:
    out: list[Case] = []
    for df in DATAFLOWS:
        for r, c in SHAPES:
            out.append(
                Case(
                    f"conv_{df}_{r}x{c}",
                    df,
                    r,
                    c,
                    "conv_mix.csv",
                    covers="dense conv: 3x3, 3x3 stride 2 with SCALE-Sim's ceil output size, 7x7 stride 2, "
                    "3x2 kernel on a 9x12 map, 1x1, 1x1 stride 2, depthwise DP rows (stride 1 "
                    "and 2), FC as a 1x1 conv on a 1x1 map",
                )
            )
            out.append(
                Case(
                    f"gemm_{df}_{r}x{c}",
                    df,
                    r,
                    c,
                    "gemm_mix.csv",
                    mode="gemm",
                    covers="GEMM topology mode (-i gemm, rows M, N, K): M=1 FC, mid, tall (M >> N), "
                    "wide (N >> M)",
                )
            )
        for r, c in SHAPES[:2] + SHAPES[3:]:
            out.append(
                Case(
                    f"nm_conv_{df}_{r}x{c}",
                    df,
                    r,
                    c,
                    "nm_conv.csv",
                    sparsity=True,
                    covers="layer-wise N:M (SparsitySupport=true): 1:1 dense, 2:4, 1:4, 3:4, 2:8, 4:8, "
                    "1:2; K multiple of M and K % M = 1, 2, 3 (last partial block); strided, "
                    "1x1, depthwise DP and FC layers with N:M",
                )
            )
        for r, c in SHAPES[:2]:
            out.append(
                Case(
                    f"nm_gemm_{df}_{r}x{c}",
                    df,
                    r,
                    c,
                    "nm_gemm.csv",
                    mode="gemm",
                    sparsity=True,
                    covers="GEMM mode with layer-wise N:M: 1:1, 2:4 with K=17, 1:4, 1:2 with K=33",
                )
            )
        out.append(
            Case(
                f"user_bw_{df}_8x8",
                df,
                8,
                8,
                "conv_mix.csv",
                bandwidth_mode="USER",
                bandwidth=4,
                sram_kb=(2, 2, 1),
                covers="USER bandwidth mode with small SRAMs (2/2/1 KiB) and 4 words/cycle: "
                "non-zero stall cycles on small layers",
            )
        )
    for df in DATAFLOWS:
        for r, c in SHAPES[:2]:
            for bw in USER_BANDWIDTHS:
                if (r, c, bw) == (8, 8, 4):
                    continue  # that is user_bw_{df}_8x8
                out.append(
                    Case(
                        f"user_bw{bw}_{df}_{r}x{c}",
                        df,
                        r,
                        c,
                        "conv_mix.csv",
                        bandwidth_mode="USER",
                        bandwidth=bw,
                        sram_kb=(2, 2, 1),
                        covers=f"USER bandwidth mode, {bw} words/cycle, 2/2/1 KiB SRAMs: exact stall cycles "
                        "and DRAM start/stop cycles (im2col duplicates looked up by address)",
                    )
                )
        out.append(
            Case(
                f"traces_{df}_8x8",
                df,
                8,
                8,
                "traces.csv",
                bandwidth_mode="USER",
                bandwidth=4,
                sram_kb=(1, 2, 1),
                covers="SCALE-Sim's six trace CSVs per layer (kept gzipped in traces/), byte for byte",
                traces=True,
            )
        )
    out.append(
        Case(
            "resnet18_224_user_bw10",
            "ws",
            32,
            32,
            "resnet18_224_head_unique.csv",
            bandwidth_mode="USER",
            bandwidth=10,
            sram_kb=(64, 64, 32),
            covers="USER-mode stalls on ResNet-18 at 224x224: the distinct layers of its first eight "
            "conv layers (conv1 7x7/2, 3x3 64->64 on 56x56, 3x3/2 64->128, 3x3 128->128 on 28x28, "
            "1x1/2 downsample), WS 32x32, 64/64/32 KiB SRAM, 10 words/cycle",
            note="the distinct layers only (SCALE-Sim takes minutes per 224x224 layer); "
            "layer_multiplicity counts them in those eight layers",
            layer_multiplicity=(1, 4, 1, 1, 1),
        )
    )
    for df in DATAFLOWS:
        out.append(
            Case(
                f"quirks_{df}_8x8",
                df,
                8,
                8,
                "quirks.csv",
                covers="topology-parser quirks: a DP row with Num Filter = Channels (each channel "
                "layer keeps all the filters), 'DP' inside a name, a lower-case 'dp' name (a normal "
                "conv), N:M columns that SparsitySupport=false ignores",
            )
        )
    out.append(
        Case(
            "resnet18_user_bw",
            "ws",
            32,
            32,
            "resnet18_64_unique.csv",
            bandwidth_mode="USER",
            bandwidth=16,
            sram_kb=(256, 256, 128),
            covers="stall cycles in USER bandwidth mode on ResNet-18's conv and fc layers, WS 32x32, "
            "256/256/128 KiB SRAM, 16 words/cycle",
            note="ResNet-18 at a 64x64 input (not 224x224) so SCALE-Sim finishes in minutes; only "
            "the 12 distinct layer shapes are run, layer_multiplicity says how often each occurs "
            "in the 21 conv/fc layers (resnet18_64.csv is the full list). IFMAP sizes are the "
            "padded extent a PyTorch conv actually reads, (E-1)*s+R, so SCALE-Sim's "
            "ceil((H-R+s)/s) equals PyTorch's output size",
            layer_multiplicity=RESNET18_64_MULT,
        )
    )
    return tuple(out)


CASES = _cases()


def _layer_names(case: Case) -> list[str]:
    """Layer names in SCALE-Sim's report order (a DP row becomes one layer per channel)."""
    names: list[str] = []
    lines = (TOPOLOGIES / case.topology).read_text().splitlines()[1:]
    for line in lines:
        if not line.strip():
            continue
        elems = [e.strip() for e in line.strip().split(",")[:-1]]
        if case.mode == "conv" and "DP" in elems[0]:
            names += [f"{elems[0]}Channel_{i}" for i in range(int(elems[5]))]
        else:
            names.append(elems[0])
    return names


def _run_case(case: Case, dest: Path) -> dict:
    """Run one case and write its golden files into ``dest`` (a fresh folder)."""
    dest.mkdir(parents=True, exist_ok=True)
    cfg = dest / "config.cfg"
    topo = dest / "topology.csv"
    cfg.write_text(render_cfg(case))
    topo.write_text((TOPOLOGIES / case.topology).read_text())
    with tempfile.TemporaryDirectory(prefix=f"golden_{case.name}_") as tmp:
        run = run_scalesim(cfg, topo, Path(tmp), gemm=case.mode == "gemm", traces=case.traces)
        for name in REPORTS:
            (dest / name).write_bytes((run.report_dir / name).read_bytes())
        if case.traces:  # gzip with mtime 0, so regenerating gives identical bytes
            for trace in sorted(run.report_dir.glob("layer*/*_TRACE.csv")):
                out = dest / "traces" / trace.parent.name / (trace.name + ".gz")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(gzip.compress(trace.read_bytes(), mtime=0))
    rows = read_report(dest / "COMPUTE_REPORT.csv")
    names = _layer_names(case)
    if len(rows) != len(names):
        raise ScaleSimError(
            f"case {case.name}: {len(rows)} report rows but {len(names)} layers in {case.topology}"
        )
    if case.layer_multiplicity and len(case.layer_multiplicity) != len(names):
        raise ScaleSimError(f"case {case.name}: layer_multiplicity does not match the topology")
    print(f"  {case.name}: {len(rows)} layers, SCALE-Sim {run.wall_s:.1f} s", flush=True)
    return {"wall_s": round(run.wall_s, 2), "layers": names}


def _case_entry(case: Case, run: dict) -> dict:
    entry = asdict(case)
    entry["sram_kb"] = dict(zip(("ifmap", "filter", "ofmap"), case.sram_kb, strict=True))
    entry["array_rows"], entry["array_cols"] = entry.pop("rows"), entry.pop("cols")
    entry["topology_source"] = f"tools/scalesim/topologies/{entry.pop('topology')}"
    entry["topology_mode"] = entry.pop("mode")
    entry["layer_multiplicity"] = list(case.layer_multiplicity) or None
    if case.bandwidth_mode == "CALC":
        entry["bandwidth"] = None  # CALC mode reads no bandwidth from the cfg
    entry["layers"] = run["layers"]
    entry["scalesim_wall_s"] = run["wall_s"]
    return entry


def generate(cases: Iterable[Case], root: Path, jobs: int) -> dict[str, dict]:
    """Run the cases (``jobs`` SCALE-Sim processes at a time) into ``root/<case>/``.

    Args:
        cases: the cases to run.
        root: folder that receives one sub-folder per case.
        jobs: SCALE-Sim processes in parallel.

    Returns:
        case name -> cases.json entry.
    """
    cases = list(cases)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        runs = list(pool.map(lambda c: _run_case(c, root / c.name), cases))
    return {c.name: _case_entry(c, r) for c, r in zip(cases, runs, strict=True)}


def _write_index(entries: dict[str, dict], root: Path) -> None:
    index = {
        "scalesim_version": SCALESIM_VERSION,
        "generator": "tools/scalesim/gen_golden.py",
        "files": ["config.cfg", "topology.csv", *REPORTS],
        "compute_cycles": "Total Cycles - Stall Cycles of COMPUTE_REPORT.csv (= folds * L - 1, "
        "tools/scalesim/NOTES.md section 4)",
        "notes": "tools/scalesim/NOTES.md, tools/scalesim/README.md",
        "cases": [entries[c.name] for c in CASES if c.name in entries],
    }
    tmp = root / ".cases.json.tmp"
    tmp.write_text(json.dumps(index, indent=1) + "\n")
    tmp.replace(root / "cases.json")


def _install(src: Path, dest_root: Path, names: Iterable[str]) -> None:
    """Move freshly generated case folders into place, one rename per file."""
    for name in names:
        dest = dest_root / name
        dest.mkdir(parents=True, exist_ok=True)
        for f in sorted((src / name).iterdir()):
            f.replace(dest / f.name)


def _check(cases: list[Case], jobs: int) -> int:
    bad = 0
    with tempfile.TemporaryDirectory(prefix="golden_check_") as tmp:
        generate(cases, Path(tmp), jobs)
        for case in cases:
            for name in ("config.cfg", "topology.csv", *REPORTS):
                a, b = GOLDEN / case.name / name, Path(tmp) / case.name / name
                if not a.exists() or not filecmp.cmp(a, b, shallow=False):
                    print(f"DIFFERS: {case.name}/{name}")
                    bad += 1
    print("all goldens reproduced" if not bad else f"{bad} files differ")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate SCALE-Sim 3.0.0 goldens for hwmodel.")
    ap.add_argument(
        "--update", action="store_true", help="overwrite existing goldens (required when any exist)"
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="re-run the cases and compare with the stored goldens; write nothing",
    )
    ap.add_argument("--only", nargs="+", metavar="CASE", help="limit to these cases")
    ap.add_argument("--jobs", type=int, default=2, help="SCALE-Sim processes in parallel")
    ap.add_argument("--list", action="store_true", help="print the cases and exit")
    args = ap.parse_args(argv)

    by_name = {c.name: c for c in CASES}
    if args.only:
        unknown = sorted(set(args.only) - set(by_name))
        if unknown:
            ap.error(f"unknown case(s) {unknown}; see --list")
    cases = [by_name[n] for n in args.only] if args.only else list(CASES)
    if args.list:
        for c in cases:
            print(
                f"{c.name:22s} {c.dataflow} {c.rows}x{c.cols} {c.mode:4s} "
                f"sparsity={c.sparsity!s:5s} {c.bandwidth_mode} {c.topology}"
            )
        return 0
    if args.check:
        return _check(cases, args.jobs)

    existing = [c.name for c in cases if (GOLDEN / c.name).exists()]
    if existing and not args.update:
        print(
            f"refusing to overwrite {len(existing)} existing golden case(s) in {GOLDEN} "
            f"(e.g. {existing[0]}); pass --update to regenerate them",
            file=sys.stderr,
        )
        return 2
    GOLDEN.mkdir(parents=True, exist_ok=True)
    old: dict[str, dict] = {}
    if (GOLDEN / "cases.json").exists():
        old = {e["name"]: e for e in json.loads((GOLDEN / "cases.json").read_text())["cases"]}
    print(f"running {len(cases)} SCALE-Sim case(s), {args.jobs} at a time", flush=True)
    with tempfile.TemporaryDirectory(prefix=".golden_new_", dir=GOLDEN.parent) as tmp:
        try:
            entries = generate(cases, Path(tmp), args.jobs)
        except ScaleSimError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        _install(Path(tmp), GOLDEN, [c.name for c in cases])
    _write_index({**old, **entries}, GOLDEN)
    print(f"wrote {len(cases)} case(s) and cases.json to {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
