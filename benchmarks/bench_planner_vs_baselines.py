"""Planner vs baselines at equal simulated latency (issues #4, #8): writes reports/planner_vs_baselines.md.

Methods, each meeting the same latency budget on simulated hardware; every pruned model then has its
BN statistics re-estimated (adaptive BN, no weight update) on the same ``--bn-batches`` fixed batches of
training images, and gets the same fine-tune. Each row records the accuracy after pruning, after BN
re-estimation and after fine-tuning.
  tp-uniform-l1  Torch-Pruning's MagnitudePruner (L1, one ratio in every layer), the ratio bisected to
                 the smallest one whose slim model meets the budget (cycle mode);
  vitis-mac      Vitis AI's MAC-targeted sensitivity pruning: ``ana`` on held-out training images, then
                 ``prune(removal_ratio=r)`` with the smallest MAC reduction r whose model meets the budget;
  halp           HALP-style latency-saliency knapsack (Taylor importance per latency step, greedy, on
                 hwprune's latency tables; benchmarks/baselines.py);
  one-step       hwprune's Vitis one-step runner: ``search`` (random subnets meeting the latency budget,
                 BN calibrated, scored on held-out images), best subnet;
  hw-channel     hwprune.plan(nm=False);
  hw-nm          hwprune.plan(nm=True): channels and N:M patterns jointly, on ``--hw-sparse``;
  uniform-l1     (optional) hwprune.prune with one ratio, bisected like tp-uniform-l1.

One baseline per net (seed 0, ``--base-epochs`` on the training subset, cached); seeds vary the fine-tune
(shuffling) and the one-step search's sampling. Pruned models of deterministic methods are built once
per (net, budget) and their accuracy before fine-tuning measured once.

Usage (the report in reports/; about 90 min of one core):
    nice -n 10 python benchmarks/bench_planner_vs_baselines.py --data fashion-mnist
    python benchmarks/bench_planner_vs_baselines.py --data fashion-mnist --quick     # smoke run, minutes
    python benchmarks/bench_planner_vs_baselines.py --data fashion-mnist --report-only
Rows are appended to .hwprune/bench-<data>/results-<net>.json as they come (a rerun resumes; baselines
and the Vitis/one-step files are cached there too; nets may run as separate processes, ``--nets NET``),
and merged into reports/planner_vs_baselines.json. ``--data digits`` writes reports/planner_vs_baselines_digits.*.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import bisect_smallest, halp_knapsack, taylor_grads, torch_pruning_uniform

import hwprune
from hwprune.io import atomic_write_text, write_json
from hwprune.lower.simulate import resolve_hw
from hwprune.models.mobilenet import MobileNetV2
from hwprune.planning.reuse import describe_difference
from hwprune.train.calibrate import adaptive_bn, batchnorm_layers, loader_calibration
from hwprune.train.datasets import fashion_mnist_dataset, stratified_subset
from hwprune.train.loop import evaluate, train
from hwprune.transforms.nm import bake

ROOT = Path(__file__).resolve().parents[1]
OUT_MD = ROOT / "reports" / "planner_vs_baselines.md"
OUT_JSON = ROOT / "reports" / "planner_vs_baselines.json"
OUT_PNG = ROOT / "reports" / "planner_vs_baselines.png"
METHODS = ("tp-uniform-l1", "vitis-mac", "halp", "one-step", "hw-channel", "hw-nm")
ALL_METHODS = ("uniform-l1", *METHODS)
OURS = ("hw-channel", "hw-nm")  # the planner; one-step is hwprune's copy of a Vitis workflow: a baseline
NETS = {  # name -> builder of a 1-channel, 10-class net for 32x32 inputs
    "resnet20": lambda: hwprune.models.get("resnet20", num_classes=10, in_channels=1),
    "mobilenet_v2_w0.5": lambda: MobileNetV2(10, 1, width=0.5, stem_stride=1),
    "digits_cnn": lambda: hwprune.models.get("digits_cnn", num_classes=10, in_channels=1),
}
DESCRIPTION = {
    "tp-uniform-l1": "Torch-Pruning `MagnitudePruner` (L1, the same ratio in every layer, bisected to the budget)",
    "uniform-l1": "hwprune.prune with one ratio in every group (L1), bisected to the budget",
    "vitis-mac": "Vitis AI: sensitivity analysis (ratios 0.1, 0.3, ..., 0.9), then the MAC reduction that meets the budget",
    "halp": "HALP-style latency-saliency knapsack: Taylor importance per latency step, greedy, on hwprune's "
    "latency tables",
    "one-step": "hwprune's Vitis one-step search: random subnets meeting the latency budget, BN calibrated, "
    "the best on held-out images",
    "hw-channel": "hwprune plan, channels only",
    "hw-nm": "hwprune plan, channels + N:M (on the sparse DPU)",
}


class _Augmented(Dataset):
    """Random horizontal flip and a random shift of up to ``shift`` pixels (zero fill) per image."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, shift: int = 2) -> None:
        self.x, self.y, self.shift = x, y, shift
        self.fill = float(x.min())

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        img = self.x[i]
        if torch.rand(()) < 0.5:
            img = img.flip(-1)
        s = self.shift
        if s:
            dy, dx = (int(v) for v in torch.randint(-s, s + 1, (2,)))
            pad = torch.nn.functional.pad(img, (s, s, s, s), value=self.fill)
            img = pad[:, s + dy : s + dy + img.shape[-2], s + dx : s + dx + img.shape[-1]]
        return img, self.y[i]


def _calibration_batches(x: torch.Tensor, n_batches: int, batch_size: int) -> list[torch.Tensor]:
    """``n_batches`` fixed batches of training images (no augmentation), drawn once (seed 2): every
    method's pruned model has its BN statistics re-estimated on exactly these."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(2))
    need = min(n_batches * batch_size, len(x))
    return [x[order[i : min(i + batch_size, need)]] for i in range(0, need, batch_size)]


def _data(args):
    """(train loader, held-out batches, test loader, BN-calibration batches): subset, held-out and
    calibration batches drawn once."""
    if args.data == "digits":
        from hwprune.train.data import digits_loaders

        train_loader, test_loader = digits_loaders(args.batch_size, size=32, channels=1, seed=0)
        xs = torch.cat([b[0] for b in train_loader])
        calib = _calibration_batches(xs, args.bn_batches, args.batch_size)
        return train_loader, list(train_loader)[:4], test_loader, calib
    full = fashion_mnist_dataset("train", size=32, channels=1)
    x, y = full.tensors
    labels = y.numpy()
    idx = stratified_subset(labels, args.train_subset, seed=0) if args.train_subset else np.arange(len(y))
    rest = np.setdiff1d(np.arange(len(y)), idx)
    held = rest[stratified_subset(labels[rest], args.heldout, seed=1)]
    train_set = _Augmented(x[idx], y[idx]) if args.augment else TensorDataset(x[idx], y[idx])
    train_loader = DataLoader(
        train_set, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    held_batches = [(x[held[i : i + 250]], y[held[i : i + 250]]) for i in range(0, len(held), 250)]
    test = fashion_mnist_dataset("test", size=32, channels=1)
    if args.quick:  # smoke runs only; the benchmark always tests on all 10,000
        test = TensorDataset(*(t[:1000] for t in test.tensors))
    test_loader = DataLoader(test, batch_size=500)
    return (
        train_loader,
        held_batches,
        test_loader,
        _calibration_batches(x[idx], args.bn_batches, args.batch_size),
    )


def _prepare(slim, calib: list[torch.Tensor], test_loader, where: str):
    """Accuracy right after pruning, then a copy with BN statistics re-estimated on ``calib`` (adaptive
    BN, no weight update) and its accuracy: the model every method's fine-tune starts from."""
    pre = evaluate(slim, test_loader)
    cal = adaptive_bn(copy.deepcopy(slim), loader_calibration, (calib,), where=where)
    return pre, cal, evaluate(cal, test_loader), len(batchnorm_layers(cal))


def _baseline(net: str, args, train_loader, test_loader, cache: Path):
    """The trained baseline of ``net`` (cached with its accuracy and training time)."""
    path = cache / f"{net}-baseline.pt"
    model = NETS[net]()
    if path.is_file():
        saved = torch.load(path, weights_only=False)
        if saved["epochs"] == args.base_epochs and saved["train_images"] == len(train_loader.dataset):
            model.load_state_dict(saved["state_dict"])
            return model.eval(), saved["acc"], saved["seconds"]
    torch.manual_seed(0)
    model = NETS[net]()
    t = time.time()
    train(
        model,
        train_loader,
        args.base_epochs,
        lr=args.base_lr,
        seed=0,
        progress=False,
        checkpoint=cache / f"{net}-baseline.ckpt",
    )
    seconds = round(time.time() - t, 1)
    model.eval()
    acc = evaluate(model, test_loader)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "acc": acc,
            "seconds": seconds,
            "epochs": args.base_epochs,
            "train_images": len(train_loader.dataset),
        },
        cache / f"{net}-baseline.tmp",
    )
    (cache / f"{net}-baseline.tmp").replace(path)
    return model, acc, seconds


def _macs_fits(runner, fits):
    def by_macs(r):
        try:
            return runner.prune(removal_ratio=r, mode="slim", channel_divisible=1)
        except hwprune.errors.BudgetError:
            return None

    return by_macs


class _Methods:
    """Builds each method's pruned model for one (net, baseline)."""

    def __init__(self, net: str, model, x, args, held, train_loader, cache: Path) -> None:
        self.net, self.model, self.x, self.args, self.held = net, model, x, args, held
        self.train_loader, self.cache = train_loader, cache
        self._vitis = None
        self._grads = None

    def vitis(self):
        if self._vitis is None:
            self._vitis = hwprune.get_pruning_runner(
                self.model,
                self.x,
                "iterative",
                hw=self.args.hw,
                name=f"{self.net}-vitis",
                workdir=self.cache,
                backend="serial",
                progress=False,
            )
            # five ratios instead of Vitis' nine: the analysis is a large share of this machine's budget
            self._vitis.ana(evaluate, args=(self.held,), ratios=(0.1, 0.3, 0.5, 0.7, 0.9))  # resumes
        return self._vitis

    def grads(self):
        if self._grads is None:
            self._grads = taylor_grads(self.model, self.held[:2])
        return self._grads

    def build(self, method: str, hw: str, budget: float, target: int, seed: int):
        """The pruned model, or None when the method cannot reach the target."""
        model, x = self.model, self.x

        def fits(m) -> bool:
            return m is not None and hwprune.simulate(m, x, hw=hw).total_cycles <= target

        if method == "tp-uniform-l1":
            return bisect_smallest(lambda r: torch_pruning_uniform(model, x, r), fits, 0.0, 0.95)[1]
        if method == "uniform-l1":
            return bisect_smallest(
                lambda r: hwprune.prune(model, x, ratio=r, importance="l1"), fits, 0.0, 0.95
            )[1]
        if method == "vitis-mac":
            return bisect_smallest(_macs_fits(self.vitis(), fits), fits, 0.0, 0.95)[1]
        if method == "halp":
            try:
                return halp_knapsack(model, x, hw, target, self.grads())[0]
            except hwprune.errors.BudgetError as e:
                print(f"  halp @ {budget}: {e}", flush=True)
                return None
        if method == "one-step":
            runner = hwprune.get_pruning_runner(
                model,
                x,
                "one_step",
                hw=hw,
                name=f"{self.net}-onestep-b{budget}-s{seed}",
                workdir=self.cache,
                backend="serial",
                progress=False,
            )
            try:
                runner.search(
                    loader_calibration,
                    (self.train_loader, self.args.calib_batches),
                    evaluate,
                    (self.held,),
                    num_subnet=self.args.subnets,
                    latency_budget=budget,
                    seed=seed,
                )
            except hwprune.errors.BudgetError as e:
                print(f"  one-step @ {budget}: {e}", flush=True)
                return None
            return runner.prune(mode="slim")
        try:
            plan = hwprune.plan(model, x, hw=hw, budget=budget, nm=method == "hw-nm")
        except hwprune.errors.BudgetError as e:
            print(f"  {method} @ {budget}: {e}", flush=True)
            return None
        return hwprune.apply(model, x, plan)


def _hw_for(method: str, args) -> str:
    return args.hw_sparse if method == "hw-nm" else args.hw


def _results_path(args, net: str) -> Path:
    return args.cache / f"results-{net}.json"


def collect(args) -> list[dict]:
    """Every net's rows (one file per net in the cache, so nets can run as separate processes), merged
    into OUT_JSON; without the cache (a fresh checkout), OUT_JSON as committed."""
    parts = sorted(args.cache.glob("results-*.json")) if args.cache.is_dir() else []
    if not parts:
        return json.loads(OUT_JSON.read_text())
    order = list(NETS)
    rows = [r for p in parts for r in json.loads(p.read_text())]
    rows.sort(
        key=lambda r: (
            order.index(r["net"]) if r["net"] in order else len(order),
            r["seed"],
            r["budget"],
            ALL_METHODS.index(r["method"]) if r["method"] in ALL_METHODS else 99,
        )
    )
    write_json(OUT_JSON, rows)
    return rows


def check_hw_model(args) -> None:
    """Refuse a cache made with another hardware model: its rows, subnet searches and plans were priced
    by that model, and mixing them with new rows would compare methods on two different DPUs.

    The cache records the full parameters of ``--hw`` and ``--hw-sparse`` (``hw.json``); a cache without
    the file (made before it existed) is taken as it is and stamped. ``--fresh`` re-stamps it.

    Raises:
        SystemExit: the recorded model differs; the message names the changed parameters.
    """
    path = args.cache / "hw.json"
    now = json.loads(json.dumps({h: resolve_hw(h).to_dict() for h in sorted({args.hw, args.hw_sparse})}))
    if path.is_file() and not args.fresh:
        then = json.loads(path.read_text())
        if then != now:
            old, new = (
                {f"{h}.{k}": v for h, fields in d.items() for k, v in fields.items()} for d in (then, now)
            )
            raise SystemExit(
                f"cache {args.cache} was made with another hardware model ({describe_difference(old, new)}). "
                "Use a new --cache directory (copy its *-baseline.pt files over to keep the trained "
                "baselines), or --fresh to rerun every row here."
            )
    write_json(path, now)


def run(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    cache = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    check_hw_model(args)
    per_net = {
        net: (
            json.loads(_results_path(args, net).read_text())
            if _results_path(args, net).is_file() and not args.fresh
            else []
        )
        for net in args.nets
    }
    done = {(r["net"], r["seed"], r["budget"], r["method"]) for rows in per_net.values() for r in rows}
    train_loader, held, test_loader, calib = _data(args)
    x = torch.zeros(1, 1, 32, 32)
    nets = {}
    for net in args.nets:  # baselines first: every later row needs them
        model, base_acc, base_seconds = _baseline(net, args, train_loader, test_loader, cache)
        print(f"{net}: baseline {base_acc:.4f} after {args.base_epochs} epochs ({base_seconds}s)", flush=True)
        fulls = {h: hwprune.simulate(model, x, hw=h).total_cycles for h in {args.hw, args.hw_sparse}}
        nets[net] = (
            model,
            base_acc,
            base_seconds,
            fulls,
            _Methods(net, model, x, args, held, train_loader, cache),
            {},
        )
    for seed in args.seeds:  # seed-major: an interrupted run has whole seeds of every net
        for net in args.nets:
            model, base_acc, base_seconds, fulls, methods, built = nets[net]
            results = per_net[net]
            for budget in args.budgets:
                for method in args.methods:
                    if (net, seed, budget, method) in done:
                        continue
                    hw = _hw_for(method, args)
                    full = fulls[hw]
                    target = int(budget * full)
                    t = time.time()
                    key = (budget, method)
                    if method == "one-step" or key not in built:
                        slim = methods.build(method, hw, budget, target, seed)
                        prep = (
                            None
                            if slim is None
                            else _prepare(slim, calib, test_loader, f"{net} {method} @ {budget}")
                        )
                        if method != "one-step":
                            built[key] = prep
                    else:
                        prep = built[key]
                    if prep is None:
                        results.append(
                            {
                                "net": net,
                                "seed": seed,
                                "budget": budget,
                                "method": method,
                                "reachable": False,
                                "hw": hw,
                            }
                        )
                        write_json(_results_path(args, net), results)
                        continue
                    pre, calibrated, acc_bn, bn_layers = prep
                    slim = copy.deepcopy(calibrated)
                    t_ft = time.time()
                    train(slim, train_loader, args.ft_epochs, lr=args.ft_lr, seed=seed, progress=False)
                    ft_seconds = round(time.time() - t_ft, 1)
                    slim.eval()
                    acc = evaluate(slim, test_loader)
                    rep = hwprune.simulate(slim, x, hw=hw)
                    layers = [ly for ly in rep.layers if ly.kind in ("conv", "gemm", "depthwise")]
                    nonzero = sum(int(p.detach().ne(0).sum()) for p in bake(slim).parameters())
                    row = {
                        "net": net,
                        "seed": seed,
                        "budget": budget,
                        "method": method,
                        "reachable": True,
                        "cycles": rep.total_cycles,
                        "full_cycles": full,
                        "latency_ms": rep.latency_ms,
                        "macs": sum(ly.macs for ly in layers),
                        "params_nonzero": nonzero,
                        "acc_before_ft": pre,
                        "acc_bn": acc_bn,
                        "bn_layers": bn_layers,
                        "bn_images": sum(len(b) for b in calib),
                        "acc": acc,
                        "baseline_acc": base_acc,
                        "hw": hw,
                        "data": args.data,
                        "train_images": len(train_loader.dataset),
                        "test_images": len(test_loader.dataset),
                        "baseline_seconds": base_seconds,
                        "base_epochs": args.base_epochs,
                        "ft_epochs": args.ft_epochs,
                        "ft_seconds": ft_seconds,
                        "seconds": round(time.time() - t, 1),
                    }
                    results.append(row)
                    write_json(_results_path(args, net), results)
                    print(
                        f"  s{seed} {net} {method:13s} @ {budget}: {rep.total_cycles / full:.3f} of full, "
                        f"acc {pre:.3f} -> BN {acc_bn:.3f} -> FT {acc:.4f} ({row['seconds']}s)",
                        flush=True,
                    )
    return collect(args)


def _agg(rows, key):
    vals = [r[key] for r in rows]
    return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _methods_in(rows) -> list[str]:
    seen = {r["method"] for r in rows}
    return [m for m in ALL_METHODS if m in seen] + sorted(seen - set(ALL_METHODS))


def _ours(m: str) -> bool:
    return m in OURS


def _pooled_std_lines(rows: list[dict]) -> list[str]:
    """Best hwprune method against each baseline per budget, in units of the pooled std over seeds."""
    methods = _methods_in(rows)
    verdicts: list[str] = []
    out = [
        "Best hwprune planner method vs each baseline (difference of mean accuracy; in units of the pooled "
        "std over seeds, sqrt((s1² + s2²) / 2)):",
        "",
        "| budget | best hwprune | " + " | ".join(m for m in methods if not _ours(m)) + " |",
        "|---:|---|" + "---:|" * sum(not _ours(m) for m in methods),
    ]
    for budget in sorted({r["budget"] for r in rows}):
        accs = {
            m: [r["acc"] for r in rows if r["budget"] == budget and r["method"] == m and r.get("reachable")]
            for m in methods
        }
        ours = {m: a for m, a in accs.items() if _ours(m) and a}
        if not ours:
            continue
        best = max(ours, key=lambda m: statistics.mean(ours[m]))

        def wins(m: str, best: str = best, accs: dict = accs) -> bool:
            a, b = accs[best], accs[m]
            if min(len(a), len(b)) < 2:
                return False
            pooled = ((statistics.variance(a) + statistics.variance(b)) / 2) ** 0.5
            return statistics.mean(a) - statistics.mean(b) > pooled

        parts = []
        for m in methods:
            if _ours(m):
                continue
            if not accs[m]:
                parts.append("unreachable")
                continue
            diff = statistics.mean(ours[best]) - statistics.mean(accs[m])
            if min(len(ours[best]), len(accs[m])) < 2:
                parts.append(f"{diff * 100:+.2f} pt (one seed)")
                continue
            pooled = ((statistics.variance(ours[best]) + statistics.variance(accs[m])) / 2) ** 0.5
            parts.append(
                f"{diff * 100:+.2f} pt = **{diff / pooled:+.1f}** std"
                if pooled > 0
                else f"{diff * 100:+.2f} pt (std 0)"
            )
        out.append(f"| {budget} | {best} ({statistics.mean(ours[best]):.4f}) | " + " | ".join(parts) + " |")
        verdicts.append(
            f"{budget}: "
            + (
                "met"
                if all(wins(m) for m in methods if not _ours(m) and accs[m])
                else "not met ("
                + ", ".join(m for m in methods if not _ours(m) and accs[m] and not wins(m))
                + ")"
            )
        )
    return [
        *out,
        "",
        "Goal (best hwprune method ahead of every baseline by more than one pooled std, >= 2 seeds "
        "each): " + ("; ".join(verdicts) or "no budget with results") + ".",
        "",
    ]


def write_report(results: list[dict], args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = [n for n in NETS if any(r["net"] == n for r in results)] or sorted({r["net"] for r in results})
    reached = [r for r in results if r.get("reachable")]
    first = reached[0] if reached else {}
    n_train, n_test = first.get("train_images", "?"), first.get("test_images", "?")
    base_epochs, ft_epochs = (
        first.get("base_epochs", args.base_epochs),
        first.get("ft_epochs", args.ft_epochs),
    )
    data = (
        "scikit-learn digits at 32x32, 1 channel"
        if args.data == "digits"
        else f"Fashion-MNIST padded 28->32, 1 channel; training on a stratified subset of {n_train} of the 60,000 "
        f"training images (random flip and ±2 px shift), held-out scoring (Vitis `ana`, one-step search) on "
        f"{args.heldout} other training images, test on all {n_test} test images"
    )
    seeds_seen = sorted({r["seed"] for r in results})
    bn_images = sorted({r["bn_images"] for r in reached if "bn_images" in r})
    bn_text = (
        f"its BN statistics are re-estimated on the same {bn_images[0]} training images (adaptive BN, no "
        f"weight update; the same batches for every method)"
        if len(bn_images) == 1 and all("bn_images" in r for r in reached)
        else "(rows of an older run: no common BN re-estimation)"
    )
    expected = len(args.nets) * len(METHODS) * len(args.budgets) * len(args.seeds)
    hws = sorted({r["hw"] for r in results if "hw" in r})
    lines = [
        "# Planner vs baselines at equal simulated latency",
        "",
        f"Data: {data}. Hardware (simulated, cycle mode, batch 1): {', '.join(f'`{h}`' for h in hws)}; "
        f"channel-only methods on `{args.hw}`, hw-nm on `{args.hw_sparse}`; each budget a fraction of the "
        f"unpruned latency on the method's hardware. One baseline per net ({base_epochs} epochs, SGD lr "
        f"{args.base_lr}, cosine, seed 0); every method meets the budget, then {bn_text}, then gets the same "
        f"fine-tune ({ft_epochs} epoch(s), SGD lr {args.ft_lr}, cosine). Seeds {seeds_seen} vary the fine-tune's "
        f"shuffling (and the one-step search's sampling); mean ± std over them. "
        f"Regenerate: `nice -n 10 python benchmarks/bench_planner_vs_baselines.py --data {args.data}"
        + (f" --ft-epochs {args.ft_epochs}" if args.ft_epochs != 1 else "")
        + (f" --suffix {args.suffix} --cache .hwprune/bench-{args.data}{args.suffix}" if args.suffix else "")
        + "` "
        "(resumable; `--report-only` rewrites this file from the rows).",
        "",
        f"Rows: {len(results)} of {expected} ({len(args.nets)} nets x {len(METHODS)} methods x {len(args.budgets)} "
        f"budgets x {len(args.seeds)} seeds)"
        + (". **The run is incomplete**: see the notes at the end." if len(results) < expected else "."),
        "",
        "Methods: " + "; ".join(f"**{m}** ({DESCRIPTION.get(m, m)})" for m in _methods_in(results)) + ".",
        "",
    ]
    fig, axes = plt.subplots(1, len(nets), figsize=(6 * len(nets), 4.2), squeeze=False)
    for ax, net in zip(axes[0], nets, strict=True):
        rows = [r for r in results if r["net"] == net]
        ok = [r for r in rows if r.get("reachable")]
        base = _agg(ok, "baseline_acc") if ok else (0, 0)
        secs = ok[0].get("baseline_seconds", "?") if ok else "?"
        lines += [
            f"## {net} (baseline test accuracy {base[0]:.4f} after {base_epochs} epochs, {secs} s)",
            "",
            "| budget | method | cycles | latency (ms) | fraction | MACs | nonzero params | "
            "acc after pruning | acc after BN re-est. | acc after FT |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        methods = _methods_in(rows)
        for budget in sorted({r["budget"] for r in rows}):
            for method in methods:
                sel = [r for r in rows if r["budget"] == budget and r["method"] == method]
                if not sel:
                    continue
                if not all(r.get("reachable") for r in sel):
                    lines.append(f"| {budget} | {method} | unreachable | | | | | | | |")
                    continue
                cyc = _agg(sel, "cycles")
                lat = cyc[0] / sel[0]["full_cycles"]
                acc, sd = _agg(sel, "acc")
                pre, pre_sd = _agg(sel, "acc_before_ft")
                bn = (
                    "{:.4f} ± {:.4f}".format(*_agg(sel, "acc_bn"))
                    if all("acc_bn" in r for r in sel)
                    else "not measured"
                )
                lines.append(
                    f"| {budget} | {method} | {cyc[0]:.0f} | {_agg(sel, 'latency_ms')[0]:.4f} | {lat:.3f} | "
                    f"{_agg(sel, 'macs')[0] / 1e6:.2f}M | {_agg(sel, 'params_nonzero')[0] / 1e3:.1f}k | "
                    f"{pre:.4f} ± {pre_sd:.4f} | {bn} | {acc:.4f} ± {sd:.4f} |"
                )
        lines.append("")
        lines += _pooled_std_lines(rows)
        for method in methods:
            pts = []
            for budget in sorted({r["budget"] for r in rows}):
                sel = [
                    r for r in rows if r["budget"] == budget and r["method"] == method and r.get("reachable")
                ]
                if sel:
                    pts.append((_agg(sel, "cycles")[0] / sel[0]["full_cycles"], *_agg(sel, "acc")))
            if pts:
                ax.errorbar(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    yerr=[p[2] for p in pts],
                    marker="o",
                    capsize=3,
                    label=method,
                    linestyle="-" if _ours(method) else "--",
                )
        ax.axhline(base[0], color="grey", linewidth=0.8, label="baseline")
        ax.set_title(f"{net}, {args.data}")
        ax.set_xlabel("simulated latency / unpruned")
        ax.set_ylabel("test accuracy after fine-tune")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT_PNG, dpi=110)
    lines += [f"![accuracy vs latency]({OUT_PNG.name})", ""]
    if args.notes and Path(args.notes).is_file():
        lines += [Path(args.notes).read_text().rstrip(), ""]
    atomic_write_text(OUT_MD, "\n".join(lines))
    print(f"wrote {OUT_MD}")


def parse_args(argv=None) -> argparse.Namespace:
    """The benchmark's options (``--quick`` redirects the outputs to a temporary folder)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="fashion-mnist", choices=("fashion-mnist", "digits"))
    ap.add_argument("--nets", default="resnet20,mobilenet_v2_w0.5")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"any of {', '.join(ALL_METHODS)}")
    ap.add_argument(
        "--train-subset",
        type=int,
        default=4000,
        help="stratified training subset (fashion-mnist; 0 = all 60k); the test set is always complete",
    )
    ap.add_argument(
        "--heldout", type=int, default=500, help="held-out training images for ana / one-step scoring"
    )
    ap.add_argument("--no-augment", dest="augment", action="store_false")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hw", default="dpu-b4096")
    ap.add_argument("--hw-sparse", default="dpu-b4096-sparse", help="hardware of hw-nm")
    ap.add_argument("--budgets", default="0.3,0.5,0.7")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--base-epochs", type=int, default=15)
    ap.add_argument("--base-lr", type=float, default=0.05)
    ap.add_argument("--ft-epochs", type=int, default=1)
    ap.add_argument("--ft-lr", type=float, default=0.02)
    ap.add_argument("--subnets", type=int, default=8, help="one-step search: subnets per (budget, seed)")
    ap.add_argument("--calib-batches", type=int, default=4, help="one-step search: BN calibration batches")
    ap.add_argument(
        "--bn-batches",
        type=int,
        default=16,
        help="batches of training images on which every pruned model's BN statistics are re-estimated",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--notes",
        default=str(ROOT / "reports" / "planner_vs_baselines_notes.md"),
        help="Markdown appended to the report (the discussion of the figures)",
    )
    ap.add_argument(
        "--cache",
        default=None,
        help="folder of baselines, Vitis files and per-net rows (default .hwprune/bench-<data>)",
    )
    ap.add_argument("--fresh", action="store_true", help="ignore results from an earlier run")
    ap.add_argument(
        "--quick", action="store_true", help="one net, one seed, 1+1 epochs, 1000 images (a smoke run)"
    )
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the saved results")
    ap.add_argument(
        "--suffix",
        default="",
        help="appended to the report's file names (e.g. _ft2 for a run with another recipe; use its own --cache)",
    )
    args = ap.parse_args(argv)
    args.command = "python benchmarks/bench_planner_vs_baselines.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    global OUT_JSON, OUT_MD, OUT_PNG
    if args.data == "digits":
        OUT_JSON, OUT_MD, OUT_PNG = (
            p.with_name(f"{p.stem}_digits{p.suffix}") for p in (OUT_JSON, OUT_MD, OUT_PNG)
        )
    if args.suffix:
        OUT_JSON, OUT_MD, OUT_PNG = (
            p.with_name(f"{p.stem}{args.suffix}{p.suffix}") for p in (OUT_JSON, OUT_MD, OUT_PNG)
        )
    args.nets = args.nets.split(",")
    args.methods = args.methods.split(",")
    unknown = [n for n in args.nets if n not in NETS] + [m for m in args.methods if m not in ALL_METHODS]
    if unknown:
        ap.error(f"unknown net or method: {', '.join(unknown)}")
    args.budgets = [float(b) for b in args.budgets.split(",")]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.train_subset = args.train_subset or None
    args.cache = Path(args.cache) if args.cache else ROOT / ".hwprune" / f"bench-{args.data}"
    if args.quick:
        tmp = Path(tempfile.mkdtemp(prefix="hwprune-bench-quick-"))
        OUT_JSON, OUT_MD, OUT_PNG = (tmp / p.name for p in (OUT_JSON, OUT_MD, OUT_PNG))
        args.cache = tmp / "cache"
        args.seeds, args.base_epochs, args.ft_epochs, args.subnets = args.seeds[:2], 1, 1, 2
        args.train_subset = min(args.train_subset or 1000, 1000)
        args.heldout = min(args.heldout, 250)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.report_only:
        write_report(collect(args), args)
    else:
        write_report(run(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
