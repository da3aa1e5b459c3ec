"""``hwprune ofa``: supernet, sandwich training, search under a latency range, a run folder.

The run folder (built aside, swapped in complete) holds:

* ``supernet.pt``: the trained supernet's state_dict, ``supernet.json`` its identity (model structure,
  hardware, expand ratios, choices);
* ``pareto.json``: the Pareto set (per latency target: accuracy, latency in cycles / ms / fraction,
  cycle-mode latency, MACs, params, subnet setting), as ``save_subnet_config`` writes it;
* ``pareto.png``: accuracy against simulated latency, every evaluated candidate and the front;
* ``subnets/<key>.spec.json`` + ``subnets/<key>.pt``: each Pareto subnet as a static slim model
  (rebuild with ``hwprune.ofa.rebuild_static_subnet(model, spec, state_dict)``, which also drops the
  skipped blocks of elastic depth), fine-tuned when asked;
* ``metrics.json`` and ``report.md``.

Supernet training checkpoints every epoch and the search file grows as it goes, both in the cache
folder under a key of everything that shapes them, so a killed run resumes with nothing lost.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, Subset, TensorDataset

from hwprune.errors import TrainConfigError
from hwprune.io import atomic_write_text, save_state_dict, write_json
from hwprune.ofa.pruner import OFAPruner, save_subnet_config

__all__ = ["OFARunConfig", "run_ofa", "plot_pareto", "check_range", "holdout_split"]


@dataclass(frozen=True, slots=True)
class OFARunConfig:
    """Settings of an OFA run (the CLI fills them from its flags).

    Attributes:
        hw: accelerator preset or config file.
        latency: ``(min, max, step)`` of the latency range (fractions, "ms" strings or cycles).
        expand_ratio / channel_divisible: the supernet's width choices.
        elastic_depth: subnets may also skip residual blocks with an identity path.
        kernel_sizes: elastic kernel sizes (None: none), as ``OFAPruner.ofa_model``.
        epochs / lr / batch_size: supernet training.
        n_random / kd_weight: sandwich rule and distillation.
        parent_popu_size / iteration / mutate_size / crossover_size / mutate_prob: the search.
        calib_batches: batches of the training data for each candidate's adaptive BN.
        val_fraction: share of the training data held out (stratified by label where the dataset
            has labels) to score the search's candidates; the supernet and the fine-tunes never see it,
            and the test data never selects anything.
        eval_batches: batches of the held-out split scoring each candidate (None: all of it).
        finetune_epochs / finetune_lr: fine-tuning of each Pareto subnet's static model.
        seed / progress / backend / workers / device.
    """

    hw: str = "dpu-b4096"
    latency: tuple[Any, Any, Any] = (0.4, 0.8, 0.1)
    expand_ratio: tuple[float, ...] = (0.5, 0.75, 1.0)
    channel_divisible: int = 8
    elastic_depth: bool = False
    kernel_sizes: tuple[int, ...] | None = (3, 5, 7)
    excludes: tuple[str, ...] = ()
    epochs: int = 5
    lr: float = 0.02
    n_random: int = 2
    kd_weight: float = 1.0
    parent_popu_size: int = 16
    iteration: int = 10
    mutate_size: int = 8
    crossover_size: int = 4
    mutate_prob: float = 0.2
    calib_batches: int = 10
    val_fraction: float = 0.1
    eval_batches: int | None = None
    finetune_epochs: int = 0
    finetune_lr: float = 0.01
    seed: int = 0
    progress: bool = True
    backend: str = "process"
    workers: int | None = None
    device: str = "cpu"


def _eval_acc(model: nn.Module, loader: Any, batches: int | None) -> float:
    from hwprune.train.loop import evaluate

    if batches is None:
        return evaluate(model, loader)
    correct = seen = 0
    model.eval()
    with torch.no_grad():
        for i, (x, y) in enumerate(loader):
            if i >= batches:
                break
            correct += int((model(x).argmax(1) == y).sum())
            seen += len(y)
    return correct / max(1, seen)


def plot_pareto(
    records: list[dict[str, Any]], pareto: dict[str, dict[str, Any]], unpruned: int, path: Path, title: str
) -> Path:
    """Accuracy against simulated latency (fraction of unpruned): every candidate and the Pareto front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(
        [r["cycles"] / unpruned for r in records],
        [r["value"] for r in records],
        s=10,
        alpha=0.4,
        color="tab:gray",
        label=f"evaluated candidates ({len(records)})",
    )
    front = sorted(pareto.values(), key=lambda e: e["latency_cycles"])
    ax.plot(
        [e["latency_cycles_cycle_mode"] / unpruned for e in front],
        [e["acc1"] for e in front],
        "o-",
        color="tab:red",
        label="Pareto set (cycle mode)",
    )
    ax.set_xlabel("simulated latency (fraction of unpruned)")
    ax.set_ylabel("accuracy after adaptive BN")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _labels(dataset: Any) -> np.ndarray | None:
    """Integer class labels of a map-style dataset, where it exposes them cheaply (else None)."""
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) > 1:
        y = dataset.tensors[1]
        if y.ndim == 1 and not y.is_floating_point():
            return y.numpy()
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        arr = np.asarray(targets)
        if arr.ndim == 1 and len(arr) == len(dataset) and np.issubdtype(arr.dtype, np.integer):
            return arr
    return None


def holdout_split(loader: Any, fraction: float, seed: int = 0) -> tuple[DataLoader[Any], DataLoader[Any]]:
    """Split a training loader into (training, held-out) loaders over disjoint images.

    The held-out share is stratified by label where the dataset exposes integer labels (a
    ``TensorDataset``'s second tensor or a ``targets`` attribute), drawn at random otherwise, and fixed by
    ``seed`` (every process of a data-parallel run draws the same split). The training loader keeps the
    batch size, shuffling (seeded), workers, collate function and ``drop_last``; the held-out one does
    not shuffle.

    Raises:
        TrainConfigError: ``fraction`` outside (0, 1), a loader that is not a ``DataLoader`` over a
            map-style dataset, or too few images to leave some on both sides.
    """
    from hwprune.train.datasets import stratified_subset

    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise TrainConfigError(f"val_fraction must be in (0, 1), got {fraction!r}")
    dataset = getattr(loader, "dataset", None)
    if (
        not isinstance(loader, DataLoader)
        or dataset is None
        or isinstance(dataset, IterableDataset)
        or loader.batch_size is None
    ):
        raise TrainConfigError(
            "holding out a validation split needs a DataLoader over a map-style dataset with a batch_size; "
            "pass a separate val_loader instead"
        )
    n = len(dataset)
    n_val = round(fraction * n)
    if not 1 <= n_val < n:
        raise TrainConfigError(
            f"val_fraction {fraction} of {n} training images leaves no held-out or no training image; "
            "use more data or another fraction"
        )
    labels = _labels(dataset)
    if labels is not None:
        held = stratified_subset(labels, n_val, seed)
    else:
        held = np.sort(np.random.default_rng(seed).permutation(n)[:n_val])
    keep = np.setdiff1d(np.arange(n), held)
    shuffle = isinstance(loader.sampler, RandomSampler)
    batch, workers, collate, pin = loader.batch_size, loader.num_workers, loader.collate_fn, loader.pin_memory
    train = DataLoader(
        Subset(dataset, keep.tolist()),
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed) if shuffle else None,
        drop_last=loader.drop_last,
        batch_size=batch,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin,
    )
    val = DataLoader(
        Subset(dataset, held.tolist()),
        shuffle=False,
        batch_size=batch,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin,
    )
    return train, val


def _key(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_range(model: nn.Module, example: torch.Tensor, cfg: OFARunConfig) -> None:
    """Fail before any training when the latency range is outside what the supernet's subnets reach
    (reachability depends on the structure and the hardware only, not on the weights).

    Raises:
        BudgetError: the range is unreachable (the message states the reachable range).
    """
    ofa = OFAPruner(model, example, hw=cfg.hw, backend="serial", progress=False)
    sup = ofa.ofa_model(
        list(cfg.expand_ratio),
        cfg.channel_divisible,
        list(cfg.excludes),
        elastic_depth=cfg.elastic_depth,
        kernel_sizes=cfg.kernel_sizes,
    )
    lo, hi, step = cfg.latency
    ofa.search_range(sup, min_latency=lo, max_latency=hi, latency_step=step)


def run_ofa(
    model: nn.Module,
    example: torch.Tensor,
    train_loader: Any,
    test_loader: Any,
    cfg: OFARunConfig,
    stage: Path | None,
    cache_dir: Path,
    label: str,
    say: Any = print,
    val_loader: Any = None,
) -> dict[str, Any]:
    """Build, train and search a supernet of the trained ``model``; write the run files into ``stage``.

    Candidates are scored on ``eval_batches`` batches of ``val_loader``, by default a held-out split of
    the training data (``cfg.val_fraction``, see :func:`holdout_split`) that the supernet and the
    fine-tunes never train on; the test data selects nothing. The Pareto subnets' static models are
    then calibrated, optionally fine-tuned, and evaluated on the whole test set. Under ``torchrun`` every process calls this (the supernet trains data-parallel);
    the others pass ``stage=None`` and return after training, rank 0 searches and writes.

    Returns:
        The metrics written to ``metrics.json``.
    """
    from hwprune.analysis.hashing import weights_hash
    from hwprune.train.calibrate import adaptive_bn, loader_calibration
    from hwprune.train.device import barrier, is_distributed, is_main_process
    from hwprune.train.loop import evaluate, train

    t0 = time.perf_counter()
    if val_loader is None:  # the same split in every process (seeded)
        train_loader, val_loader = holdout_split(train_loader, cfg.val_fraction, cfg.seed)
    ofa = OFAPruner(
        model,
        example,
        hw=cfg.hw,
        backend=cfg.backend,
        workers=cfg.workers,
        progress=cfg.progress,
        name=label,
        workdir=cache_dir,
    )
    sup = ofa.ofa_model(
        list(cfg.expand_ratio),
        cfg.channel_divisible,
        list(cfg.excludes),
        elastic_depth=cfg.elastic_depth,
        kernel_sizes=cfg.kernel_sizes,
    )
    lo, hi, step = cfg.latency
    ofa.search_range(sup, min_latency=lo, max_latency=hi, latency_step=step)  # an unreachable range fails now
    key = _key(
        [
            dict(sup.space.identity),
            weights_hash(model),
            cfg.epochs,
            cfg.lr,
            cfg.seed,
            cfg.n_random,
            cfg.kd_weight,
            getattr(train_loader, "batch_size", None),
            len(train_loader),
            len(getattr(train_loader, "dataset", ())),
            cfg.val_fraction,  # which images are held out changes what the supernet trains on
        ]
    )
    final, ckpt = cache_dir / f"ofa-{label}-{key}.pt", cache_dir / f"ofa-{label}-{key}.ckpt"
    t_train = time.perf_counter()
    history: dict[str, Any] = {}
    barrier()  # every process decides on the same cache state
    if final.is_file():
        sup.load_state_dict(torch.load(final, map_location="cpu", weights_only=True))
        say(f"supernet loaded from {final}")
    else:
        say(
            f"training the supernet for {cfg.epochs} epochs (sandwich rule, {2 + cfg.n_random} subnets per batch)"
        )
        # under torchrun every process trains (data-parallel); resuming one process's checkpoint is not supported
        history = ofa.train(
            sup,
            train_loader,
            cfg.epochs,
            lr=cfg.lr,
            seed=cfg.seed,
            n_random=cfg.n_random,
            kd_weight=cfg.kd_weight,
            checkpoint=None if is_distributed() else ckpt,
            device=cfg.device,
        )
        sup.cpu()
        if is_main_process():
            save_state_dict(final, sup.state_dict())
        barrier()
    train_s = time.perf_counter() - t_train
    if stage is None:  # the other processes of a data-parallel run: training was their share
        return {}
    base_acc = evaluate(model, test_loader, device=cfg.device)
    say(
        f"baseline test accuracy {base_acc:.4f}; supernet: {len(sup.space.groups)} elastic groups, "
        f"{sup.space.size()} subnets"
    )
    t_search = time.perf_counter()
    pareto = ofa.run_evolutionary_search(
        sup,
        loader_calibration,
        (train_loader, cfg.calib_batches),
        _eval_acc,
        (val_loader, cfg.eval_batches),
        "acc1",
        "max",
        parent_popu_size=cfg.parent_popu_size,
        iteration=cfg.iteration,
        mutate_size=cfg.mutate_size,
        mutate_prob=cfg.mutate_prob,
        crossover_size=cfg.crossover_size,
        min_latency=lo,
        max_latency=hi,
        latency_step=step,
        seed=cfg.seed,
        # the scores depend on the scoring data too: another held-out set or size gets its own file
        search_file=cache_dir
        / f"ofa-{label}-{key}-{_key([len(getattr(val_loader, 'dataset', ())), cfg.eval_batches, cfg.calib_batches])}.ofasearch",
    )
    search_s = time.perf_counter() - t_search
    records = list(ofa.last_search.seen.values())
    unpruned = ofa.unpruned_cycles()
    (stage / "subnets").mkdir(parents=True, exist_ok=True)
    from hwprune.emit.spec import save_spec

    for k, entry in pareto.items():
        static, _, _, _ = ofa.get_static_subnet(sup, entry["subnet_setting"])
        adaptive_bn(static, loader_calibration, (train_loader, cfg.calib_batches))
        if cfg.finetune_epochs:
            train(
                static,
                train_loader,
                cfg.finetune_epochs,
                lr=cfg.finetune_lr,
                seed=cfg.seed,
                progress=cfg.progress,
                device=cfg.device,
            )
            static.cpu()
        entry["test_acc"] = evaluate(static, test_loader, device=cfg.device)
        entry["finetune_epochs"] = cfg.finetune_epochs
        safe = k.replace("/", "_")
        save_spec(static, stage / "subnets" / f"{safe}.spec.json")
        save_state_dict(stage / "subnets" / f"{safe}.pt", static.state_dict())
        say(
            f"target {k}: {entry['latency_fraction']:.3f} of unpruned ({entry['latency_ms']:.4f} ms), "
            f"search acc {entry['acc1']:.4f}, test acc {entry['test_acc']:.4f}"
        )
    save_state_dict(stage / "supernet.pt", sup.state_dict())
    write_json(stage / "supernet.json", dict(sup.space.identity))
    save_subnet_config(pareto, stage / "pareto.json")
    plot_pareto(records, pareto, unpruned, stage / "pareto.png", f"{label} on {cfg.hw}")
    metrics = {
        "label": label,
        "hw": cfg.hw,
        "latency_range": [str(v) for v in cfg.latency],
        "baseline_test_acc": base_acc,
        "unpruned_cycles": unpruned,
        "elastic_groups": len(sup.space.groups),
        "subnets_in_space": sup.space.size(),
        "supernet_epochs": cfg.epochs,
        "supernet_train_seconds": train_s,
        "search_seconds": search_s,
        "evaluated_candidates": len(records),
        "history": history,
        "pareto": {k: {kk: v for kk, v in e.items() if kk != "subnet_setting"} for k, e in pareto.items()},
        "seconds": time.perf_counter() - t0,
    }
    write_json(stage / "metrics.json", metrics)
    rows = "\n".join(
        f"| {k} | {e['latency_fraction']:.3f} | {e['latency_ms']:.4f} | {e['latency_cycles_cycle_mode']} "
        f"| {e['macs'] / 1e6:.2f} | {e['params']} | {e['acc1']:.4f} | {e['test_acc']:.4f} |"
        for k, e in pareto.items()
    )
    atomic_write_text(
        stage / "report.md",
        f"""# OFA run: {label} on {cfg.hw}

Baseline test accuracy {base_acc:.4f}; unpruned latency {unpruned} cycles. Supernet: {len(sup.space.groups)}
elastic channel groups, expand ratios {list(cfg.expand_ratio)}, {cfg.epochs} epochs of sandwich training
({2 + cfg.n_random} subnets per batch, KD weight {cfg.kd_weight}) in {train_s:.0f} s; search: {len(records)}
candidates (adaptive BN on {cfg.calib_batches} training batches, scored on {len(getattr(val_loader, "dataset", ()))}
held-out training images) in {search_s:.0f} s.
Pareto subnets were calibrated{f", fine-tuned {cfg.finetune_epochs} epochs" if cfg.finetune_epochs else ""} and
evaluated on the whole test set.

| target | latency (fraction) | ms | cycles (cycle mode) | MMACs | params | search acc | test acc |
|---|---|---|---|---|---|---|---|
{rows}

![accuracy vs latency](pareto.png)
""",
    )
    return metrics
