"""Supernet training: the sandwich rule with distillation from the original model.

Per batch (as Vitis AI's OFA and BigNAS): the largest subnet, ``n_random`` random ones and the
smallest each run forward and backward on the same batch, their gradients add up, the norm is clipped,
and one optimizer step follows. Each subnet's loss is cross-entropy plus ``kd_weight`` times the
KL divergence to the teacher's (the original model's) softened outputs.

The loop is :func:`hwprune.train.loop.train` (seeded, checkpoint every epoch and resume after a kill,
progress bars, data-parallel under ``torchrun``): random subnets are drawn from torch's global RNG,
which that loop seeds, checkpoints and restores, so a resumed run draws the same subnets and every
process of a data-parallel run draws the same ones. Gradients are averaged over processes once per
step (the first backward passes run under ``no_sync``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from hwprune.errors import TrainConfigError
from hwprune.ofa.supernet import OFASupernet
from hwprune.train.loop import train

__all__ = ["SandwichStep", "train_supernet", "supernet_identity"]


def supernet_identity(supernet: OFASupernet) -> str:
    """The string a supernet's checkpoints and search files are tied to (model structure + space)."""
    return json.dumps(dict(supernet.space.identity), sort_keys=True)


class SandwichStep:
    """One step's passes: max, min and ``n_random`` random subnets, KD + CE each, one clipped gradient.

    Args:
        supernet: the supernet being trained.
        teacher: the original model (eval mode, no gradients), or None for cross-entropy only.
        n_random: random subnets per batch.
        kd_weight: weight of the distillation term.
        temperature: softening of the distillation term.
        clip_grad: max gradient norm (None: no clipping).
    """

    def __init__(
        self,
        supernet: OFASupernet,
        teacher: nn.Module | None,
        *,
        n_random: int = 2,
        kd_weight: float = 1.0,
        temperature: float = 1.0,
        clip_grad: float | None = 5.0,
    ) -> None:
        self.supernet = supernet
        self.teacher = teacher
        self.n_random = n_random
        self.kd_weight = kd_weight
        self.temperature = temperature
        self.clip_grad = clip_grad
        self._n = torch.as_tensor(supernet.space.n_choices())

    def codes(self) -> list[torch.Tensor]:
        space = self.supernet.space
        rand = [
            (torch.rand(len(self._n)) * self._n).long().clamp_max(self._n - 1) for _ in range(self.n_random)
        ]
        # the smallest subnet runs last: it uses every kernel transform, and under DistributedDataParallel
        # only the last (synchronised) pass's parameters are reduced, so none of them may sit unused there
        return [torch.as_tensor(space.max_code()), *rand, torch.as_tensor(space.min_code())]

    def loss(self, out: torch.Tensor, y: torch.Tensor, soft: torch.Tensor | None) -> torch.Tensor:
        loss = F.cross_entropy(out, y)
        if soft is not None and self.kd_weight:
            t = self.temperature
            kd = F.kl_div(F.log_softmax(out / t, dim=1), soft, reduction="batchmean") * (t * t)
            loss = loss + self.kd_weight * kd
        return loss

    def __call__(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        soft = None
        if self.teacher is not None:
            with torch.no_grad():
                soft = F.softmax(self.teacher(x) / self.temperature, dim=1)
        codes = self.codes()
        first: tuple[torch.Tensor, torch.Tensor] | None = None
        try:
            for j, code in enumerate(codes):
                self.supernet.set_code(code.numpy())
                last = j == len(codes) - 1
                no_sync = getattr(net, "no_sync", None)  # DDP: reduce only at the last backward
                sync = contextlib.nullcontext() if last or no_sync is None else no_sync()
                with sync:
                    out = net(x)
                    loss = self.loss(out, y, soft)
                    if not torch.isfinite(loss):
                        return loss.detach(), out.detach()
                    loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
                if first is None:
                    first = (loss.detach(), out.detach())
        finally:
            self.supernet.set_code(self.supernet.space.max_code())
        if self.clip_grad is not None:
            nn.utils.clip_grad_norm_(self.supernet.parameters(), self.clip_grad)
        assert first is not None
        return first


def train_supernet(
    supernet: OFASupernet,
    loader: Any,
    epochs: int,
    *,
    teacher: nn.Module | None = None,
    lr: float = 0.05,
    optimizer: str = "sgd",
    weight_decay: float = 5e-4,
    scheduler: str | None = "cosine",
    device: str | torch.device = "cpu",
    progress: bool = True,
    seed: int = 0,
    n_random: int = 2,
    kd_weight: float = 1.0,
    temperature: float = 1.0,
    clip_grad: float | None = 5.0,
    steps_per_epoch: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    callback: Callable[[int, dict[str, float]], bool | None] | None = None,
) -> dict[str, Any]:
    """Train a supernet in place with the sandwich rule and distillation (see the module docstring).

    Args:
        supernet: from ``OFAPruner.ofa_model``.
        loader: yields ``(inputs, targets)``.
        epochs: passes over ``loader``.
        teacher: the original model to distil from (copied, eval mode); None: cross-entropy only.
        lr / optimizer / weight_decay / scheduler / device / progress / seed / steps_per_epoch: as
            :func:`hwprune.train.loop.train`.
        n_random: random subnets per batch besides the largest and the smallest.
        kd_weight / temperature: the distillation term.
        clip_grad: max gradient norm, or None.
        checkpoint: written every epoch; an existing one (of this supernet) is resumed, one of another
            model or supernet is refused (:class:`TrainConfigError`).
        callback: ``callback(epoch, stats)`` after each epoch (after its checkpoint); True stops.

    Returns:
        The loop's history (losses and accuracies of the largest subnet per epoch, steps, seconds).

    Raises:
        TrainConfigError: bad arguments, divergence, or a checkpoint of another supernet.
    """
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 0:
        raise TrainConfigError(f"n_random must be an int >= 0, got {n_random!r}")
    if clip_grad is not None and not clip_grad > 0:
        raise TrainConfigError(f"clip_grad must be positive or None, got {clip_grad!r}")
    dev = torch.device(device)
    t = None
    if teacher is not None:
        t = copy.deepcopy(teacher).to(dev).eval()
        for p in t.parameters():
            p.requires_grad_(False)
    step = SandwichStep(
        supernet, t, n_random=n_random, kd_weight=kd_weight, temperature=temperature, clip_grad=clip_grad
    )
    return train(
        supernet,
        loader,
        epochs,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        scheduler=scheduler,
        device=dev,
        progress=progress,
        seed=seed,
        steps_per_epoch=steps_per_epoch,
        checkpoint=checkpoint,
        step_fn=step,
        checkpoint_meta=supernet_identity(supernet),
        callback=callback,
    )
