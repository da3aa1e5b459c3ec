"""ResNet-50 (224x224, torchvision v1.5 geometry) on dpu-b4096 at 300 MHz vs AMD's model-zoo latency.

Prints per-stage cycles, the modelled DPU latency, the comparison with the published ZCU104 figure
(13.3 ms end to end, single thread) and the simulator's own speed (median of several runs, after a
warm-up whose result is checked against the closed form).

    python benchmarks/bench_hwmodel_dpu_resnet50.py [--repeat 5] [--dram-bpc 32] [--no-adds] [--sparse]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import hwmodel
from hwmodel.dpu.engine import estimate_cycles, estimate_layer, simulate_layer
from hwmodel.dpu.params import dpu_params
from hwmodel.workloads.layers import Layer, LayerKind, NMPattern
from hwmodel.workloads.nets import resnet50_layers

ZOO_E2E_MS = 13.3  # Vitis AI model zoo, ResNet-50 (resnet50_pt), ZCU104, single thread, end to end


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dram-bpc", type=int, default=32, help="DRAM bytes per DPU cycle")
    ap.add_argument("--no-adds", action="store_true", help="drop the residual adds (as if fused into conv3)")
    ap.add_argument("--sparse", action="store_true", help="also run N:M variants on dpu-b4096-sparse")
    args = ap.parse_args()
    dpu = dpu_params("dpu-b4096", dram_bytes_per_cycle=args.dram_bpc)
    layers = resnet50_layers(adds=not args.no_adds)
    reports = [simulate_layer(layer, dpu) for layer in layers]  # warm-up (compiles the kernel)
    assert all(r == estimate_layer(layer, dpu) for r, layer in zip(reports, layers, strict=True))
    total = sum(r.total_cycles for r in reports)
    assert total == sum(estimate_cycles(layer, dpu) for layer in layers)
    compute = sum(r.compute_cycles for r in reports)
    stall = sum(r.stall_cycles for r in reports)
    macs = sum(layer.macs for layer in layers)
    ms = total / (dpu.clock_mhz * 1e3)
    print(
        f"ResNet-50 224x224 on {dpu.name} ({dpu.pp}x{dpu.icp}x{dpu.ocp}) at {dpu.clock_mhz:g} MHz, "
        f"DRAM {dpu.dram_bytes_per_cycle} B/cycle, {len(layers)} layers, {macs / 1e9:.3f} GMAC"
    )
    stages: dict[str, list[int]] = {}
    for r in reports:
        key = r.name.split(".")[0]
        if r.kind == "add":
            key = "adds"
        acc = stages.setdefault(key, [0, 0, 0])
        acc[0] += r.compute_cycles
        acc[1] += r.stall_cycles
        acc[2] += r.macs
    print(f"{'stage':<10}{'compute':>12}{'stall':>10}{'ms':>8}{'util':>7}")
    for key, (c, s, m) in stages.items():
        util = m / (dpu.peak_macs_per_cycle * (c + s)) if c + s else 0.0
        print(f"{key:<10}{c:>12,}{s:>10,}{(c + s) / (dpu.clock_mhz * 1e3):>8.3f}{util:>7.1%}")
    ideal = macs / dpu.peak_macs_per_cycle / (dpu.clock_mhz * 1e3)
    print(
        f"total cycles {total:,} (compute {compute:,}, stall {stall:,}) -> DPU latency {ms:.3f} ms; "
        f"ideal at 100% MAC use {ideal:.3f} ms; utilization {macs / (dpu.peak_macs_per_cycle * total):.1%}"
    )
    print(
        f"model zoo ZCU104 end-to-end (single thread): {ZOO_E2E_MS} ms -> host share implied "
        f"{ZOO_E2E_MS - ms:.2f} ms ({(ZOO_E2E_MS - ms) / ZOO_E2E_MS:.0%})"
    )
    cfg = hwmodel.preset("dpu-b4096").replace(dpu=dpu)
    net = hwmodel.simulate(layers, cfg)
    assert net.total_cycles == total
    print(f"hwmodel.simulate(..., preset dpu-b4096): {net.latency_ms:.3f} ms, {net.fps:.1f} FPS")
    if args.sparse:
        scfg = hwmodel.preset("dpu-b4096-sparse").replace(dpu=dpu)
        for label, nm, act in (
            ("2:4", NMPattern(2, 4), 0.0),
            ("4:16", NMPattern(4, 16), 0.0),
            ("4:16 + act 2:4", NMPattern(4, 16), 0.5),
        ):
            sl = [
                x.with_(weight_nm=nm, act_sparsity=act)
                if x.kind in (LayerKind.CONV, LayerKind.GEMM) and x.name != "conv1"
                else x
                for x in layers
            ]
            rep = hwmodel.simulate(sl, scfg)
            print(
                f"sparse {label:<15} (all convs but conv1, and fc): {rep.latency_ms:.3f} ms "
                f"({ms / rep.latency_ms:.2f}x)"
            )
    for label, fn in (("cycle mode (numba)", simulate_layer), ("analytic", estimate_layer)):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for layer in layers:
                fn(layer, dpu)
            times.append(time.perf_counter() - t0)
        print(f"{label}: median {statistics.median(times) * 1e3:.2f} ms per network ({args.repeat} runs)")
    # the planner's cost: estimate_cycles on distinct layers (caches cleared between runs)
    from hwmodel.dpu import analytic, engine

    rng = random.Random(0)
    probe = [
        Layer.conv("p", h, h, rng.randint(1, 1024), rng.randint(1, 1024), k, padding=k // 2)
        for h, k in ((rng.choice([7, 14, 28, 56]), rng.choice([1, 3])) for _ in range(2000))
    ]
    times = []
    for _ in range(args.repeat):
        engine._plan_cached.cache_clear()
        analytic._cached.cache_clear()
        t0 = time.perf_counter()
        for layer in probe:
            estimate_cycles(layer, cfg)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for layer in probe:
        estimate_cycles(layer, cfg)
    cached = time.perf_counter() - t0
    print(
        f"estimate_cycles: median {statistics.median(times) / len(probe) * 1e6:.1f} us per new layer, "
        f"{cached / len(probe) * 1e6:.1f} us cached ({len(probe)} random convs)"
    )
    t0 = time.perf_counter()
    sum(range(1000))
    print(f"(machine speed reference: sum(range(1000)) took {(time.perf_counter() - t0) * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
