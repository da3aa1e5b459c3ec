"""Whole-process speed of ``hwmodel simulate`` against SCALE-Sim 3.0.0, side by side in one run.

    python benchmarks/bench_hwmodel_speed.py [--repeat 5] [--config CFG] [--no-scalesim]

1. Start-up: ``hwmodel presets`` (interpreter + package import) and the first kernel call (the
   Numba kernels loaded from their on-disk cache, no compilation): median of ``--repeat`` processes.
2. hwmodel, whole process, as a user runs it: ``python -m hwmodel simulate -c CFG -t resnet50.csv
   -p OUT`` (cycle mode, all reports: three CSVs, JSON, Markdown with its chart), median of
   ``--repeat`` processes after one warm-up process that fills the Numba cache; then the same on one
   ResNet-18 layer (3x3, 64 -> 64, 56x56).
3. SCALE-Sim 3.0.0 (tools/scalesim/venv), whole process, on that ResNet-18 layer with the same
   config, as its users run it (``python -m scalesim.scale``, traces included), once; skipped with a
   message when the venv is absent.
4. Rates: simulated cycles (SCALE-Sim's "Total Cycles", compute + stall) per wall second of each whole
   process, and their ratio. Goal: hwmodel on ResNet-50 at least 1000x SCALE-Sim's rate.
5. Analytic mode: ``hwmodel.layer_cycles`` calls per second over the ResNet-50 layers.

The default config is SCALE-Sim's example ``scale.cfg`` (32x32 OS, 64 KiB SRAMs, CALC bandwidth);
``--config`` takes any SCALE-Sim .cfg (a USER-bandwidth one makes SCALE-Sim much slower on big layers).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = ROOT / "hwmodel" / "presets" / "topologies"
R18_LAYER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    "layer1.0.conv1, 58, 58, 3, 3, 64, 64, 1,\n"
)


def _timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall


def _median_process(cmd: list[str], repeat: int, cwd: Path) -> tuple[float, list[float]]:
    runs = [_timed(cmd, cwd) for _ in range(repeat)]
    return statistics.median(runs), runs


def _total_cycles(report_dir: Path) -> tuple[int, int]:
    with open(report_dir / "COMPUTE_REPORT.csv", newline="") as f:
        rows = [[v.strip() for v in r] for r in list(csv.reader(f))[1:] if any(v.strip() for v in r)]
    return sum(int(r[2]) for r in rows), sum(int(r[3]) for r in rows)


def _run_name(cfg: Path) -> str:
    for line in cfg.read_text().splitlines():
        if line.strip().lower().startswith("run_name"):
            return line.split("=", 1)[-1].split(":", 1)[-1].strip()
    return cfg.stem


def bench_startup(repeat: int, tmp: Path) -> None:
    py = sys.executable
    secs, _ = _median_process([py, "-m", "hwmodel", "presets"], repeat, ROOT)
    print(f"start-up    python -m hwmodel presets: {secs * 1e3:.0f} ms (median of {repeat} processes)")
    code = (
        "import time; t=time.perf_counter(); import hwmodel; from hwmodel.systolic import kernel; "
        "t1=time.perf_counter(); hwmodel.simulate(hwmodel.Layer.conv('c', 8, 8, 4, 4, 3), 'scale'); "
        "t2=time.perf_counter(); print(f'{t1-t:.4f} {t2-t1:.4f}')"
    )
    parts = []
    for _ in range(repeat):
        out = subprocess.run(
            [py, "-c", code], cwd=tmp, capture_output=True, text=True, check=True
        ).stdout.split()
        parts.append((float(out[0]), float(out[1])))
    imp = statistics.median(p[0] for p in parts)
    first = statistics.median(p[1] for p in parts)
    print(
        f"            import hwmodel + numba kernel module {imp * 1e3:.0f} ms, first simulate() call "
        f"(cached kernels loaded) {first * 1e3:.0f} ms"
    )


def bench_whole_process(cfg: Path, topo: Path, label: str, repeat: int, tmp: Path) -> tuple[float, int]:
    out = tmp / f"out_{label}"
    cmd = [sys.executable, "-m", "hwmodel", "simulate", "-c", str(cfg), "-t", str(topo), "-p", str(out), "-q"]
    _timed(cmd, ROOT)  # warm-up: fills the Numba cache if needed
    secs, runs = _median_process(cmd, repeat, ROOT)
    total, stall = _total_cycles(out / _run_name(cfg))
    print(
        f"hwmodel     {label}: whole process {secs:.3f} s (median of {repeat}: "
        f"{', '.join(f'{r:.2f}' for r in runs)}), {total:,} cycles ({stall:,} stall), reports on "
        f"-> {total / secs / 1e6:,.2f} M cycles/s"
    )
    return secs, total


def bench_scalesim(cfg: Path, topo: Path, tmp: Path) -> tuple[float, int] | None:
    sys.path.insert(0, str(ROOT / "tools" / "scalesim"))
    from run_scalesim import ScaleSimError, run_scalesim, venv_python

    try:
        venv_python()
    except ScaleSimError as e:
        print(f"SCALE-Sim: {e}; skipping the comparison")
        return None
    run = run_scalesim(cfg, topo, tmp / "scalesim", traces=True)
    total, stall = _total_cycles(run.report_dir)
    print(
        f"SCALE-Sim   ResNet-18 layer1.0.conv1: whole process {run.wall_s:.1f} s wall ({run.cpu_s:.1f} s CPU), "
        f"{total:,} cycles ({stall:,} stall) -> {total / run.wall_s:,.0f} cycles/s"
    )
    return run.wall_s, total


def bench_analytic(cfg, repeat: int) -> None:
    import hwmodel
    from hwmodel.workloads.topology import read_topology

    layers = read_topology(TOPOLOGIES / "resnet50.csv")
    n = 200
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            for ly in layers:
                hwmodel.layer_cycles(ly, cfg)
        runs.append(time.perf_counter() - t0)
    print(
        f"analytic    layer_cycles: {n * len(layers) / statistics.median(runs):,.0f} layers/s "
        f"(median of {repeat}, {cfg.bandwidth_mode} mode)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--config", type=Path, default=ROOT / "hwmodel" / "presets" / "scale.cfg")
    ap.add_argument("--no-scalesim", action="store_true")
    args = ap.parse_args(argv)
    from hwmodel.config.files import load_config
    from hwmodel.config.loaders import to_scalesim_cfg

    print(f"config {args.config.name}; machine load {os.getloadavg()[0]:.1f} (1-min average)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # one cfg with every section SCALE-Sim 3.0.0 reads, used by both simulators
        cfg = tmp / "bench.cfg"
        cfg.write_text(to_scalesim_cfg(load_config(args.config)))
        layer = tmp / "resnet18_layer1.0.conv1.csv"
        layer.write_text(R18_LAYER)
        bench_startup(args.repeat, tmp)
        r50_s, r50_cycles = bench_whole_process(
            cfg, TOPOLOGIES / "resnet50.csv", "ResNet-50", args.repeat, tmp
        )
        one_s, one_cycles = bench_whole_process(cfg, layer, "ResNet-18 layer1.0.conv1", args.repeat, tmp)
        theirs = None if args.no_scalesim else bench_scalesim(cfg, layer, tmp)
        analytic_cfg = load_config(cfg)
    if theirs is not None:
        ss_s, ss_cycles = theirs
        if ss_cycles != one_cycles:
            print(f"WARNING: cycles differ on the layer: SCALE-Sim {ss_cycles:,}, hwmodel {one_cycles:,}")
        rate = ss_cycles / ss_s
        print(
            f"speed-up    ResNet-50 whole process vs SCALE-Sim's whole process on one layer: "
            f"{r50_cycles / r50_s / rate:,.0f}x cycles/s (goal 1000x)"
        )
        print(f"            same layer, both whole processes: {ss_s / one_s:,.0f}x wall")
    bench_analytic(analytic_cfg, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
