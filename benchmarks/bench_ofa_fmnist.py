"""OFA vs the planner vs one-step search on Fashion-MNIST at equal simulated latency and equal epochs.

A reduced experiment for a small CPU budget (the report it writes states the sizes). Per net:

1. baseline: the net trained ``--base-epochs`` on a stratified ``--train-subset`` of the 60k training
   images; ``--val`` *other* training images (stratified, disjoint from the subset) are held out to
   score search candidates; the 10k test set is used only for the final accuracies;
2. OFA: supernet from the baseline, ``--ofa-epochs`` of sandwich training (largest, smallest and two
   random subnets per batch, KD from the baseline), one evolutionary search over the latency targets
   (candidates calibrated with adaptive BN on training batches and scored on the held-out images), the
   best subnet of each target fine-tuned ``--ft-epochs``;
3. planner: ``hwprune.plan`` at each target, applied, fine-tuned ``--ofa-epochs + --ft-epochs``;
4. one-step: the Vitis one-step search (``--num-subnet`` calibrated candidates scored on the same
   held-out images) at each target, the best fine-tuned ``--ofa-epochs + --ft-epochs``.

Latencies are simulated in cycle mode on one hardware for every method. Every finished step (baseline,
supernet epochs, search candidates, each method/target row) is cached under ``--work`` in a folder
keyed by the settings, so a killed run resumes with at most one fine-tune's progress lost.

    nice -n 10 python benchmarks/bench_ofa_fmnist.py                 # both nets, then the report
    nice -n 10 python benchmarks/bench_ofa_fmnist.py --nets resnet20 --no-report   # one net (one process)
    python benchmarks/bench_ofa_fmnist.py --report-only              # rewrite reports/ofa.* from the cache
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

import hwprune
from hwprune.io import atomic_write_text, write_json
from hwprune.models.mobilenet import MobileNetV2
from hwprune.train.calibrate import adaptive_bn, loader_calibration
from hwprune.train.datasets import fashion_mnist_dataset, stratified_subset
from hwprune.train.loop import evaluate, train

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
NETS = {  # the nets of benchmarks/bench_planner_vs_baselines.py: 1 channel, 10 classes, 32x32 inputs
    "resnet20": lambda: hwprune.models.get("resnet20", num_classes=10, in_channels=1),
    "mobilenet_v2_w0.5": lambda: MobileNetV2(10, 1, width=0.5, stem_stride=1),
}
METHODS = ("ofa", "ofa_se", "planner", "one_step")
EXTRA = ("ofa_se_ft",)  # optional rows (--ofa-equal-ft)
# settings that shape a net's results: a change starts a new cache folder
KEYED = (
    "hw",
    "train_subset",
    "val",
    "test_images",
    "batch_size",
    "base_epochs",
    "base_lr",
    "ofa_epochs",
    "ofa_lr",
    "ft_epochs",
    "ft_lr",
    "targets",
    "expand_ratio",
    "num_subnet",
    "iteration",
    "popu",
    "calib_batches",
    "seed",
)


def _acc_on(model, batches):
    """Accuracy on a list of ``(x, y)`` batches (the held-out split)."""
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model(x).argmax(1) == y).sum())
            seen += len(y)
    return correct / max(1, seen)


def _data(args):
    """(train loader, held-out batches, test loader): the subset and the held-out images are disjoint."""
    full = fashion_mnist_dataset("train", size=32, channels=1)
    x, y = full.tensors
    labels = y.numpy()
    idx = stratified_subset(labels, args.train_subset, seed=0)
    rest = np.setdiff1d(np.arange(len(y)), idx)
    held = rest[stratified_subset(labels[rest], args.val, seed=1)]
    assert not np.intersect1d(idx, held).size  # never select on training images
    train_loader = DataLoader(
        TensorDataset(x[idx], y[idx]),
        batch_size=args.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(args.seed),
    )
    val_batches = [(x[held[i : i + 500]], y[held[i : i + 500]]) for i in range(0, len(held), 500)]
    test = fashion_mnist_dataset("test", size=32, channels=1)
    if args.test_images < len(test):  # a fixed stratified subset of the test set (CPU budget)
        keep = torch.from_numpy(stratified_subset(test.tensors[1].numpy(), args.test_images, seed=0))
        test = TensorDataset(*(t[keep] for t in test.tensors))
    return train_loader, val_batches, DataLoader(test, batch_size=500)


def _work_dir(args, net: str) -> Path:
    key = hashlib.sha256(json.dumps({k: getattr(args, k) for k in KEYED}, sort_keys=True).encode())
    return Path(args.work) / f"{net}-{key.hexdigest()[:10]}"


def _epoch_timer(doc: dict, key: str, save):
    """A ``train`` callback appending each epoch's wall seconds (this process's epochs) to ``doc[key]``."""
    last = [time.perf_counter()]

    def callback(epoch, stats):
        now = time.perf_counter()
        doc.setdefault(key, []).append({"epoch": epoch, "s": now - last[0]})
        last[0] = now
        save()

    return callback


def _load(path: Path, default):
    return json.loads(path.read_text()) if path.is_file() else default


def run_net(net: str, args, log) -> dict:
    """Every step for one net, cached in its work folder; returns the net's results document."""
    work = _work_dir(args, net)
    work.mkdir(parents=True, exist_ok=True)
    doc_path = work / "results.json"
    doc = _load(doc_path, {"net": net, "settings": {k: getattr(args, k) for k in KEYED}, "rows": {}})
    save = lambda: write_json(doc_path, doc)  # atomic
    train_loader, val_batches, test_loader = _data(args)
    x = next(iter(test_loader))[0][:1]
    targets = [float(t) for t in args.targets.split(",")]
    equal_epochs = args.ofa_epochs + args.ft_epochs

    # --- baseline
    torch.manual_seed(0)
    model = NETS[net]()
    base_file = work / "base.pt"
    if base_file.is_file():
        model.load_state_dict(torch.load(base_file, weights_only=True))
    else:
        t = time.perf_counter()
        train(
            model,
            train_loader,
            args.base_epochs,
            lr=args.base_lr,
            seed=0,
            progress=False,
            checkpoint=work / "base.ckpt",
            callback=_epoch_timer(doc, "baseline_epoch_s", save),
        )
        doc["baseline_train_s"] = time.perf_counter() - t
        torch.save(model.state_dict(), work / "base.tmp")
        (work / "base.tmp").replace(base_file)
        save()
    model.eval()
    if "baseline_test_acc" not in doc:
        doc["baseline_test_acc"] = evaluate(model, test_loader)
        doc["baseline_val_acc"] = _acc_on(model, val_batches)
        doc["unpruned_cycles"] = hwprune.simulate(model, x, hw=args.hw).total_cycles
        save()
    unpruned = doc["unpruned_cycles"]
    log(f"{net}: baseline test acc {doc['baseline_test_acc']:.4f}, {unpruned} cycles")

    def finish(method, target, slim, extra, epochs, t0):
        key = f"{method}/{target:g}"
        if epochs:
            train(
                slim,
                train_loader,
                epochs,
                lr=args.ft_lr,
                seed=args.seed,
                progress=False,
                checkpoint=work / f"{method}-{target:g}.ckpt",
            )
        slim.eval()
        cyc = hwprune.simulate(slim, x, hw=args.hw).total_cycles
        doc["rows"][key] = {
            "test_acc": evaluate(slim, test_loader),
            "cycles": cyc,
            "fraction": cyc / unpruned,
            "params": sum(p.numel() for p in slim.parameters()),
            "finetune_epochs": epochs,
            "seconds": time.perf_counter() - t0,
            **extra,
        }
        save()
        r = doc["rows"][key]
        log(f"{net} {key}: {r['fraction']:.3f} of unpruned, test acc {r['test_acc']:.4f}")

    # --- OFA
    ofa = hwprune.OFAPruner(model, x, hw=args.hw, backend="serial", progress=False, workdir=work, name="ofa")
    # no auto excludes: the planner and one-step may prune the stem's group too (equal search spaces)
    # width only, on the same channel groups the planner and one-step may prune: no elastic kernel (the
    # nets' convs are 3x3 / 1x1) and no Vitis depthwise rule (it would freeze MobileNetV2's 1x1-only groups)
    sup = ofa.ofa_model(
        [float(r) for r in args.expand_ratio.split(",")],
        channel_divisible=8,
        auto_add_excludes=False,
        kernel_sizes=None,
        depthwise_rule=False,
    )
    doc["space"] = {"elastic_groups": len(sup.space.groups), "subnets": int(sup.space.size())}
    sup_file = work / "sup.pt"
    if sup_file.is_file():
        sup.load_state_dict(torch.load(sup_file, weights_only=True))
    else:
        t = time.perf_counter()
        ofa.train(
            sup,
            train_loader,
            args.ofa_epochs,
            lr=args.ofa_lr,
            seed=args.seed,
            checkpoint=work / "sup.ckpt",
            callback=_epoch_timer(doc, "supernet_epoch_s", save),
        )
        doc["supernet_train_s"] = time.perf_counter() - t  # of this process (a resumed run: its share)
        torch.save(sup.state_dict(), work / "sup.tmp")
        (work / "sup.tmp").replace(sup_file)
        save()
    log(f"{net}: supernet trained {args.ofa_epochs} epochs ({doc.get('supernet_train_s', 0):.0f} s)")
    step = round(targets[1] - targets[0], 6) if len(targets) > 1 else 0.1
    lo = round(min(targets) - step, 6)  # the floor of the first bucket; the targets are lo + step, ...
    t = time.perf_counter()
    search_kw = {
        "parent_popu_size": args.popu,
        "iteration": args.iteration,
        "mutate_size": args.popu // 2,
        "crossover_size": args.popu // 4,
        "min_latency": lo,
        "max_latency": max(targets),
        "latency_step": step,
        "seed": args.seed,
        "search_file": work / "search.ofasearch",
    }
    search = partial(
        ofa.run_evolutionary_search,
        sup,
        loader_calibration,
        (train_loader, args.calib_batches),
        _acc_on,
        (val_batches,),
        "acc1",
        "max",
        **search_kw,
    )
    pareto = search()
    if ofa.last_search.evaluated or "search_s" not in doc:
        doc["search_s"] = doc.get("search_s", 0.0) + time.perf_counter() - t
    doc["candidates"] = [
        {"fraction": r["cycles"] / unpruned, "val_acc": r["value"]} for r in ofa.last_search.seen.values()
    ]
    save()
    log(
        f"{net}: OFA search {len(doc['candidates'])} candidates ({doc['search_s']:.0f} s); keys {list(pareto)}"
    )
    # ofa_se: the same search file, picks with scores within one standard error of a target's best
    # counted as ties (the costliest wins); the SE of an accuracy near the baseline's on the held-out set
    p = doc["baseline_val_acc"]
    doc["score_tolerance"] = (p * (1 - p) / args.val) ** 0.5
    pareto_se = search(score_tolerance=doc["score_tolerance"])
    for method, picks in (("ofa", pareto), ("ofa_se", pareto_se)):
        for target in targets:
            entry = picks.get(f"{target:g}")
            if entry is None or f"{method}/{target:g}" in doc["rows"]:
                continue
            t0 = time.perf_counter()
            static, *_ = ofa.get_static_subnet(sup, entry["subnet_setting"])
            adaptive_bn(static, loader_calibration, (train_loader, args.calib_batches))
            finish(
                method,
                target,
                static,
                {"val_acc_before_ft": entry["acc1"]},  # the search's score of this subnet (same calibration)
                args.ft_epochs,
                t0,
            )
    if args.ofa_equal_ft:  # ofa_se's picks fine-tuned as long as the others (equal fine-tune, more epochs)
        for target in targets:
            entry = pareto_se.get(f"{target:g}")
            if entry is None or f"ofa_se_ft/{target:g}" in doc["rows"]:
                continue
            t0 = time.perf_counter()
            static, *_ = ofa.get_static_subnet(sup, entry["subnet_setting"])
            adaptive_bn(static, loader_calibration, (train_loader, args.calib_batches))
            finish("ofa_se_ft", target, static, {"val_acc_before_ft": entry["acc1"]}, equal_epochs, t0)

    # --- planner and one-step at the same targets, fine-tuned for the same total epochs
    for target in targets:
        if f"planner/{target:g}" not in doc["rows"]:
            t0 = time.perf_counter()
            plan = hwprune.plan(model, x, hw=args.hw, budget=target, nm=False)
            slim = hwprune.apply(model, x, plan)
            adaptive_bn(slim, loader_calibration, (train_loader, args.calib_batches))
            finish(
                "planner",
                target,
                slim,
                {"plan_s": time.perf_counter() - t0, "val_acc_before_ft": _acc_on(slim, val_batches)},
                equal_epochs,
                t0,
            )
        if f"one_step/{target:g}" not in doc["rows"]:
            t0 = time.perf_counter()
            runner = hwprune.get_pruning_runner(
                model,
                x,
                method="one_step",
                hw=args.hw,
                backend="serial",
                progress=False,
                workdir=work,
                name=f"one-step-{target:g}",
            )
            found = runner.search(
                loader_calibration,
                (train_loader, args.calib_batches),
                eval_fn=_acc_on,
                eval_args=(val_batches,),
                num_subnet=args.num_subnet,
                latency_budget=target,
                channel_divisible=8,
                seed=args.seed,
            )
            slim = runner.prune()  # the best-scored candidate, calibrated
            best = max((r.score for r in found if r.score is not None), default=None)
            finish(
                "one_step",
                target,
                slim,
                {"search_s": time.perf_counter() - t0, "val_acc_before_ft": best},
                equal_epochs,
                t0,
            )
    doc["complete"] = all(f"{m}/{t:g}" in doc["rows"] for m in METHODS for t in targets)
    save()
    return doc


# ----------------------------------------------------------------------------- report
def _fmt(v, spec=".4f"):
    return "n/a" if v is None else format(v, spec)


def write_report(args, docs: list[dict]) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    targets = [float(t) for t in args.targets.split(",")]
    summary = {"command": args.command, "settings": {k: getattr(args, k) for k in KEYED}, "nets": docs}
    write_json(out / "ofa_fmnist.json", summary)
    _plot(docs, out / "ofa_fmnist.png")
    ep = args.ofa_epochs + args.ft_epochs
    test_desc = (
        "the **full 10,000-image test set**"
        if args.test_images >= 10000
        else f"a fixed stratified **{args.test_images}-image subset of the 10k test set** (CPU budget; the "
        f"standard error of an accuracy near 0.8 is about {100 * (0.16 / args.test_images) ** 0.5:.1f} points)"
    )
    lines = [
        "# OFA vs the planner vs one-step search on Fashion-MNIST (reduced run)",
        "",
        f"Regenerate: `OMP_NUM_THREADS=1 nice -n 10 {args.command}` (resumable: every step is cached under "
        f"`{args.work}`; `--report-only` rewrites this file, `ofa_fmnist.json` and `ofa_fmnist.png` from the cache).",
        "",
        "## Setup",
        "",
        f"- **Data**: Fashion-MNIST padded 28->32, 1 channel. Training on a stratified subset of "
        f"**{args.train_subset}** of the 60,000 training images; **{args.val}** *other* training images "
        "(stratified, disjoint from the subset) held out to score search candidates (OFA's evolutionary search "
        "and the one-step search); " + test_desc + " only for the final accuracies.",
        f"- **Hardware**: `{args.hw}` for every method, latency simulated in cycle mode (batch 1).",
        f"- **Baseline** per net: {args.base_epochs} epochs SGD (lr {args.base_lr}, cosine, batch {args.batch_size}), seed 0.",
        f"- **OFA**: supernet from the baseline, expand ratios {args.expand_ratio}, channel_divisible 8, no auto "
        f"excludes and no Vitis depthwise rule (the same channel groups the planner and one-step may prune), width only (no elastic kernel or depth); **{args.ofa_epochs}** "
        f"epochs of sandwich training (max, min, 2 random subnets per batch, KD from the baseline, lr {args.ofa_lr}); "
        f"one evolutionary search for all targets ({args.popu} parents, {args.iteration} generations; each candidate "
        f"calibrated with adaptive BN on {args.calib_batches} training batches and scored on the {args.val} held-out "
        "images; on equal scores the costlier subnet inside a target wins); each target's pick rebuilt as a static "
        f"subnet, calibrated, fine-tuned **{args.ft_epochs}** epoch(s).",
        f"- **Planner** (`hwprune.plan`, channels only) and **one-step** (Vitis one-step search, {args.num_subnet} "
        f"calibrated candidates scored on the same held-out images): fine-tuned **{ep}** epochs = OFA's "
        f"{args.ofa_epochs} supernet + {args.ft_epochs} fine-tune epochs (equal epochs; a supernet epoch costs "
        "several plain epochs: see the compute lines).",
        "- **ofa_se_ft** (where present): `ofa_se`'s picks fine-tuned as long as the planner's "
        f"({ep} epochs: equal fine-tune, {args.ofa_epochs} more total epochs than the others).\n"
        f"- Fine-tunes: SGD lr {args.ft_lr}, cosine. Seed {args.seed} (supernet sampling, search, fine-tune "
        "shuffling); **one seed**: no error bars.",
        "- Machine: 2 shared CPU cores, one torch thread per process, one process per net, `nice -n 10`.",
        "",
    ]
    verdict = []
    for d in docs:
        net = d["net"]
        rows = d["rows"]
        lines += [
            f"## {net}",
            "",
            f"Baseline: test accuracy **{d['baseline_test_acc']:.4f}** (held-out {d['baseline_val_acc']:.4f}), "
            f"{d['unpruned_cycles']:,} cycles unpruned; OFA space: {d['space']['elastic_groups']} elastic groups, "
            f"{d['space']['subnets']:,} subnets; search: {len(d.get('candidates', []))} candidates evaluated. "
            "Held-out accuracy before fine-tuning: for OFA and one-step the search's score of the picked subnet "
            "(adaptive BN), for the planner the applied plan after adaptive BN.",
            "",
            "| target | method | latency (fraction, cycle mode) | params | held-out acc before FT "
            "| epochs (supernet + FT) | test acc after FT |",
            "|---:|---|---:|---:|---:|---|---:|",
        ]
        for t in targets:
            for m in METHODS + EXTRA:
                r = rows.get(f"{m}/{t:g}")
                if r is None and m in EXTRA:
                    continue
                if r is None:
                    lines.append(f"| {t:g} | {m} | not run | | | | |")
                    continue
                epochs = (
                    f"{args.ofa_epochs} + {r['finetune_epochs']}"
                    if m.startswith("ofa")
                    else f"0 + {r['finetune_epochs']}"
                )
                lines.append(
                    f"| {t:g} | {m} | {r['fraction']:.3f} | {r['params']:,} | {_fmt(r.get('val_acc_before_ft'))} "
                    f"| {epochs} | **{r['test_acc']:.4f}** |"
                )
            got = {m: rows.get(f"{m}/{t:g}") for m in METHODS}
            if all(got.values()):
                o, e, p, s = (got[m] for m in METHODS)
                cell = lambda r: f"{r['test_acc']:.4f} ({r['fraction']:.3f})"
                diff = lambda a, b: f"{100 * (a['test_acc'] - b['test_acc']):+.2f}"
                verdict.append(
                    f"| {net} | {t:g} | {cell(o)} | {cell(e)} | {cell(p)} | {cell(s)} "
                    f"| {diff(o, p)} / {diff(e, p)} | {diff(o, s)} / {diff(e, s)} |"
                )
        # medians of the epochs this cache's processes timed (a resumed run times the epochs it ran)
        base_epoch = float(np.median([e["s"] for e in d.get("baseline_epoch_s", [])] or [np.nan]))
        sup_epoch = float(np.median([e["s"] for e in d.get("supernet_epoch_s", [])] or [np.nan]))
        ft_s = {
            m: sum(r["seconds"] for k, r in rows.items() if k.startswith(m + "/")) for m in METHODS + EXTRA
        }
        lines += [
            "",
            f"Compute (wall seconds on the shared machine, whose load varied): plain epoch of the baseline "
            f"{base_epoch:.0f} s, supernet epoch {sup_epoch:.0f} s (medians of "
            f"{len(d.get('baseline_epoch_s', []))} and {len(d.get('supernet_epoch_s', []))} timed epochs: "
            f"**{sup_epoch / base_epoch:.2f}x**, measured in this run; "
            "benchmarks/bench_ofa.py measured 4.33x on ResNet-20 with synthetic data); supernet training "
            f"{d.get('supernet_train_s', 0):.0f} s + search {d.get('search_s', 0):.0f} s (shared by all targets); "
            f"per-target totals (calibration, fine-tune, evaluation): OFA {ft_s['ofa']:.0f} s, ofa_se "
            f"{ft_s['ofa_se']:.0f} s, planner "
            f"{ft_s['planner']:.0f} s, one-step {ft_s['one_step']:.0f} s (incl. its search).",
            "",
        ]
    lines += [
        "![accuracy vs latency](ofa_fmnist.png)",
        "",
        "## Summary (test accuracy after fine-tuning; in brackets the cycle-mode latency fraction)",
        "",
        "| net | target | ofa | ofa_se | planner | one-step | ofa / ofa_se - planner (pt) "
        "| ofa / ofa_se - one-step (pt) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *verdict,
        "",
    ]
    notes = Path(args.notes)
    if notes.is_file():
        lines += [notes.read_text().rstrip(), ""]
    atomic_write_text(out / "ofa.md", "\n".join(lines))


def _plot(docs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(docs), figsize=(6.2 * len(docs), 4.4), squeeze=False)
    for ax, d in zip(axes[0], docs, strict=True):
        c = d.get("candidates", [])
        ax.scatter(
            [r["fraction"] for r in c],
            [r["val_acc"] for r in c],
            s=8,
            color="tab:gray",
            alpha=0.4,
            label="OFA candidates (held-out acc, adaptive BN, no FT)",
        )
        for method, color in (
            ("ofa", "tab:red"),
            ("ofa_se", "tab:orange"),
            ("planner", "tab:blue"),
            ("one_step", "tab:green"),
            ("ofa_se_ft", "tab:purple"),
        ):
            rows = sorted(
                (r for k, r in d["rows"].items() if k.startswith(method + "/")), key=lambda r: r["fraction"]
            )
            if not rows:
                continue
            ax.plot(
                [r["fraction"] for r in rows],
                [r["test_acc"] for r in rows],
                "o-",
                color=color,
                label=f"{method} (test acc after FT)",
            )
        ax.axhline(d["baseline_test_acc"], color="k", ls=":", label="unpruned (test)")
        ax.set_title(d["net"])
        ax.set_xlabel("simulated latency, cycle mode (fraction of unpruned)")
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--hw", default="dpu-b1024")
    ap.add_argument("--train-subset", type=int, default=2000)
    ap.add_argument("--val", type=int, default=1000, help="held-out training images scoring candidates")
    ap.add_argument(
        "--test-images", type=int, default=5000, help="stratified subset of the 10k test set (10000: all)"
    )
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--base-epochs", type=int, default=5)
    ap.add_argument("--base-lr", type=float, default=0.05)
    ap.add_argument("--ofa-epochs", type=int, default=2)
    ap.add_argument("--ofa-lr", type=float, default=0.02)
    ap.add_argument("--ft-epochs", type=int, default=1)
    ap.add_argument("--ft-lr", type=float, default=0.01)
    ap.add_argument("--targets", default="0.3,0.5,0.7")
    ap.add_argument("--expand-ratio", default="0.25,0.5,0.75,1")
    ap.add_argument("--num-subnet", type=int, default=4)
    ap.add_argument("--iteration", type=int, default=2)
    ap.add_argument("--popu", type=int, default=4)
    ap.add_argument("--calib-batches", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPORTS))
    ap.add_argument("--work", default=".hwprune/ofa_fmnist", help="cache of every step (git-ignored)")
    ap.add_argument(
        "--notes", default=str(REPORTS / "ofa_notes.md"), help="discussion appended to the report"
    )
    ap.add_argument(
        "--ofa-equal-ft",
        action="store_true",
        help="also fine-tune ofa_se's picks as long as the planner's (rows ofa_se_ft)",
    )
    ap.add_argument("--no-report", dest="report", action="store_false", help="run only; write no report")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the cache")
    args = ap.parse_args(argv)
    args.command = "python benchmarks/bench_ofa_fmnist.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.command = args.command.replace(" --report-only", "").replace(" --no-report", "").rstrip()
    nets = args.nets.split(",")
    unknown = [n for n in nets if n not in NETS]
    if unknown:
        ap.error(f"unknown net {', '.join(unknown)}; choose from {', '.join(NETS)}")
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    t_start = time.perf_counter()

    def log(m):
        print(f"[{time.perf_counter() - t_start:7.0f}s] {m}", flush=True)

    if args.report_only:
        docs = []
        for net in nets:
            path = _work_dir(args, net) / "results.json"
            if not path.is_file():
                sys.exit(
                    f"no results for {net} with these settings ({path}); run without --report-only first"
                )
            docs.append(json.loads(path.read_text()))
    else:
        docs = [run_net(net, args, log) for net in nets]
    if args.report:
        write_report(args, docs)
        log(f"wrote {Path(args.out) / 'ofa.md'}")


if __name__ == "__main__":
    main()
