"""OFA vs the planner vs one-step search on Fashion-MNIST at equal simulated latency and equal epochs.

A reduced experiment for a small CPU budget (stated in the report it writes):

1. baseline: the model trained ``--base-epochs`` on a stratified ``--train-subset`` of the training set;
2. OFA: supernet from the baseline, ``--ofa-epochs`` of sandwich training (largest, smallest and two
   random subnets per batch, KD from the baseline), one evolutionary search over the latency targets
   (candidates calibrated with adaptive BN and scored on training batches), the best subnet of each
   target fine-tuned ``--ft-epochs``;
3. planner: ``hwprune.plan`` at each target, applied, fine-tuned ``--ofa-epochs + --ft-epochs``;
4. one-step: the Vitis one-step search (``--num-subnet`` calibrated candidates) at each target,
   the best fine-tuned ``--ofa-epochs + --ft-epochs``.

Every final model is evaluated on the full 10k test set; latencies are simulated in cycle mode.
Writes ``reports/ofa.md``, ``reports/ofa_fmnist.png`` and ``reports/ofa_fmnist.json``.

    nice -n 10 python benchmarks/bench_ofa_fmnist.py --model resnet20 --hw dpu-b1024
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch

import hwprune
from hwprune.train import resolve_data
from hwprune.train.calibrate import adaptive_bn, loader_calibration
from hwprune.train.loop import evaluate, train

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def _acc_on(model, loader, batches):
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for i, (x, y) in enumerate(loader):
            if i >= batches:
                break
            correct += int((model(x).argmax(1) == y).sum())
            seen += len(y)
    return correct / max(1, seen)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--hw", default="dpu-b1024")
    ap.add_argument("--train-subset", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--base-epochs", type=int, default=6)
    ap.add_argument("--ofa-epochs", type=int, default=3)
    ap.add_argument("--ft-epochs", type=int, default=1)
    ap.add_argument("--targets", default="0.3,0.5,0.7")
    ap.add_argument("--expand-ratio", default="0.25,0.5,0.75,1")
    ap.add_argument("--num-subnet", type=int, default=10)
    ap.add_argument("--iteration", type=int, default=4)
    ap.add_argument("--popu", type=int, default=8)
    ap.add_argument("--eval-batches", type=int, default=16)
    ap.add_argument("--calib-batches", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPORTS))
    ap.add_argument("--work", default=".hwprune/ofa_fmnist", help="cache of intermediate files (git-ignored)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    t_start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)  # baseline, supernet and search files: resumable, never committed
    work.mkdir(parents=True, exist_ok=True)
    targets = [float(t) for t in args.targets.split(",")]
    data = resolve_data("fashion-mnist", batch_size=args.batch_size, subset=args.train_subset, seed=args.seed)
    train_loader, test_loader = data.train_loader, data.val_loader
    torch.manual_seed(args.seed)
    model = hwprune.models.get(args.model, num_classes=10, in_channels=data.input_shape[0])
    x = next(iter(test_loader))[0][:1]
    log = lambda m: print(f"[{time.perf_counter() - t_start:7.0f}s] {m}", flush=True)
    base_file = work / f"{args.model}-base-{args.train_subset}-{args.base_epochs}-{args.seed}.pt"
    if base_file.is_file():
        model.load_state_dict(torch.load(base_file, weights_only=True))
    else:
        t = time.perf_counter()
        train(
            model,
            train_loader,
            args.base_epochs,
            lr=0.05,
            seed=args.seed,
            progress=False,
            checkpoint=work / "base.ckpt",
        )
        torch.save(model.state_dict(), base_file)
        log(f"baseline trained {args.base_epochs} epochs in {time.perf_counter() - t:.0f} s")
    model.eval()
    base_acc = evaluate(model, test_loader)
    unpruned = hwprune.simulate(model, x, hw=args.hw).total_cycles
    log(f"baseline test acc {base_acc:.4f}, {unpruned} cycles")
    results: dict[str, dict[str, dict]] = {"ofa": {}, "planner": {}, "one_step": {}}
    equal_epochs = args.ofa_epochs + args.ft_epochs

    def finish(method, target, slim, extra, epochs):
        t = time.perf_counter()
        if epochs:
            train(slim, train_loader, epochs, lr=0.01, seed=args.seed, progress=False)
        acc = evaluate(slim, test_loader)
        cyc = hwprune.simulate(slim, x, hw=args.hw).total_cycles
        results[method][f"{target:g}"] = {
            "test_acc": acc,
            "cycles": cyc,
            "fraction": cyc / unpruned,
            "finetune_epochs": epochs,
            "finetune_s": time.perf_counter() - t,
            **extra,
        }
        log(f"{method} @ {target:g}: {cyc / unpruned:.3f} of unpruned, test acc {acc:.4f}")

    # --- OFA
    ofa = hwprune.OFAPruner(
        model,
        x,
        hw=args.hw,
        backend="process" if args.workers > 1 else "serial",
        workers=args.workers,
        progress=False,
        workdir=work,
        name=f"{args.model}-fmnist",
    )
    # no auto excludes: the planner and one-step may prune the stem's group too (equal search spaces)
    sup = ofa.ofa_model(
        [float(r) for r in args.expand_ratio.split(",")], channel_divisible=8, auto_add_excludes=False
    )
    sup_file = work / f"{args.model}-sup-{args.ofa_epochs}-{args.seed}.pt"
    t = time.perf_counter()
    if sup_file.is_file():
        sup.load_state_dict(torch.load(sup_file, weights_only=True))
        sup_s = json.loads((work / "sup_seconds.json").read_text())["s"]
    else:
        ofa.train(sup, train_loader, args.ofa_epochs, lr=0.02, seed=args.seed, checkpoint=work / "sup.ckpt")
        sup_s = time.perf_counter() - t
        torch.save(sup.state_dict(), sup_file)
        (work / "sup_seconds.json").write_text(json.dumps({"s": sup_s}))
    log(f"supernet trained {args.ofa_epochs} epochs in {sup_s:.0f} s")
    step = round(targets[1] - targets[0], 6) if len(targets) > 1 else 0.1
    lo = round(min(targets) - step, 6)  # the floor of the first bucket; the targets are lo + step, ...
    t = time.perf_counter()
    pareto = ofa.run_evolutionary_search(
        sup,
        loader_calibration,
        (train_loader, args.calib_batches),
        _acc_on,
        (train_loader, args.eval_batches),
        "acc1",
        "max",
        parent_popu_size=args.popu,
        iteration=args.iteration,
        mutate_size=args.popu // 2,
        crossover_size=args.popu // 4,
        min_latency=lo,
        max_latency=max(targets),
        latency_step=step,
        seed=args.seed,
    )
    search_s = time.perf_counter() - t
    candidates = [
        {"fraction": r["cycles"] / unpruned, "acc": r["value"]} for r in ofa.last_search.seen.values()
    ]
    log(f"OFA search: {len(candidates)} candidates in {search_s:.0f} s; keys {list(pareto)}")
    for target in targets:
        entry = pareto.get(f"{target:g}")
        if entry is None:
            continue
        static, *_ = ofa.get_static_subnet(sup, entry["subnet_setting"])
        adaptive_bn(static, loader_calibration, (train_loader, args.calib_batches))
        finish("ofa", target, static, {"search_acc": entry["acc1"]}, args.ft_epochs)

    # --- planner and one-step at the same targets, fine-tuned for the same total epochs
    for target in targets:
        t = time.perf_counter()
        plan = hwprune.plan(model, x, hw=args.hw, budget=target, nm=False)
        slim = hwprune.apply(model, x, plan)
        adaptive_bn(slim, loader_calibration, (train_loader, args.calib_batches))
        finish("planner", target, slim, {"plan_s": time.perf_counter() - t}, equal_epochs)
        t = time.perf_counter()
        runner = hwprune.get_pruning_runner(
            model,
            x,
            method="one_step",
            hw=args.hw,
            backend="serial",
            progress=False,
            workdir=work,
            name=f"{args.model}-{target:g}",
        )
        runner.search(
            loader_calibration,
            (train_loader, args.calib_batches),
            eval_fn=_acc_on,
            eval_args=(train_loader, args.eval_batches),
            num_subnet=args.num_subnet,
            latency_budget=target,
            channel_divisible=8,
            forced=True,
        )
        slim = runner.prune()
        finish("one_step", target, slim, {"search_s": time.perf_counter() - t}, equal_epochs)

    total = time.perf_counter() - t_start
    doc = {
        "args": vars(args),
        "baseline_test_acc": base_acc,
        "unpruned_cycles": unpruned,
        "supernet_train_s": sup_s,
        "search_s": search_s,
        "candidates": candidates,
        "results": results,
        "seconds": total,
    }
    (out / "ofa_fmnist.json").write_text(json.dumps(doc, indent=2) + "\n")
    _plot(doc, out / "ofa_fmnist.png")
    log(f"done in {total:.0f} s")


def _plot(doc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    c = doc["candidates"]
    ax.scatter(
        [r["fraction"] for r in c],
        [r["acc"] for r in c],
        s=8,
        color="tab:gray",
        alpha=0.4,
        label="OFA candidates (train-batch acc, calibrated, no fine-tune)",
    )
    for method, color in (("ofa", "tab:red"), ("planner", "tab:blue"), ("one_step", "tab:green")):
        rows = sorted(doc["results"][method].values(), key=lambda r: r["fraction"])
        ax.plot(
            [r["fraction"] for r in rows],
            [r["test_acc"] for r in rows],
            "o-",
            color=color,
            label=f"{method} (test acc after fine-tune)",
        )
    ax.axhline(doc["baseline_test_acc"], color="k", ls=":", label="unpruned")
    ax.set_xlabel("simulated latency, cycle mode (fraction of unpruned)")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
