"""The modelled DPU against AMD's published DPUCZDX8G figures (Vitis AI model zoo), 12 ImageNet CNNs.

Regenerates ``reports/dpu_vs_model_zoo.md``:

    python benchmarks/bench_dpu_vs_model_zoo.py [--write]

Per model: AMD's single-thread end-to-end fps and multi-thread fps on ZCU104 (2x B4096 @ 300 MHz) and
ZCU102 (3x B4096 @ 281 MHz), the simulated DPU time (``hwprune.simulate`` path: trace, lower, analytic
mode, checked against cycle mode), the ratio sim / (e2e - host), the physical bound
DPU time <= min(e2e, cores / multi-thread fps), and the simulated multi-thread fps. Two global constants
are fitted on ZCU104 single-thread latencies of the models in the report's even rows only (2, 4, ...,
12; the odd rows are held out), with every model kept within its physical bound: ``host`` ms (the
CPU's pre- and post-processing per frame) and ``DpuParams.conv_stretch_pct`` (the conv engine's sustained fraction of its peak). Set by
hand and stated in the report: the DDR efficiency of the board DDR the cores share (the value that fits
the multi-thread fps is printed next to it) and the frames the host processes at once in multi-thread
runs.

The report ends with an ablation: the two constants refitted with one model mechanism changed at a
time (each fidelity switch off, a narrower DRAM port), the evidence for what each mechanism buys and for
where the remaining error is not explained by any of them.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import hwmodel
from hwmodel.atomic import atomic_write_text
from hwmodel.config import presets
from hwmodel.dpu.board import FRAME_OVERHEAD_MS, latency_ms, throughput_fps
from hwprune.frontend.trace import trace
from hwprune.lower.lower import lower

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_nets import build

# Xilinx/Vitis-AI, model_zoo/README.md as released with Vitis AI 2.5 (tables "Performance on ZCU102"
# and "Performance on ZCU104", columns "E2E throughput (fps) Single Thread" and "Multi Thread").
SOURCE = (
    "Xilinx/Vitis-AI, `model_zoo/README.md` at the `v2.5` release tag "
    '(https://github.com/Xilinx/Vitis-AI/blob/v2.5/model_zoo/README.md, sections "Performance on ZCU104" '
    'and "Performance on ZCU102"; the ZCU104 figures are repeated in UG1354 v2.5 "ZCU104 Evaluation '
    "Board\"). The tag's commit id could not be resolved offline: the stored copies of that file carry "
    "none except the newest (d5c1f216f87d8b2471ee578a6a87d302d945eee7, a stub that links the 3.0 "
    "spreadsheet), so the figures are quoted with the zoo's row names"
)
# name -> (zoo model name, ZCU104 (single, multi) fps, ZCU102 (single, multi) fps, zoo GOPs)
ZOO = {
    "resnet50": ("resnet50_pt", (83.56, 157.2), (77.58, 173.16), 8.2),
    "resnet18": ("chen_color_resnet18_pt", (217.68, 437.02), (204.70, 499.15), 3.63),
    "inception_v3": ("Inception_v3_pt", (63.53, 122.11), (59.83, 136.02), 11.4),
    "googlenet": ("Inception_v1_tf", (202.49, 412.79), (191.26, 470.88), 3.0),
    "mobilenet_v2_1.0": ("mobilenet_v2_1_0_224_tf", (284.18, 609.18), (268.07, 707.03), 0.602),
    "mobilenet_v2_1.4": ("mobilenet_v2_1_4_224_tf", (203.20, 413.59), (191.08, 473.15), 1.16),
    "vgg16": ("vgg_16_tf", (21.49, 37.10), (20.15, 40.94), 30.96),
    "vgg19": ("vgg_19_tf", (18.54, 32.69), (17.37, 36.47), 39.28),
    "squeezenet1_1": ("SqueezeNet_pt", (599.88, 1315.93), (575.41, 1499.60), 0.3517),
    "mobilenet_v1_1.0_224": ("mobilenet_v1_1_0_224_tf", (344.85, 783.96), (326.62, 951.00), 1.14),
    "mobilenet_v1_0.5_160": ("mobilenet_v1_0_5_160_tf", (950.02, 2614.83), (914.84, 3116.80), 0.150),
    "mobilenet_v1_0.25_128": ("mobilenet_v1_0_25_128_tf", (1375.03, 4263.73), (1332.90, 4754.20), 0.027),
}
# The same file's "Performance on Kria KV260 SOM" table ("1 * B4096F @ 300MHz": one core of the ZCU104's
# kind): name -> (single-thread fps, multi-thread fps). With one core, 1000 / multi-thread fps is the
# core's time per frame with the host's work overlapped by the other threads: a host-free measure.
KV260 = {
    "resnet50": (84.44, 87.96),
    "resnet18": (219.52, 239.61),
    "inception_v3": (64.03, 67.46),
    "googlenet": (205.17, 227.17),
    "mobilenet_v2_1.0": (290.62, 336.82),
    "mobilenet_v2_1.4": (206.04, 228.2),
    "vgg16": (21.50, 21.72),
    "vgg19": (18.55, 18.71),
    "squeezenet1_1": (619.72, 762.62),
    "mobilenet_v1_1.0_224": (354.19, 425.57),
    "mobilenet_v1_0.5_160": (1002.62, 1492.12),
    "mobilenet_v1_0.25_128": (1470.42, 2428.88),
}
# the KV260 core's time per frame, ms (D in the report)
KV260_FRAME_MS = {n: 1e3 / mt for n, (_, mt) in KV260.items()}
BOARD_NAMES = ("zcu104", "zcu102")
# frames the host pre/post-processes in parallel in the multi-thread runs (set by hand from the smallest
# model, whose multi-thread fps is host-bound on both boards: 2 / host ~ 4264 fps on ZCU104)
HOST_THREADS = 2
STRETCH_GRID = range(100, 141, 2)


def workloads(name: str) -> list[hwmodel.Layer]:
    model, x = build(name)
    return [lw.layer for lw in lower(trace(model, x))]


def board(name: str, ddr_eff: float, stretch: int) -> hwmodel.AcceleratorConfig:
    cfg = hwmodel.preset(name)
    ddr = int(presets.DDR_PEAK_BYTES_PER_S * ddr_eff / (cfg.clock_mhz * 1e6))
    return cfg.replace(dpu=cfg.dpu.with_(ddr_bytes_per_cycle=ddr, conv_stretch_pct=stretch))


def multi_fps(layers, cfg, host_ms: float) -> float:
    """Cores busy on different frames; the host's per-frame work spread over its CPUs."""
    return min(throughput_fps(layers, cfg), HOST_THREADS * 1e3 / host_ms)


def fit(
    nets: dict[str, list], rows: list[dict], names: list[str], base: hwmodel.AcceleratorConfig | None = None
) -> tuple[float, int]:
    """(host ms, conv stretch %) minimising mean |ln ratio| over ``names`` with no model over its bound."""
    base = base or hwmodel.preset("zcu104")
    best = (math.inf, 0.0, 100)
    for stretch in STRETCH_GRID:
        cfg = base.replace(dpu=base.dpu.with_(conv_stretch_pct=stretch))
        sim = {r["name"]: latency_ms(nets[r["name"]], cfg) for r in rows}
        if any(sim[r["name"]] > r["bound"] for r in rows):
            continue
        sel = [r for r in rows if r["name"] in names]
        for h in (i / 200 for i in range(200)):
            if any(r["e2e"] <= h for r in sel):
                break
            loss = sum(abs(math.log(sim[r["name"]] / (r["e2e"] - h))) for r in sel) / len(sel)
            best = min(best, (loss, h, stretch))
    if math.isinf(best[0]):
        raise ValueError("every conv stretch puts some model above its physical bound")
    return best[1], best[2]


def fit_ddr(nets: dict[str, list], names: list[str], host: float, stretch: int) -> float:
    """DDR efficiency minimising the squared log error of multi-thread fps over ``names``, both boards."""
    best = (math.inf, 0.5)
    for eff in [e / 100 for e in range(20, 101, 2)]:
        cfgs = {b: board(b, eff, stretch) for b in BOARD_NAMES}
        loss = sum(
            math.log(multi_fps(nets[n], cfgs[b], host) / ZOO[n][1 + i][1]) ** 2
            for n in names
            for i, b in enumerate(BOARD_NAMES)
        )
        best = min(best, (loss, eff))
    return best[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write reports/dpu_vs_model_zoo.md")
    args = ap.parse_args()
    names = list(ZOO)
    fit_names = names[1::2]
    nets = {n: workloads(n) for n in names}
    z104 = hwmodel.preset("zcu104")
    for n in names:  # the closed form (what the planner uses) equals the cycle model, net by net
        cycle = hwmodel.simulate(nets[n], z104, mode="cycle", name=n).total_cycles
        assert cycle == hwmodel.simulate(nets[n], z104, mode="analytic", name=n).total_cycles, n
        assert abs(cycle / (z104.clock_mhz * 1e3) - latency_ms(nets[n], z104)) < 1e-9, n
    rows = []
    for n in names:
        e2e = 1e3 / ZOO[n][1][0]
        # the most DPU time one frame can take: the ZCU104's latency, its two cores' time per frame, and
        # the KV260's one core's time per frame (the same core at the same clock)
        bound = min(e2e, z104.dpu.cores * 1e3 / ZOO[n][1][1], KV260_FRAME_MS[n])
        rows.append({"name": n, "e2e": e2e, "bound": bound})
    host, stretch = fit(nets, rows, fit_names)
    ablation = ablate(nets, rows, fit_names)
    ddr = presets.DDR_EFFICIENCY
    ddr_fit = fit_ddr(nets, fit_names, host, stretch)
    cfgs = {b: board(b, ddr, stretch) for b in BOARD_NAMES}
    for r in rows:
        r["sim"] = latency_ms(nets[r["name"]], cfgs["zcu104"])
    for r in rows:
        n = r["name"]
        r["ratio"] = r["sim"] / (r["e2e"] - host)
        r["ok"] = r["sim"] <= r["bound"]
        r["mt"] = [multi_fps(nets[n], cfgs[b], host) for b in BOARD_NAMES]
        r["mt_err"] = [r["mt"][i] / ZOO[n][1 + i][1] - 1 for i in range(2)]
    report = (
        render(rows, fit_names, host, stretch, ddr, ddr_fit, nets)
        + "\n".join(ablation)
        + "\n"
        + "\n".join(engine_check(nets, rows, host, cfgs["zcu104"]))
        + "\n"
        + "\n".join(kv260_check(rows, fit_names, host, stretch))
        + "\n"
        + "\n".join(mechanism_search(nets, fit_names, {r["name"]: r["bound"] for r in rows}))
        + "\n"
    )
    print(report)
    if args.write:
        path = Path(__file__).resolve().parent.parent / "reports" / "dpu_vs_model_zoo.md"
        atomic_write_text(path, report)
        print(f"wrote {path}")


# one mechanism changed at a time (DpuParams fields); the port widths are the single-core bandwidths
# PG338's I/O table implies (its highest measured B4096 peak, 6453 MB/s, is 21.5 B/cycle at 300 MHz)
ABLATIONS: dict[str, dict[str, object]] = {
    "as modelled": {},
    "no channel augmentation": {"channel_augmentation": False},
    "augmented input padded to ICP": {"augmented_input_packed": False},
    "no per-layer start-up/drain": {"layer_startup": False},
    "network input/outputs by size (on chip if small)": {"network_io_dram": False},
    "no conv+add fusion": {"fuse_eltwise": False},
    "no on-chip feature maps": {"onchip_fmap_kb": -1},
    "on-chip feature maps up to 512 KiB": {"onchip_fmap_kb": 512},
    "DRAM port 28 B/cycle": {"dram_bytes_per_cycle": 28},
    "DRAM port 24 B/cycle": {"dram_bytes_per_cycle": 24},
    "DRAM port 21 B/cycle": {"dram_bytes_per_cycle": 21},
    # candidates with no AMD source (off in the model): what they would buy
    "conv tile >= 4 cycles (candidate)": {"min_tile_cycles": 4},
    "conv tile >= 8 cycles (candidate)": {"min_tile_cycles": 8},
    # a third constant (the issue allows two): per-layer cycles, set here by hand, not fitted
    "per-layer overhead 1000 cycles (3rd constant)": {"layer_overhead": 1000},
    "per-layer overhead 2000 cycles (3rd constant)": {"layer_overhead": 2000},
    "tile >= 4 + overhead 2000 (3rd and 4th)": {"min_tile_cycles": 4, "layer_overhead": 2000},
}


def ablate(nets: dict[str, list], rows: list[dict], fit_names: list[str]) -> list[str]:
    """Report lines: per mechanism changed, the refitted constants and the errors (fit / held out / all 12)."""
    z104 = hwmodel.preset("zcu104")
    held = [r["name"] for r in rows if r["name"] not in fit_names]
    out = [
        "",
        "## Ablation: one mechanism changed, both constants refitted (same split, same bound check)",
        "",
        "Mean abs ln ratio per set; ratios in the order of the table above (1-12).",
        "",
        "| variant | host ms | stretch % | fit | held out | all 12 | above bound | ratios 1-12 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, change in ABLATIONS.items():
        base = z104.replace(dpu=z104.dpu.with_(**change))
        try:
            host, stretch = fit(nets, rows, fit_names, base)
        except ValueError:
            out.append(f"| {label} | - | - | - | - | - | some model at every stretch | |")
            continue
        cfg = base.replace(dpu=base.dpu.with_(conv_stretch_pct=stretch))
        ratio = {r["name"]: latency_ms(nets[r["name"]], cfg) / (r["e2e"] - host) for r in rows}
        over = [r["name"] for r in rows if latency_ms(nets[r["name"]], cfg) > r["bound"]]
        fit_err, held_err, all_err = (_mean_abs_ln(ratio, sel) for sel in (fit_names, held, list(ratio)))
        out.append(
            f"| {label} | {host:.2f} | {stretch} | {fit_err:.3f} | {held_err:.3f} | "
            f"{all_err:.3f} | {len(over)} | {' '.join(f'{ratio[n]:.2f}' for n in ratio)} |"
        )
    return out


def _engine_split(layers, cfg) -> tuple[float, float, float]:
    """(conv engine, ALU engine, everything else) ms of one frame: compute of each engine, and the
    DRAM stalls, start-up and fills together."""
    from hwmodel.dpu.analytic import analytic_totals
    from hwmodel.dpu.engine import estimate_cycles, layer_plan

    conv = alu = rest = 0
    for x in layers:
        plan = layer_plan(x, cfg)
        total = estimate_cycles(x, cfg)
        busy = analytic_totals(plan)["compute"] if plan.stepped else 0
        if plan.engine.value == "conv":
            conv += busy
        elif plan.engine.value == "alu":
            alu += busy
        rest += total - busy
    ms = cfg.dpu.clock_mhz * 1e3
    return conv / ms, alu / ms, rest / ms


def engine_check(nets, rows, host: float, cfg) -> list[str]:
    """Report lines: can the two engines' speeds alone reconcile MobileNetV1 1.0 and MobileNetV2 1.0?

    Both nets run at 224x224 on the same engines (MobileNetV2: 0.30 G MACs, MobileNetV1: 0.57 G), yet
    AMD's figures put MobileNetV2 0.6 ms above MobileNetV1. For each net, the factor x on the ALU
    engine's time (depthwise) that makes its simulated time equal the DPU time the zoo implies
    (e2e - host), the stalls kept as modelled, with the conv engine anywhere between its peak (factor
    100 / stretch) and its modelled speed (factor 1): if the two nets' ranges of x do not overlap, no
    speed of either engine explains both.
    """
    e2e = {r["name"]: r["e2e"] for r in rows}
    peak = 100 / cfg.dpu.conv_stretch_pct
    out = [
        "",
        "## Can engine speeds alone explain MobileNetV2? (same input, same engines)",
        "",
        "ALU factor x = the ALU engine's time (depthwise) must be multiplied by x for the simulated time to "
        "equal the DPU time the zoo implies, with the conv engine at its peak (factor "
        f"{peak:.2f} of the modelled time) or as modelled (1.00), stalls as modelled. Both nets take a "
        "224x224 image through the same TF classification pipeline, so they share the host time.",
        "",
        "| net | conv engine ms | ALU engine ms | stalls, start-up, fills ms | zoo-implied DPU ms (e2e - host) "
        "| x, conv at peak | x, conv as modelled |",
        "|---|---|---|---|---|---|---|",
    ]
    ranges = []
    for n in ("mobilenet_v1_1.0_224", "mobilenet_v2_1.0"):
        conv, alu, rest = _engine_split(nets[n], cfg)
        need = e2e[n] - host
        xs = [(need - rest - y * conv) / alu for y in (peak, 1.0)]
        ranges.append((min(xs), max(xs)))
        out.append(f"| {n} | {conv:.3f} | {alu:.3f} | {rest:.3f} | {need:.3f} | {xs[0]:.2f} | {xs[1]:.2f} |")
    (lo1, hi1), (lo2, hi2) = ranges
    overlap = max(lo1, lo2) <= min(hi1, hi2)
    out += [
        "",
        (
            "The ranges overlap: one ALU speed could explain both nets."
            if overlap
            else f"The ranges do not overlap ({lo1:.2f}-{hi1:.2f} vs {lo2:.2f}-{hi2:.2f}): no single speed of "
            "the depthwise (ALU) engine, with the conv engine anywhere between its peak and its modelled "
            "speed, explains both nets. What makes MobileNetV2 slow on the DPU scales with something "
            "MobileNetV1 lacks (its 6x expanded tensors moving through DDR, 10 residual blocks, 64 layers "
            "against 29): per-layer timings (`vaitrace`) of the two nets would tell which."
        ),
    ]
    return out


def _mean_abs_ln(ratio: dict[str, float], sel) -> float:
    """Mean abs ln of ``ratio`` over the names in ``sel``: the report's error measure."""
    return sum(abs(math.log(ratio[n])) for n in sel) / len(sel)


def kv260_check(rows, fit_names, host: float, stretch: int) -> list[str]:
    """Report lines: the simulated core against the KV260's one core, where no host constant is needed.

    On a one-core board the multi-thread run keeps the core busy while other threads do the host's work,
    so D = 1000 / multi-thread fps is the core's time per frame (the DPU's work plus whatever the runtime
    costs it per frame), and H = 1000 / single-thread fps - D is the host's time, measured per model.
    Shows (1) sim / D with no constant at all, (2) (sim + c) / D with one per-frame constant c fitted on
    the fit rows (a runtime cost per frame: job submission, cache maintenance, the completion interrupt),
    (3) the main fit's implied DPU time (ZCU104 e2e - the fitted host) against D, and H against the fitted host.
    """
    e2e = {r["name"]: r["e2e"] for r in rows}
    d = KV260_FRAME_MS
    h = {n: 1e3 / KV260[n][0] - d[n] for n in KV260}
    # the rows' one-core ZCU104 time: the KV260's core is the same B4096 at the same clock and stretch
    sim = {r["name"]: r["sim"] for r in rows}
    held = [n for n in KV260 if n not in fit_names]
    err = _mean_abs_ln
    cs = [i / 1000 for i in range(0, 501)]
    c = min(cs, key=lambda c: err({n: (sim[n] + c) / d[n] for n in fit_names}, fit_names))
    plain = {n: sim[n] / d[n] for n in KV260}
    with_c = {n: (sim[n] + c) / d[n] for n in KV260}
    main = {n: (e2e[n] - host) / d[n] for n in KV260}
    out = [
        "",
        "## Host-free check: the KV260's one core",
        "",
        'Source: the same zoo README, section "Performance on Kria KV260 SOM" (`1 * B4096F @ 300MHz`, the '
        "ZCU104's core). With one core, the multi-thread run keeps it busy while other threads do the host's "
        "work, so D = 1000 / multi-thread fps is the core's time per frame, measured with no host in it, and "
        "H = 1000 / single-thread fps - D is the host's time, measured per model. `sim` = the same simulation "
        f"as above (`kv260` preset, stretch {stretch} %). c = one per-frame runtime cost of the core (job "
        "submission, cache maintenance, the completion interrupt), fitted on the fit rows only; it is not "
        "part of the model (pruning cannot change it).",
        "",
        "| # | model | set | KV260 fps ST / MT | host H ms | D ms | sim ms | sim / D | (sim + c) / D "
        "| main fit's DPU time (ZCU104 e2e - host) / D |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, n in enumerate(KV260, 1):
        out.append(
            f"| {i} | {n} | {'fit' if n in fit_names else 'held out'} | {KV260[n][0]:g} / {KV260[n][1]:g} "
            f"| {h[n]:.3f} | {d[n]:.3f} | {sim[n]:.3f} | {plain[n]:.3f} | {with_c[n]:.3f} | {main[n]:.3f} |"
        )
    every = list(KV260)
    out += [
        "",
        f"c = **{c * 1e3:.0f} us** per frame (`hwmodel.dpu.board.FRAME_OVERHEAD_MS` = {FRAME_OVERHEAD_MS * 1e3:.0f} us, "
        f"shown beside planned latencies{'' if abs(c - FRAME_OVERHEAD_MS) < 5e-4 else ': DIFFERENT, update it'}).",
        "",
        "| mean abs ln ratio | fit | held out | all 12 |",
        "|---|---|---|---|",
        f"| sim / D (no constant) | {err(plain, fit_names):.3f} | {err(plain, held):.3f} | {err(plain, every):.3f} |",
        f"| (sim + c) / D | {err(with_c, fit_names):.3f} | {err(with_c, held):.3f} | {err(with_c, every):.3f} |",
        f"| main fit (ZCU104 e2e - host) / D | {err(main, fit_names):.3f} | {err(main, held):.3f} "
        f"| {err(main, every):.3f} |",
        "",
        f"Measured host H: {min(h.values()):.2f}-{max(h.values()):.2f} ms (the main fit's one host constant: "
        f"{host:.3f} ms). Simulated DPU time above the core's measured time per frame (sim > D, physically "
        f"impossible): {', '.join(n for n in KV260 if sim[n] > d[n]) or 'none'}.",
        "",
        "What this shows: the host is not one constant (it grows with the input: "
        + ", ".join(
            f"{h[n]:.2f} ms for {n}"
            for n in ("mobilenet_v1_0.25_128", "mobilenet_v1_0.5_160", "resnet50", "inception_v3")
        )
        + "), so the main fit's single host constant absorbs part of the DPU error of the small nets. "
        "Against the host-free D, with no constant, the model is too fast on "
        + ", ".join(f"{n} ({plain[n]:.2f})" for n in KV260 if plain[n] < 0.9)
        + f". The per-frame cost c explains the smallest net ({with_c['mobilenet_v1_0.25_128']:.2f} with c) but "
        f"not MobileNetV2 ({with_c['mobilenet_v2_1.0']:.2f} with c: "
        f"{d['mobilenet_v2_1.0'] - sim['mobilenet_v2_1.0'] - c:.2f} ms of its core time unexplained), and with c "
        f"MobileNetV1 1.0 and 0.5 turn too slow ({with_c['mobilenet_v1_1.0_224']:.2f}, "
        f"{with_c['mobilenet_v1_0.5_160']:.2f}). The residual is the one the engine check above isolates: "
        "something MobileNetV2 has and MobileNetV1 lacks costs the DPU time the model does not see.",
    ]
    return out


# discrete mechanism settings searched against the KV260's host-free times (DpuParams fields)
SEARCH_GRID = {
    "alu_pp": (4, 8),  # ALU pixel lanes: PP/2 (our reading of ALU_PARALLEL_DEFAULT) or PP
    "dram_bytes_per_cycle": (32, 28, 24, 20),  # the two 128-bit AXI ports, or less sustained
    "onchip_fmap_kb": (0, 256),  # feature maps kept on chip: up to 128 KiB (default) or 256 KiB
}
OVERHEAD_GRID = range(0, 5001, 500)  # cycles per layer (DpuParams.layer_overhead)
SEARCH_STRETCH = range(100, 121, 2)


def _resnet20_floor(dpu_changes: dict) -> tuple[int, int]:
    """(floor, unpruned) cycles of the CIFAR ResNet-20 on dpu-b4096 with ``dpu_changes``: the planner's
    smallest reachable latency, read from its budget error."""
    import re

    import torch

    import hwprune
    from hwprune.errors import BudgetError

    cfg = hwmodel.preset("dpu-b4096")
    cfg = cfg.replace(dpu=cfg.dpu.with_(**dpu_changes))
    torch.manual_seed(0)
    model = hwprune.models.get("resnet20", num_classes=10).eval()
    unpruned = hwprune.simulate(model, torch.zeros(1, 3, 32, 32), hw=cfg).total_cycles
    try:
        hwprune.plan(model, torch.zeros(1, 3, 32, 32), hw=cfg, budget=0.01)
    except BudgetError as e:
        m = re.search(r"smallest reachable latency of this model on \S+: (\d+) cycles", str(e))
        if m:
            return int(m.group(1)), unpruned
    raise AssertionError("a 0.01 budget was met: no floor to read")


def mechanism_search(nets, fit_names, bound: dict[str, float]) -> list[str]:
    """Report lines: which settings of the model's existing switches reproduce the KV260's host-free times.

    Every combination of ``SEARCH_GRID`` (16), each with two constants fitted on the fit rows only (the
    conv stretch and a per-layer overhead, no host, no per-frame cost), ranked by the fit rows' mean
    abs ln(sim / D); the held-out rows are reported, never used. The discrete settings are chosen by the
    same ranking, so they are fitted too: the held-out error is the honest figure.
    """
    import itertools

    base = hwmodel.preset("kv260")
    d = KV260_FRAME_MS
    held = [n for n in KV260 if n not in fit_names]
    err = _mean_abs_ln
    results, frame_results, bounded_results = [], [], []
    keys = list(SEARCH_GRID)

    def keep(best: dict, kind: str, ratio: dict[str, float], stretch: int, ovh: int, frame: float) -> None:
        """Record a candidate as ``best[kind]`` when the fit rows' error is the lowest so far."""
        loss = err(ratio, fit_names)
        if kind not in best or loss < best[kind][0]:
            best[kind] = (loss, stretch, ovh, ratio, frame)

    for values in itertools.product(*SEARCH_GRID.values()):
        change = dict(zip(keys, values, strict=True))
        best: dict[str, tuple] = {}
        for stretch in SEARCH_STRETCH:
            for ovh in OVERHEAD_GRID:
                cfg = base.replace(dpu=base.dpu.with_(conv_stretch_pct=stretch, layer_overhead=ovh, **change))
                sim = {n: latency_ms(nets[n], cfg) for n in KV260}
                plain = {n: sim[n] / d[n] for n in KV260}
                keep(best, "layer", plain, stretch, ovh, 0.0)  # a per-layer overhead
                if all(sim[n] <= bound[n] for n in KV260):  # the main table's physical bound
                    keep(best, "bounded", plain, stretch, ovh, 0.0)
                if ovh == 0:  # no per-layer overhead, a per-frame cost instead: the alternative explanation
                    for frame in (i / 100 for i in range(0, 41)):
                        keep(best, "frame", {n: (sim[n] + frame) / d[n] for n in KV260}, stretch, ovh, frame)
        results.append((best["layer"], change))
        if "bounded" in best:
            bounded_results.append((best["bounded"], change))
        frame_results.append((best["frame"], change))
    results.sort(key=lambda t: t[0][0])
    frame_results.sort(key=lambda t: t[0][0])
    bounded_results.sort(key=lambda t: t[0][0])
    out = [
        "",
        "## Which settings of the model's switches reproduce the one-core times? (exploratory)",
        "",
        "Target: the KV260's D = 1000 / multi-thread fps (no host). Searched: "
        + "; ".join(f"`{k}` in {list(v)}" for k, v in SEARCH_GRID.items())
        + f"; per combination two constants fitted on the fit rows: conv stretch {SEARCH_STRETCH.start}-"
        f"{SEARCH_STRETCH.stop - 1} % and a per-layer overhead (`layer_overhead`) 0-{OVERHEAD_GRID.stop - 1} "
        "cycles; no host, no per-frame cost. Ranked by the fit rows; the held-out rows never choose anything. "
        "The discrete settings are chosen by that ranking too, so they are fitted: read the held-out column.",
        "",
        "| rank | settings | stretch % | overhead cycles/layer | fit | held out | all 12 | above D | ratios 1-12 "
        "| ResNet-20 floor on dpu-b4096 (cycles, fraction) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, ((loss, stretch, ovh, ratio, _), change) in enumerate(results[:5], 1):
        floor, unpruned = _resnet20_floor({**change, "conv_stretch_pct": stretch, "layer_overhead": ovh})
        out.append(
            f"| {rank} | {', '.join(f'{k} {v}' for k, v in change.items())} | {stretch} | {ovh} | {loss:.3f} "
            f"| {err(ratio, held):.3f} | {err(ratio, list(KV260)):.3f} | {sum(r > 1 for r in ratio.values())} "
            f"| {' '.join(f'{ratio[n]:.2f}' for n in KV260)} | {floor} of {unpruned} ({floor / unpruned:.3f}) |"
        )
    defaults = hwmodel.preset("dpu-b4096").dpu
    floor, unpruned = _resnet20_floor({})
    (loss, stretch, ovh, ratio, _), change = results[0]
    (f_loss, f_stretch, _, f_ratio, frame), f_change = frame_results[0]
    (b_loss, b_stretch, b_ovh, b_ratio, _), b_change = bounded_results[0]
    out += [
        "",
        "Rank 1 puts some nets above the main table's bound (min(ZCU104 e2e, 2 / its multi-thread fps, D)): "
        + ", ".join(f"{n} ({ratio[n]:.2f} of D)" for n in KV260 if ratio[n] * d[n] > bound[n])
        + f". The best setting with every net within that bound: {', '.join(f'{k} {v}' for k, v in b_change.items())}, "
        f"stretch {b_stretch} %, {b_ovh} cycles per layer: fit {b_loss:.3f}, held out {err(b_ratio, held):.3f}, "
        f"all 12 {err(b_ratio, list(KV260)):.3f}; ratios {' '.join(f'{b_ratio[n]:.2f}' for n in KV260)}. "
        "MobileNetV1 1.0 is the net that binds: with the others right it is too slow, so the bound and the "
        "error goal cannot both be met by these switches.",
    ]
    out += [
        "",
        f"The alternative, a per-frame cost instead of the per-layer one (0-400 us, same search): best "
        f"{', '.join(f'{k} {v}' for k, v in f_change.items())}, stretch {f_stretch} %, {frame * 1e3:.0f} us a "
        f"frame: fit {f_loss:.3f}, held out {err(f_ratio, held):.3f}, all 12 {err(f_ratio, list(KV260)):.3f}; "
        f"ratios {' '.join(f'{f_ratio[n]:.2f}' for n in KV260)}.",
        "",
        f"Defaults, for comparison: {', '.join(f'{k} {getattr(defaults, k)}' for k in SEARCH_GRID)}, stretch "
        f"{defaults.conv_stretch_pct} %, no overhead: ResNet-20 floor {floor} of {unpruned} cycles "
        f"({floor / unpruned:.3f}).",
        "",
        "Reading: the best settings bring the host-free error under 0.05 on the held-out nets "
        f"({err(ratio, held):.3f}) with the conv engine near its peak (stretch {stretch} %), a DRAM port "
        f"of {change['dram_bytes_per_cycle']} B/cycle and ~{ovh} cycles ({ovh / 300:.0f} us) per layer. "
        "The per-layer cost is what makes tiny and many-layer nets slow (MobileNetV1 0.25/128, MobileNetV2's "
        "64 layers against MobileNetV1's 29), the narrower port what makes MobileNetV2's expanded tensors "
        "slow. What public sources say about each: 256 KiB on chip is one of the B4096's two image bank "
        "groups (8 banks x 16 B x 2048 each in Vitis AI's target description, "
        "`src/vai_runtime/target_factory/targets/DPUCZDX8G_ISA1_B4096.prototxt`); the same file gives the ALU "
        "(depthwise) and elementwise engines 4 pixels x 16 channels, so `alu_pp 8` is not AMD's setting, though "
        "an ALU doing two taps a cycle on double-pumped DSPs (PG338: the DSPs run at twice the DPU clock) "
        "would be as fast; a public per-node DNNDK profile of a MobileNetV2-style net on a ZCU102 B4096 at "
        '300 MHz (zzzDavid/OFA-FPGA, README.md at 0cfcea9, "Latency Profiling Result", debug mode) shows '
        "8-16 us of fixed cost per node and a 1000-way FC bound at ~5.3 GB/s (17.6 B/cycle), the same order "
        "as the fitted overhead and port. They are not the defaults: (1) the port and the overhead are fitted, "
        "and a per-frame runtime cost also explains the smallest net, only less well on the others (above); "
        "only per-layer timings of a current board (`vaitrace`) can tell the two apart; (2) rank 1 breaks the "
        "physical bound on MobileNetV1; (3) a per-layer cost no pruning can remove would move ResNet-20's "
        f"floor from {floor / unpruned:.2f} to the last column's value: budgets of whole-frame latency would "
        "then mostly be out of reach on 32x32 inputs, which is itself the hardware-aware answer if the cost "
        "is real. Deciding that needs the board data.",
    ]
    return out


def _stats(rows, names) -> tuple[float, float]:
    sel = [r for r in rows if r["name"] in names]
    return (
        sum(abs(math.log(r["ratio"])) for r in sel) / len(sel),
        max(abs(e) for r in sel for e in r["mt_err"]),
    )


def render(rows, fit_names, host, stretch, ddr, ddr_fit, nets) -> str:
    z = hwmodel.preset("zcu104").dpu
    out = [
        "# The modelled DPU vs AMD's published DPUCZDX8G figures (Vitis AI model zoo)",
        "",
        "Regenerate: `python benchmarks/bench_dpu_vs_model_zoo.py --write` (traces each net, lowers it with "
        "`hwprune.lower`, simulates on the `zcu104` / `zcu102` presets).",
        "",
        f"Source of AMD's figures: {SOURCE}.",
        "",
        "Columns: AMD's ZCU104 single-thread end-to-end latency (1 / fps; it includes the A53 host's "
        "pre/post-processing) and multi-thread fps (both cores); `sim` = simulated DPU time of one frame on "
        "one B4096 core at 300 MHz; ratio = sim / (e2e - host); bound = min(e2e, 2 / multi-thread fps, "
        "1 / the KV260's multi-thread fps (one core, see the host-free check below)), the most DPU time one "
        "frame can physically take; sim MT = simulated multi-thread fps "
        "(= min(cores / DPU time with the board DDR shared, 4 CPUs / host)).",
        "",
        f"Fitted global constants (on the **fit** rows only, ZCU104 single-thread latencies, every model "
        f"kept within its bound): host = **{host:.3f} ms** per frame; conv engine stretch = **{stretch} %** "
        f"of the ideal tile cycles (`DpuParams.conv_stretch_pct`, default {z.conv_stretch_pct}"
        f"{'' if z.conv_stretch_pct == stretch else ': DIFFERENT, update it'}). "
        f"Set by hand, not fitted: the cores share {ddr:.2f} of the 19.2 GB/s DDR4 peak "
        f"(`hwmodel.config.presets.DDR_EFFICIENCY`; fitting it to the fit rows' multi-thread fps would give "
        f"{ddr_fit:.2f}); the host pre/post-processes {HOST_THREADS} frames at once in the multi-thread runs "
        f"(read off the smallest model, host-bound on both boards).",
        "",
        "| # | model | zoo row | zoo GOPs / ours | set | e2e ms | sim ms | ratio | bound ms | sim <= bound "
        "| ZCU104 MT fps zoo / sim | ZCU102 MT fps zoo / sim |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        n = r["name"]
        ours = 2 * sum(x.macs for x in nets[n]) / 1e9
        out.append(
            f"| {i} | {n} | {ZOO[n][0]} | {ZOO[n][3]:g} / {ours:.3g} | {'fit' if n in fit_names else 'held out'} "
            f"| {r['e2e']:.2f} | {r['sim']:.2f} | {r['ratio']:.3f} | {r['bound']:.2f} | {'yes' if r['ok'] else '**NO**'} "
            f"| {ZOO[n][1][1]:.0f} / {r['mt'][0]:.0f} ({r['mt_err'][0]:+.0%}) "
            f"| {ZOO[n][2][1]:.0f} / {r['mt'][1]:.0f} ({r['mt_err'][1]:+.0%}) |"
        )
    held = [r["name"] for r in rows if r["name"] not in fit_names]
    every = [r["name"] for r in rows]
    lines = []
    for label, sel in (("fit", fit_names), ("held out", held), ("all 12", every)):
        m, e = _stats(rows, sel)
        lines.append(f"| {label} | {m:.3f} | {e:.0%} |")
    out += [
        "",
        "| set | mean abs ln ratio | worst multi-thread fps error (both boards) |",
        "|---|---|---|",
        *lines,
        "",
        f"Models above their bound: {sum(not r['ok'] for r in rows)} of {len(rows)}.",
        "",
        "## DPU model settings (defaults of `hwmodel.dpu.params.DpuParams`, sources there)",
        "",
        f"B4096 = PP {z.pp} x ICP {z.icp} x OCP {z.ocp}; DRAM port {z.dram_bytes_per_cycle} B/cycle; "
        f"channel augmentation {z.channel_augmentation} (its input loaded unpadded: "
        f"{z.augmented_input_packed}); per-layer start-up/drain {z.layer_startup}; network input and "
        f"outputs through DDR whatever their size {z.network_io_dram}; "
        f"FC weight stream {z.fc_bw} B/cycle; conv+add fusion (ELEW) {z.fuse_eltwise}; feature maps up to "
        f"{z.onchip_fmap_bytes // 1024} KiB stay on chip; conv+BN+ReLU always fused; ops the DPU cannot run "
        f"at {z.cpu_elems_per_us:g} elements/us on the host (none in these 12 nets).",
        "",
        "Off by more than 10% (|ln ratio| > 0.1): "
        + (
            ", ".join(f"{r['name']} ({r['ratio']:.2f})" for r in rows if abs(math.log(r["ratio"])) > 0.1)
            or "none"
        )
        + "; multi-thread fps off by more than 15%: "
        + (
            ", ".join(
                f"{r['name']} {b} ({r['mt_err'][i]:+.0%})"
                for r in rows
                for i, b in enumerate(BOARD_NAMES)
                if abs(r["mt_err"][i]) > 0.15
            )
            or "none"
        )
        + ".",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    main()
