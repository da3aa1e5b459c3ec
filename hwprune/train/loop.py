"""A small, seeded training and evaluation loop for fine-tuning pruned models.

``train`` changes only the model it is given: the global torch RNG is forked, a loader's own
shuffling generator is reseeded for the run and restored afterwards, and the model's train/eval
mode is restored on return. A ``post_step`` hook runs after every optimizer step, so masked
fine-tuning can re-apply N:M masks. ``torch.set_num_threads`` is left to the caller.

Inside a process group of more than one process (``torchrun``, see ``hwprune.train.device``) ``train``
runs data-parallel: the model is wrapped in ``DistributedDataParallel`` for the run and the loader is
rebuilt over the same dataset with a ``DistributedSampler``, so each process sees its share of every
epoch; the per-epoch statistics are summed over the processes, and at the end every process takes
rank 0's parameters and buffers (BN running statistics are gathered per process).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, RandomSampler
from tqdm.auto import tqdm

from hwprune.errors import TrainConfigError
from hwprune.train.data import AnyLoader
from hwprune.train.device import is_distributed

__all__ = ["train", "evaluate", "OPTIMIZERS", "SCHEDULERS"]

OptimizerFactory = Callable[[list[nn.Parameter], float, float, float], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer, int], "torch.optim.lr_scheduler.LRScheduler | None"]

_T = TypeVar("_T")
OPTIMIZERS: dict[str, OptimizerFactory] = {}
SCHEDULERS: dict[str, SchedulerFactory] = {}


def _optimizer(name: str) -> Callable[[OptimizerFactory], OptimizerFactory]:
    def deco(fn: OptimizerFactory) -> OptimizerFactory:
        OPTIMIZERS[name] = fn
        return fn

    return deco


def _scheduler(name: str) -> Callable[[SchedulerFactory], SchedulerFactory]:
    def deco(fn: SchedulerFactory) -> SchedulerFactory:
        SCHEDULERS[name] = fn
        return fn

    return deco


@_optimizer("sgd")
def _sgd(
    params: list[nn.Parameter], lr: float, weight_decay: float, momentum: float
) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


@_optimizer("adam")
def _adam(
    params: list[nn.Parameter], lr: float, weight_decay: float, momentum: float
) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


@_optimizer("adamw")
def _adamw(
    params: list[nn.Parameter], lr: float, weight_decay: float, momentum: float
) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


@_scheduler("cosine")
def _cosine(opt: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps))


@_scheduler("none")
def _constant(opt: torch.optim.Optimizer, total_steps: int) -> None:
    return None


def _lookup(table: dict[str, _T], what: str, name: str | None) -> _T:
    key = "none" if name is None else name
    if key not in table:
        raise TrainConfigError(f"unknown {what} {name!r}; choose one of: {', '.join(table)}")
    return table[key]


def _progress_enabled(progress: bool) -> bool:
    return progress and sys.stderr.isatty()


@contextlib.contextmanager
def _seeded(seed: int, loader: AnyLoader, device: torch.device) -> Iterator[None]:
    """Fork the global RNG (and the loader's own generator) so a run depends on ``seed`` only."""
    devices = [device.index or 0] if device.type == "cuda" else []
    gen = _generator(loader)
    saved = gen.get_state() if gen is not None else None
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            if gen is not None:
                gen.manual_seed(seed)
            yield
    finally:
        if gen is not None and saved is not None:
            gen.set_state(saved)


def _generator(loader: AnyLoader) -> torch.Generator | None:
    """The loader's own shuffling generator, if it has one."""
    gen = getattr(loader, "generator", None)
    return gen if isinstance(gen, torch.Generator) else None


def _length(loader: AnyLoader) -> int | None:
    try:
        return len(loader)
    except TypeError:  # an IterableDataset without __len__
        return None


def _batches(loader: AnyLoader, limit: int | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for i, batch in enumerate(loader):
        if limit is not None and i >= limit:
            return
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise TrainConfigError("the loader must yield (inputs, targets) batches")
        yield batch[0], batch[1]


def _distributed_loader(loader: AnyLoader, seed: int) -> tuple[AnyLoader, DistributedSampler[Any]]:
    """The same dataset and batching, sharded over the processes (shuffled iff ``loader`` shuffles)."""
    if isinstance(loader.dataset, IterableDataset) or loader.batch_size is None:
        raise TrainConfigError(
            "data-parallel training needs a DataLoader over a map-style dataset with a "
            "batch_size (no IterableDataset or custom batch_sampler)"
        )
    sampler: DistributedSampler[Any] = DistributedSampler(
        loader.dataset, shuffle=isinstance(loader.sampler, RandomSampler), seed=seed
    )
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
    ), sampler


def _summed(*values: float, device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _save_checkpoint(
    path: str | os.PathLike[str],
    epoch: int,
    steps: int,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    gen: torch.Generator | None,
    history: dict[str, list[float]],
    epochs: int,
    meta: str | None = None,
) -> None:
    from hwprune.io import save_state_dict

    save_state_dict(
        path,
        {
            "epoch": epoch,
            "epochs": epochs,
            "steps": steps,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None,
            "rng": torch.get_rng_state(),
            "generator": gen.get_state() if isinstance(gen, torch.Generator) else None,
            "history": history,
            "meta": meta,
        },
    )


def _resume(
    path: str | os.PathLike[str],
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    gen: torch.Generator | None,
    epochs: int,
    meta: str | None = None,
) -> tuple[int, int, dict[str, list[float]]]:
    """Load a checkpoint of :func:`_save_checkpoint`; returns (first epoch to run, steps, history)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if ck.get("meta") != meta:
            raise TrainConfigError(
                f"checkpoint {path} was written for another model or setup ({ck.get('meta')!r:.120}, "
                f"this run: {meta!r:.120}); delete it to start over"
            )
        if ck["epochs"] != epochs:
            raise TrainConfigError(
                f"checkpoint {path} is for {ck['epochs']} epochs, this run trains {epochs}; "
                "delete it to start over"
            )
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if sched is not None and ck["scheduler"] is not None:
            sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng"])
        if isinstance(gen, torch.Generator) and ck["generator"] is not None:
            gen.set_state(ck["generator"])
    except TrainConfigError:
        raise
    except Exception as e:  # a truncated or foreign file: never train on top of half a state
        raise TrainConfigError(
            f"checkpoint {path} cannot be resumed ({type(e).__name__}: {e}); delete it to start over"
        ) from e
    return int(ck["epoch"]) + 1, int(ck["steps"]), {k: list(v) for k, v in ck["history"].items()}


def _broadcast_state(model: nn.Module) -> None:
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            dist.broadcast(t.data, src=0)


def _check_args(epochs: Any, lr: float, steps_per_epoch: int | None) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise TrainConfigError(f"epochs must be an int >= 0, got {epochs!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise TrainConfigError(f"lr must be a positive finite number, got {lr!r}")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise TrainConfigError(f"steps_per_epoch must be >= 1 or None, got {steps_per_epoch!r}")


def _epoch(
    net: nn.Module,
    model: nn.Module,
    bar: Any,
    opt: torch.optim.Optimizer,
    sched: Any,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    step_fn: Any,
    post_step: Callable[[nn.Module], None] | None,
    dev: torch.device,
    epoch: int,
    steps: int,
) -> tuple[float, int, int, int]:
    """One pass over the batches of ``bar``: (summed loss, correct, seen, steps so far)."""
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in bar:
        x, y = x.to(dev), y.to(dev)
        opt.zero_grad(set_to_none=True)
        if step_fn is None:
            out = net(x)
            loss = loss_fn(out, y)
        else:  # the caller's step computes (and back-propagates) its own loss
            loss, out = step_fn(net, x, y)
        if not torch.isfinite(loss):
            raise TrainConfigError(
                f"training diverged: loss is {loss.item()} at epoch {epoch + 1}, step {steps + 1}; "
                f"lower lr (now {opt.param_groups[0]['lr']:.3g}) or check the data"
            )
        if step_fn is None:
            loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
        opt.step()
        if post_step is not None:
            post_step(model)
        if sched is not None:
            sched.step()
        steps += 1
        total_loss += loss.item() * len(y)
        correct += int((out.argmax(1) == y).sum()) if out.dim() == 2 else 0
        seen += len(y)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return total_loss, correct, seen, steps


def train(
    model: nn.Module,
    loader: AnyLoader,
    epochs: int,
    lr: float = 0.05,
    optimizer: str = "sgd",
    weight_decay: float = 5e-4,
    scheduler: str | None = "cosine",
    device: str | torch.device = "cpu",
    progress: bool = True,
    callback: Callable[[int, dict[str, float]], bool | None] | None = None,
    post_step: Callable[[nn.Module], None] | None = None,
    seed: int = 0,
    momentum: float = 0.9,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    steps_per_epoch: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    step_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    | None = None,
    checkpoint_meta: str | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place with cross-entropy (or ``loss_fn``).

    Args:
        model: The model to train; moved to ``device``. Its train/eval mode is restored on return.
        loader: Yields ``(inputs, targets)``; not mutated (its shuffling generator is restored).
        epochs: Passes over ``loader``.
        lr: Peak learning rate.
        optimizer: A key of ``OPTIMIZERS``: ``"sgd"`` (momentum), ``"adam"`` or ``"adamw"``.
        weight_decay: L2 penalty / decoupled weight decay.
        scheduler: A key of ``SCHEDULERS``: ``"cosine"`` (per step, to zero) or ``"none"``/``None``.
        device: Where to train. Under ``torchrun`` (a process group of more than one process) training
            is data-parallel; each process passes its own device.
        progress: Show tqdm bars (only when stderr is a terminal).
        callback: ``callback(epoch, stats)`` after each epoch with the epoch's ``loss``, ``accuracy``
            and ``lr``; returning ``True`` stops training.
        post_step: ``post_step(model)`` after every optimizer step (e.g. re-apply N:M masks).
        seed: Seeds dropout, shuffling and everything else random in the run.
        momentum: SGD momentum.
        loss_fn: ``loss_fn(logits, targets) -> scalar``; cross-entropy by default.
        steps_per_epoch: Stop each epoch after this many batches (quick fine-tuning).
        checkpoint: A file written (atomically) after every epoch with the model, optimizer,
            scheduler and RNG states; if it exists when training starts, training resumes after its
            last epoch and ends with the same weights as an uninterrupted run. Deleted when all
            epochs have run (kept when ``callback`` stopped training early).
        step_fn: ``step_fn(net, x, y) -> (loss, logits)`` runs one step's forward and backward passes
            (several, e.g. OFA's sandwich rule; ``net`` is the DDP wrapper when data-parallel), after
            ``zero_grad`` and before the optimizer step, instead of one forward, ``loss_fn`` and backward.
        checkpoint_meta: a string identifying what is trained (e.g. a supernet's identity); a
            checkpoint written with another one is refused instead of resumed.

    Returns:
        ``{"epochs", "steps", "loss", "accuracy", "lr", "seconds", "stopped_early"}``; ``loss``,
        ``accuracy`` (training top-1 seen during the epoch) and ``lr`` are per-epoch lists.

    Raises:
        TrainConfigError: Bad arguments, no trainable parameters, or a non-finite loss.
    """
    _check_args(epochs, lr, steps_per_epoch)
    make_opt = _lookup(OPTIMIZERS, "optimizer", optimizer)
    make_sched = _lookup(SCHEDULERS, "scheduler", scheduler)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainConfigError(
            f"{type(model).__name__} has no trainable parameters; unfreeze some before training"
        )
    dev = torch.device(device)
    loss_fn = loss_fn or nn.functional.cross_entropy
    was_training = model.training
    model.to(dev)
    net: nn.Module = model
    sampler: DistributedSampler[Any] | None = None
    if is_distributed():
        from torch.nn.parallel import DistributedDataParallel

        loader, sampler = _distributed_loader(loader, seed)
        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    n = _length(loader)
    batches_per_epoch = steps_per_epoch if n is None else min(n, steps_per_epoch or n)
    opt = make_opt(params, lr, weight_decay, momentum)
    sched = make_sched(opt, epochs * (batches_per_epoch or 1))
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "lr": []}
    steps, stopped, start = 0, False, time.perf_counter()
    first = 0
    gen = _generator(loader)
    lead = sampler is None or dist.get_rank() == 0  # one process writes checkpoints and log lines
    plain = progress and lead and not sys.stderr.isatty()  # a log file gets one line per epoch, not bars
    try:
        with _seeded(seed, loader, dev):
            if checkpoint is not None and Path(checkpoint).is_file():
                first, steps, history = _resume(checkpoint, model, opt, sched, gen, epochs, checkpoint_meta)
            model.train()
            for epoch in range(first, epochs):
                if sampler is not None:
                    sampler.set_epoch(epoch)
                bar = tqdm(
                    _batches(loader, steps_per_epoch),
                    total=batches_per_epoch,
                    desc=f"epoch {epoch + 1}/{epochs}",
                    leave=False,
                    disable=not _progress_enabled(progress),
                )
                total_loss, correct, seen, steps = _epoch(
                    net, model, bar, opt, sched, loss_fn, step_fn, post_step, dev, epoch, steps
                )
                if sampler is not None:
                    total_loss, all_correct, all_seen = _summed(total_loss, correct, seen, device=dev)
                    correct, seen = int(all_correct), int(all_seen)  # exact: counts summed in float64
                if seen == 0:
                    raise TrainConfigError("the loader yielded no batches; check the dataset and batch size")
                stats = {
                    "loss": total_loss / seen,
                    "accuracy": correct / seen,
                    "lr": opt.param_groups[0]["lr"],
                }
                for key, value in stats.items():
                    history[key].append(value)
                if checkpoint is not None and lead:
                    _save_checkpoint(
                        checkpoint, epoch, steps, model, opt, sched, gen, history, epochs, checkpoint_meta
                    )
                if plain:
                    print(
                        f"[hwprune] epoch {epoch + 1}/{epochs}: loss {stats['loss']:.4f}, train accuracy "
                        f"{stats['accuracy']:.4f}, {time.perf_counter() - start:.1f}s",
                        file=sys.stderr,
                        flush=True,
                    )
                if callback is not None and callback(epoch, stats) is True:
                    stopped = True
                    break
    finally:
        model.train(was_training)
    if sampler is not None:  # BN statistics are per process: every process keeps rank 0's
        _broadcast_state(model)
    if checkpoint is not None and lead and not stopped:  # a run stopped early can still be resumed
        with contextlib.suppress(FileNotFoundError):
            os.unlink(checkpoint)
    return {
        "epochs": len(history["loss"]),
        "steps": steps,
        **history,
        "seconds": time.perf_counter() - start,
        "stopped_early": stopped,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: AnyLoader, device: str | torch.device = "cpu", progress: bool = False
) -> float:
    """Top-1 accuracy of ``model`` over ``loader``.

    Args:
        model: A classifier returning ``(N, classes)`` logits; evaluated in eval mode, then its mode
            is restored. It is moved to ``device``.
        loader: Yields ``(inputs, targets)``.
        device: Where to evaluate.
        progress: Show a tqdm bar (only when stderr is a terminal).

    Returns:
        Accuracy in [0, 1].

    Raises:
        TrainConfigError: The loader is empty or yields malformed batches.
    """
    dev = torch.device(device)
    was_training = model.training
    model.to(dev).eval()
    correct = seen = 0
    try:
        for x, y in tqdm(
            _batches(loader, None),
            total=_length(loader),
            desc="eval",
            leave=False,
            disable=not _progress_enabled(progress),
        ):
            out = model(x.to(dev))
            correct += int((out.argmax(1) == y.to(dev)).sum())
            seen += len(y)
    finally:
        model.train(was_training)
    if seen == 0:
        raise TrainConfigError("evaluate: the loader yielded no batches; check the dataset and batch size")
    return correct / seen
