"""Speed of hwmodel's systolic engine: cycle mode on ResNet-18/50, analytic layers/s, SCALE-Sim speedup.

    python benchmarks/bench_hwmodel_speed.py [--repeat 5] [--scalesim-layers 1] [--no-scalesim]

1. Cycle mode (Numba kernel, every demand line stepped) on the bundled ResNet-18 and ResNet-50
   SCALE-Sim topologies with SCALE-Sim's example config ``scale.cfg`` (32x32 OS), switched to USER
   bandwidth so the memory system stalls: median of ``--repeat`` runs after a warm-up run whose
   compute cycles are checked against the closed form.
2. Analytic mode: ``hwmodel.layer_cycles`` calls per second over the ResNet-50 layers.
3. SCALE-Sim 3.0.0 (tools/scalesim/venv, via tools/scalesim/run_scalesim.py, traces off) on the
   first ``--scalesim-layers`` 3x3 layers of ResNet-18 with the same config, in the same run; the
   script prints the speedup on those layers and SCALE-Sim's per-cycle rate extrapolated to the
   whole networks (labelled as such). Skipped with a message when the venv is absent.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import hwmodel
from hwmodel.config.loaders import parse_scalesim_cfg, to_scalesim_cfg
from hwmodel.config.presets import PRESET_DIR
from hwmodel.workloads.topology import read_topology, write_topology

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = PRESET_DIR / "topologies"


def _median_time(fn, repeat: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def bench_cycle(cfg, repeat: int) -> dict[str, tuple[float, int, int]]:
    out = {}
    for name in ("resnet18", "resnet50"):
        layers = read_topology(TOPOLOGIES / f"{name}.csv")
        warm = hwmodel.simulate(layers, cfg)  # compiles / loads the Numba cache
        est = hwmodel.estimate(layers, cfg)
        assert warm.compute_cycles == est.compute_cycles, "cycle and analytic compute cycles differ"
        secs = _median_time(lambda layers=layers: hwmodel.simulate(layers, cfg), repeat)
        out[name] = (secs, warm.compute_cycles, warm.stall_cycles)
        print(f"cycle mode  {name:9s} {len(layers):3d} layers  {warm.total_cycles:>12,} cycles "
              f"({warm.stall_cycles:,} stall)  median {secs * 1e3:8.2f} ms  "
              f"({warm.total_cycles / secs / 1e6:,.0f} M simulated cycles/s)")
    return out


def bench_analytic(cfg, repeat: int) -> float:
    layers = read_topology(TOPOLOGIES / "resnet50.csv")
    n = 200

    def run() -> None:
        for _ in range(n):
            for ly in layers:
                hwmodel.layer_cycles(ly, cfg)

    run()
    secs = _median_time(run, repeat)
    rate = n * len(layers) / secs
    print(f"analytic    layer_cycles: {rate:,.0f} layers/s (median of {repeat}, {n * len(layers)} calls each)")
    calc = cfg.replace(bandwidth_mode="CALC")
    secs_calc = _median_time(lambda: [hwmodel.layer_cycles(ly, calc) for _ in range(n) for ly in layers], repeat)
    print(f"analytic    layer_cycles, CALC mode: {n * len(layers) / secs_calc:,.0f} layers/s")
    return rate


def bench_scalesim(cfg, n_layers: int, cycle_results: dict[str, tuple[float, int, int]], repeat: int) -> None:
    sys.path.insert(0, str(ROOT / "tools" / "scalesim"))
    try:
        from run_scalesim import ScaleSimError, read_report, run_scalesim, venv_python
    except ImportError:
        print("SCALE-Sim: tools/scalesim/run_scalesim.py not found; skipping the comparison")
        return
    try:
        venv_python()
    except Exception as e:  # the helper raises when the venv is absent
        print(f"SCALE-Sim: virtualenv missing ({e}); run tools/scalesim/make_venv.sh; skipping the comparison")
        return
    r18 = read_topology(TOPOLOGIES / "resnet18.csv")
    picked = [ly for ly in r18 if ly.filt_h == 3][:n_layers]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg_path = tmp / "bench.cfg"
        cfg_path.write_text(to_scalesim_cfg(cfg))
        topo = write_topology(picked, tmp / "layers.csv")
        same = parse_scalesim_cfg(cfg_path)
        ours = hwmodel.simulate(topo, same)
        ours_s = _median_time(lambda: hwmodel.simulate(topo, same), max(repeat, 5))
        ours_cpu = _median_time(lambda: hwmodel.simulate(topo, same), max(repeat, 5), time.process_time)
        try:
            run = run_scalesim(cfg_path, topo, tmp / "scalesim", traces=False)
        except ScaleSimError as e:
            print(f"SCALE-Sim failed: {e}")
            return
        report_dir, wall = (run.report_dir, run.wall_s) if hasattr(run, "report_dir") else run
        cpu = getattr(run, "cpu_s", None)
        rows = read_report(report_dir / "COMPUTE_REPORT.csv")
    theirs = [(int(r["Total Cycles"]) - int(r["Stall Cycles"]), int(r["Stall Cycles"])) for r in rows]
    mine = [(r.compute_cycles, r.stall_cycles) for r in ours.layers]
    print(f"SCALE-Sim   {n_layers} ResNet-18 layer(s) {[ly.name for ly in picked]}: {wall:.2f} s wall "
          f"(interpreter start-up included)")
    print(f"            (compute, stall) SCALE-Sim {theirs}  hwmodel {mine}")
    print(f"hwmodel     same layers: {ours_s * 1e3:.3f} ms wall  ->  speedup {wall / ours_s:,.0f}x (wall)")
    if cpu is not None:
        print(f"            CPU time: SCALE-Sim {cpu:.2f} s, hwmodel {ours_cpu * 1e3:.3f} ms  ->  "
              f"speedup {cpu / max(ours_cpu, 1e-9):,.0f}x (CPU)")
    # SCALE-Sim's work is one loop iteration per demand line (compute cycle); stalls add none
    lines = sum(c for c, _ in theirs)
    per_line = wall / lines
    for name, (secs, compute, _) in cycle_results.items():
        print(f"extrapolated SCALE-Sim on {name}: {per_line * compute:,.0f} s ({1 / per_line:,.0f} demand lines/s "
              f"x {compute:,} lines) vs hwmodel {secs:.3f} s  ->  {per_line * compute / secs:,.0f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scalesim-layers", type=int, default=1)
    ap.add_argument("--no-scalesim", action="store_true")
    args = ap.parse_args(argv)
    cfg = hwmodel.preset("scale").replace(name="scale_user", bandwidth_mode="USER")
    print(f"config: {cfg.rows}x{cfg.cols} {cfg.dataflow.upper()}, SRAM {cfg.ifmap_sram_kb}/{cfg.filter_sram_kb}/"
          f"{cfg.ofmap_sram_kb} KiB, {cfg.dram_bw} words/cycle, {cfg.bandwidth_mode}")
    results = bench_cycle(cfg, args.repeat)
    bench_analytic(cfg, args.repeat)
    if args.no_scalesim:
        print("SCALE-Sim comparison skipped (--no-scalesim)")
    else:
        bench_scalesim(cfg, args.scalesim_layers, results, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
