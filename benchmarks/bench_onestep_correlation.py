"""EagleEye check: does the adaptive-BN score of one-step candidates predict their fine-tuned accuracy?

ResNet-20 is trained on scikit-learn's digits; ``OneStepRunner.search`` samples subnets that meet a
latency budget on the simulated DPU, re-estimates their batch-norm statistics on a few training
batches and scores them on a held-out validation split. Every candidate is then fine-tuned the same
way and scored on the test split. Printed: the Spearman rank correlation between the adaptive-BN score
and the fine-tuned accuracy (and, for contrast, of the score without calibration), and the best
candidate against a random one (and the mean candidate) after the same fine-tune.

Run: ``python benchmarks/bench_onestep_correlation.py`` (a few CPU minutes; results are cached in
``--workdir``, so a rerun resumes). ``--candidates``, ``--epochs``, ``--ft-epochs``, ``--budget``,
``--size`` and ``--workers`` change the study.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch.utils.data import DataLoader, Subset

import hwprune
import hwprune.models as models
from hwprune.runtime.parallel import get_backend
from hwprune.runtime.store import ResultStore
from hwprune.train.calibrate import loader_calibration
from hwprune.train.data import digits_dataset
from hwprune.train.loop import evaluate, train


def _loaders(size: int, seed: int) -> tuple[DataLoader, DataLoader, DataLoader, DataLoader]:
    """Train / validation (held out of the training split) / test / calibration loaders.

    Calibration reads the training split in a fixed order, so a candidate's score does not depend on
    which worker evaluated it after which other candidate.
    """
    full = digits_dataset("train", size=size, seed=seed)
    idx = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = len(full) // 5
    train_set, val_set = Subset(full, idx[n_val:]), Subset(full, idx[:n_val])
    gen = torch.Generator().manual_seed(seed)
    return (
        DataLoader(train_set, batch_size=64, shuffle=True, generator=gen),
        DataLoader(val_set, batch_size=128),
        DataLoader(digits_dataset("test", size=size, seed=seed), batch_size=128),
        DataLoader(train_set, batch_size=64, shuffle=False),
    )


def accuracy(model: torch.nn.Module, loader: DataLoader) -> float:
    """The search's eval_fn: top-1 accuracy (no gradients)."""
    with torch.no_grad():
        return evaluate(model, loader)


def _baseline(args: argparse.Namespace, train_loader: DataLoader, workdir: Path) -> torch.nn.Module:
    torch.manual_seed(args.seed)
    model = models.get("resnet20", num_classes=10, in_channels=1)
    path = workdir / f"resnet20_digits{args.size}_e{args.epochs}_s{args.seed}.pt"
    if path.is_file():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    else:
        train(model, train_loader, epochs=args.epochs, lr=0.05, progress=False, seed=args.seed)
        workdir.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    return model.eval()


def _finetune_task(payload: dict, index: int) -> dict:
    """Worker: the subnet ``index``, calibrated, then fine-tuned and scored on the test split."""
    runner, loaders, ft_epochs, seed = (
        payload["runner"],
        payload["loaders"],
        payload["ft_epochs"],
        payload["seed"],
    )
    train_loader, val_loader, test_loader, _ = loaders
    slim = runner.prune(index=index, mode="slim")  # reuses the search's calibration
    plain = copy.deepcopy(slim)
    uncal = runner.view.slim(runner.view.top_channels(dict(_result(runner, index).keep)))
    before = accuracy(uncal, val_loader)
    train(plain, train_loader, epochs=ft_epochs, lr=0.01, progress=False, seed=seed)
    return {"uncalibrated": before, "finetuned": accuracy(plain, test_loader)}


def _result(runner, index: int):
    return next(r for r in runner.results() if r.index == index)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--candidates", type=int, default=24)
    p.add_argument("--epochs", type=int, default=5, help="baseline training epochs")
    p.add_argument("--ft-epochs", type=int, default=2, help="fine-tune epochs per candidate")
    p.add_argument("--budget", default="0.7", help="latency budget on the DPU (fraction, '2.5ms', cycles)")
    p.add_argument("--hw", default="dpu-b4096")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--calib-batches", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=Path(".hwprune/bench_onestep"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    budget = float(args.budget) if args.budget.replace(".", "", 1).isdigit() else args.budget

    t0 = time.perf_counter()
    loaders = _loaders(args.size, args.seed)
    model = _baseline(args, loaders[0], args.workdir)
    base_acc = accuracy(model, loaders[2])
    t_train = time.perf_counter() - t0

    x = torch.zeros(1, 1, args.size, args.size)
    name = f"resnet20_d{args.size}_e{args.epochs}"
    runner = hwprune.get_pruning_runner(
        model,
        x,
        "one_step",
        hw=args.hw,
        name=name,
        workdir=args.workdir,
        backend="process",
        workers=args.workers,
        progress=False,
    )
    t1 = time.perf_counter()
    results = runner.search(
        calibration_fn=loader_calibration,
        calib_args=(loaders[3], args.calib_batches),
        eval_fn=accuracy,
        eval_args=(loaders[1],),
        num_subnet=args.candidates,
        latency_budget=budget,
        seed=args.seed,
    )
    t_search = time.perf_counter() - t1

    cfg = {"ft_epochs": args.ft_epochs, "seed": args.seed, "calib_batches": args.calib_batches}
    store = ResultStore(
        args.workdir / f"{name}.finetune",
        kind="finetune",
        structure_hash=runner.view.structure_hash,
        config=cfg,
    )
    todo = [r.index for r in results if str(r.index) not in store]
    payload = {"runner": runner, "loaders": loaders, "ft_epochs": args.ft_epochs, "seed": args.seed}
    t2 = time.perf_counter()
    for i, out in get_backend("process", args.workers).run(_finetune_task, payload, todo):
        store.add(str(todo[i]), out)
    t_ft = time.perf_counter() - t2

    score = np.array([r.score for r in results])
    tuned = np.array([store.get(str(r.index))["finetuned"] for r in results])
    uncal = np.array([store.get(str(r.index))["uncalibrated"] for r in results])
    rho, pval = spearmanr(score, tuned)
    rho_u, pval_u = spearmanr(uncal, tuned)
    best = int(np.argmax(score))
    rnd = random.Random(args.seed).randrange(len(results))
    full = runner.view.cycles({g.key: g.size for g in runner.view.groups})

    print(
        f"ResNet-20 on digits {args.size}x{args.size}: baseline test accuracy {base_acc:.4f} "
        f"({args.epochs} epochs, {t_train:.1f} s incl. data)"
    )
    print(
        f"latency budget {args.budget} on {args.hw}: unpruned {full} cycles; candidates "
        f"{min(r.cost for r in results)}..{max(r.cost for r in results)} cycles"
    )
    print(
        f"{len(results)} candidates: search {t_search:.1f} s, fine-tune ({args.ft_epochs} epochs each) "
        f"{t_ft:.1f} s, {args.workers} workers"
    )
    print(f"Spearman rho(adaptive-BN val score, fine-tuned test acc) = {rho:.3f} (p = {pval:.2g})")
    print(f"Spearman rho(uncalibrated val score, fine-tuned test acc) = {rho_u:.3f} (p = {pval_u:.2g})")
    print(
        f"adaptive-BN score: mean {score.mean():.4f}, range {score.min():.4f}..{score.max():.4f}; "
        f"uncalibrated: mean {uncal.mean():.4f}"
    )
    print(
        f"best by adaptive-BN (#{results[best].index}): fine-tuned {tuned[best]:.4f}; random pick "
        f"(#{results[rnd].index}): {tuned[rnd]:.4f}; mean candidate {tuned.mean():.4f}; "
        f"best candidate {tuned.max():.4f}; rank of the pick {int((tuned > tuned[best]).sum()) + 1}/{len(tuned)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
