"""Planner vs baselines at equal simulated latency (issue #4): writes reports/planner_vs_baselines.md.

Methods, each meeting the same latency budget on the same simulated hardware, then the same fine-tune:
  uniform-l1   the same channel ratio in every group, L1 importance (what Torch-Pruning does); the
               smallest ratio whose slim model meets the budget (bisection on simulated latency);
  vitis-mac    Vitis AI's MAC-targeted sensitivity pruning: ``ana`` on held-out training data, then
               ``prune(removal_ratio=r)`` with the smallest MAC reduction r whose model meets the budget;
  hw-channel   hwprune.plan(nm=False);
  hw-nm        hwprune.plan(nm=True): channels and N:M patterns jointly.

Usage: python benchmarks/bench_planner_vs_baselines.py [--quick] [--nets digits_cnn,resnet20]
       python benchmarks/bench_planner_vs_baselines.py --data fashion-mnist --train-subset 6000 \
           --nets resnet20 --hw dpu-b4096 --hw-sparse dpu-b4096-sparse
Results are appended to reports/planner_vs_baselines[_fashion-mnist].json as they come (a rerun
resumes); channel-only methods run on ``--hw``, hw-nm on ``--hw-sparse`` (default: ``--hw``), each
budget a fraction of the unpruned latency on that method's hardware.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import hwprune
from hwprune.io import atomic_write_text, write_json
from hwprune.train.datasets import resolve_data
from hwprune.train.loop import evaluate, train
from hwprune.transforms.nm import bake

ROOT = Path(__file__).resolve().parents[1]
OUT_MD = ROOT / "reports" / "planner_vs_baselines.md"
OUT_JSON = ROOT / "reports" / "planner_vs_baselines.json"
OUT_PNG = ROOT / "reports" / "planner_vs_baselines.png"
METHODS = ("uniform-l1", "vitis-mac", "hw-channel", "hw-nm")


def _bisect(make, fits, lo: float, hi: float, steps: int = 12):
    """Smallest x in [lo, hi] with fits(make(x)); returns (x, made)."""
    best = make(hi)
    if not fits(best):
        return None, None
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        m = make(mid)
        if fits(m):
            hi, best = mid, m
        else:
            lo = mid
    return hi, best


def _accuracy(model, data) -> float:
    return evaluate(model, data)


def _slim_for(method: str, model, x, runner, hw: str, budget: float, target: int):
    """The pruned model ``method`` makes for the budget, or None when it cannot reach it."""

    def fits(m) -> bool:
        return m is not None and hwprune.simulate(m, x, hw=hw).total_cycles <= target

    if method == "uniform-l1":
        return _bisect(lambda r: hwprune.prune(model, x, ratio=r, importance="l1"), fits, 0.0, 0.95)[1]
    if method == "vitis-mac":
        def by_macs(r):
            try:
                return runner.prune(removal_ratio=r, mode="slim", channel_divisible=1)
            except hwprune.errors.BudgetError:
                return None
        return _bisect(by_macs, fits, 0.0, 0.95)[1]
    try:
        plan = hwprune.plan(model, x, hw=hw, budget=budget, nm=method == "hw-nm")
    except hwprune.errors.BudgetError as e:
        print(f"  {method} @ {budget}: {e}", flush=True)
        return None
    return hwprune.apply(model, x, plan)


def _subset(loader, n_batches: int):
    out = []
    for i, b in enumerate(loader):
        if i >= n_batches:
            break
        out.append(b)
    return out


def _hw_for(method: str, args) -> str:
    return args.hw_sparse if method == "hw-nm" else args.hw


def _load(args, seed: int):
    b = resolve_data(args.data, batch_size=args.batch_size, size=32, channels=1, seed=seed,
                     subset=args.train_subset)
    return b.train_loader, b.val_loader


def run(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    results = json.loads(OUT_JSON.read_text()) if OUT_JSON.is_file() and not args.fresh else []
    done = {(r["net"], r["seed"], r["budget"], r["method"]) for r in results}
    for net in args.nets:
        for seed in args.seeds:
            torch.manual_seed(seed)
            model = hwprune.models.get(net, num_classes=10, in_channels=1)
            train_loader, test_loader = _load(args, seed)
            x = next(iter(test_loader))[0][:1]
            t = time.time()
            train(model, train_loader, args.base_epochs, lr=0.05, seed=seed, progress=False)
            model.eval()
            base_acc = evaluate(model, test_loader)
            base_seconds = round(time.time() - t, 1)
            print(f"{net} seed {seed}: baseline {base_acc:.4f} ({base_seconds}s)", flush=True)
            fulls = {h: hwprune.simulate(model, x, hw=h).total_cycles for h in {args.hw, args.hw_sparse}}
            held_out = _subset(train_loader, 4)  # sensitivity on training data, never the test split
            runner = hwprune.get_pruning_runner(model, x, "iterative", hw=args.hw, name=f"{net}-s{seed}",
                                                workdir=tempfile.mkdtemp(prefix="hwprune-bench-"),
                                                backend="serial", progress=False)
            sens_ready = False
            for budget in args.budgets:
                for method in METHODS:
                    if (net, seed, budget, method) in done:
                        continue
                    hw = _hw_for(method, args)
                    full = fulls[hw]
                    target = int(budget * full)
                    t = time.time()
                    if method == "vitis-mac" and not sens_ready:
                        runner.ana(_accuracy, args=(held_out,))
                        sens_ready = True
                    slim = _slim_for(method, model, x, runner, hw, budget, target)
                    if slim is None:
                        results.append({"net": net, "seed": seed, "budget": budget, "method": method,
                                        "reachable": False})
                        write_json(OUT_JSON, results)
                        continue
                    pre = evaluate(slim, test_loader)
                    train(slim, train_loader, args.ft_epochs, lr=0.02, seed=seed, progress=False)
                    slim.eval()
                    acc = evaluate(slim, test_loader)
                    rep = hwprune.simulate(slim, x, hw=hw)
                    layers = [ly for ly in rep.layers if ly.kind in ("conv", "gemm", "depthwise")]
                    nonzero = sum(int(p.detach().ne(0).sum()) for p in bake(slim).parameters())
                    row = {"net": net, "seed": seed, "budget": budget, "method": method, "reachable": True,
                           "cycles": rep.total_cycles, "full_cycles": full, "latency_ms": rep.latency_ms,
                           "macs": sum(ly.macs for ly in layers), "params_nonzero": nonzero,
                           "acc_before_ft": pre, "acc": acc, "baseline_acc": base_acc, "hw": hw,
                           "data": args.data, "train_images": len(train_loader.dataset),
                           "test_images": len(test_loader.dataset), "baseline_seconds": base_seconds,
                           "seconds": round(time.time() - t, 1)}
                    results.append(row)
                    write_json(OUT_JSON, results)
                    print(f"  {method:10s} @ {budget}: {rep.total_cycles / full:.3f} of full, acc {pre:.3f} -> "
                          f"{acc:.4f} ({row['seconds']}s)", flush=True)
    return results


def _agg(rows, key):
    vals = [r[key] for r in rows]
    return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _pooled_std_lines(rows: list[dict]) -> list[str]:
    """Best hwprune method against each baseline per budget, in units of the pooled std over seeds."""
    out = ["Best hwprune method vs each baseline (difference in mean accuracy / pooled std; n = seeds):", ""]
    for budget in sorted({r["budget"] for r in rows}):
        accs = {m: [r["acc"] for r in rows if r["budget"] == budget and r["method"] == m and r.get("reachable")]
                for m in METHODS}
        ours = {m: a for m, a in accs.items() if m.startswith("hw-") and a}
        if not ours:
            continue
        best = max(ours, key=lambda m: statistics.mean(ours[m]))
        parts = []
        for m in METHODS:
            if m.startswith("hw-") or not accs[m]:
                continue
            diff = statistics.mean(ours[best]) - statistics.mean(accs[m])
            if min(len(ours[best]), len(accs[m])) < 2:
                parts.append(f"{m}: {diff:+.4f} (one seed: no std)")
                continue
            pooled = ((statistics.variance(ours[best]) + statistics.variance(accs[m])) / 2) ** 0.5
            parts.append(f"{m}: {diff:+.4f} = {diff / pooled:+.1f} std" if pooled > 0 else f"{m}: {diff:+.4f}")
        out.append(f"- {budget}: {best} vs " + "; ".join(parts))
    return [*out, ""]


def write_report(results: list[dict], args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = sorted({r["net"] for r in results})
    reached = [r for r in results if r.get("reachable")]
    n_train = reached[0].get("train_images", "?") if reached else "?"
    n_test = reached[0].get("test_images", "?") if reached else "?"
    data = ("scikit-learn digits at 32x32, 1 channel" if args.data == "digits" else
            f"Fashion-MNIST padded to 32x32, 1 channel, training on {n_train} images "
            f"({'a stratified subset' if args.train_subset else 'all'}), test on all {n_test}")
    seeds_seen = sorted({r["seed"] for r in results})
    hw_text = f"`{args.hw}`" + (f" (hw-nm on `{args.hw_sparse}`)" if args.hw_sparse != args.hw else "")
    lines = [
        "# Planner vs baselines at equal simulated latency",
        "",
        f"Hardware: {hw_text} (simulated, cycle mode, per image). Data: {data}. Each (net, seed): one "
        f"baseline trained {args.base_epochs} epochs; every method then meets the same latency budget and "
        f"gets the same fine-tune ({args.ft_epochs} epochs, SGD lr 0.02, cosine). Accuracy on the test split "
        f"({n_test} images), mean ± std over seeds {seeds_seen}. "
        f"Regenerate: `{args.command}`.",
        "",
        "Methods: **uniform-l1** (same ratio in every group, L1; Torch-Pruning's default), **vitis-mac** "
        "(Vitis AI: sensitivity analysis, then the MAC reduction that meets the budget), **hw-channel** "
        "(hwprune plan, channels only), **hw-nm** (hwprune plan, channels + N:M).",
        "",
    ]
    fig, axes = plt.subplots(1, len(nets), figsize=(5.5 * len(nets), 4), squeeze=False)
    for ax, net in zip(axes[0], nets, strict=True):
        rows = [r for r in results if r["net"] == net]
        base = _agg([r for r in rows if r.get("reachable")], "baseline_acc") if rows else (0, 0)
        lines += [f"## {net} (baseline accuracy {base[0]:.4f} ± {base[1]:.4f})", "",
                  "| budget | method | latency (of unpruned) | latency (ms) | MACs | nonzero params | "
                  "acc before FT | accuracy |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
        for budget in sorted({r["budget"] for r in rows}):
            for method in METHODS:
                sel = [r for r in rows if r["budget"] == budget and r["method"] == method]
                if not sel:
                    continue
                if not all(r.get("reachable") for r in sel):
                    lines.append(f"| {budget} | {method} | unreachable | | | | | |")
                    continue
                lat = _agg(sel, "cycles")[0] / sel[0]["full_cycles"]
                acc, sd = _agg(sel, "acc")
                pre = _agg(sel, "acc_before_ft")[0]
                lines.append(f"| {budget} | {method} | {lat:.3f} | {_agg(sel, 'latency_ms')[0]:.4f} | "
                             f"{_agg(sel, 'macs')[0] / 1e6:.2f}M | {_agg(sel, 'params_nonzero')[0] / 1e3:.1f}k | "
                             f"{pre:.3f} | {acc:.4f} ± {sd:.4f} |")
        lines.append("")
        wins = []
        for budget in sorted({r["budget"] for r in rows}):
            means = {m: _agg(sel, "acc")[0] for m in METHODS
                     if (sel := [r for r in rows if r["budget"] == budget and r["method"] == m])
                     and all(r.get("reachable") for r in sel)}
            if means:
                top = max(means.values())
                best = [m for m, v in means.items() if v >= top - 1e-12]
                wins.append(f"{budget}: {', '.join(best)} ({top:.4f})")
        lines += [f"Most accurate per budget: {'; '.join(wins)}.", ""]
        lines += _pooled_std_lines(rows)
        for method in METHODS:
            pts = []
            for budget in sorted({r["budget"] for r in rows}):
                sel = [r for r in rows if r["budget"] == budget and r["method"] == method and r.get("reachable")]
                if sel:
                    pts.append((_agg(sel, "cycles")[0] / sel[0]["full_cycles"], *_agg(sel, "acc")))
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o",
                            capsize=3, label=method)
        ax.set_title(f"{net}, {args.data}, {args.hw}")
        ax.set_xlabel("simulated latency / unpruned")
        ax.set_ylabel("test accuracy after fine-tune")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT_PNG, dpi=110)
    lines += [f"![accuracy vs latency]({OUT_PNG.name})", ""]
    atomic_write_text(OUT_MD, "\n".join(lines))
    print(f"wrote {OUT_MD}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="digits_cnn,resnet20")
    ap.add_argument("--data", default="digits", choices=("digits", "fashion-mnist"))
    ap.add_argument("--train-subset", type=int, default=None,
                    help="stratified training subset (fashion-mnist); the test set is always complete")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hw-sparse", default=None, help="hardware of hw-nm (default: --hw)")
    ap.add_argument("--hw", default="dpu-b1024-sparse")
    ap.add_argument("--budgets", default="0.3,0.5,0.7")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--base-epochs", type=int, default=10)
    ap.add_argument("--ft-epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fresh", action="store_true", help="ignore results from an earlier run")
    ap.add_argument("--quick", action="store_true", help="one net, one seed, 1+1 epochs (a smoke run)")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the saved results")
    args = ap.parse_args(argv)
    args.command = "python benchmarks/bench_planner_vs_baselines.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.hw_sparse = args.hw_sparse or args.hw
    global OUT_JSON, OUT_MD, OUT_PNG
    if args.data != "digits":
        OUT_JSON, OUT_MD, OUT_PNG = (p.with_name(f"{p.stem}_{args.data}{p.suffix}") for p in (OUT_JSON, OUT_MD, OUT_PNG))
    args.nets = args.nets.split(",")
    args.budgets = [float(b) for b in args.budgets.split(",")]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        OUT_JSON, OUT_MD, OUT_PNG = (Path(tempfile.mkdtemp()) / p.name for p in (OUT_JSON, OUT_MD, OUT_PNG))
        args.nets, args.seeds, args.base_epochs, args.ft_epochs = ["digits_cnn"], [0], 1, 1
        if args.data != "digits":
            args.train_subset = args.train_subset or 1000
    if args.report_only:
        write_report(json.loads(OUT_JSON.read_text()), args)
    else:
        write_report(run(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
