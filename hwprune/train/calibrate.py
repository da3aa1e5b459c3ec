"""Adaptive batch-norm calibration (EagleEye, Li et al. 2020).

A pruned subnet inherits batch-norm statistics measured on the full network; they no longer match
the activations it produces, so its accuracy before fine-tuning says little about its accuracy after.
Re-estimating the statistics on a few training batches, with no weight update, fixes that and makes
the calibrated accuracy a good predictor of the fine-tuned one. Steps: reset every BN's running
mean/var, switch its momentum to ``None`` (a cumulative average over the batches seen), run the
calibration batches with only the BN layers in train mode and no gradients, then restore modes and
momenta.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from hwprune.runtime.userfn import as_args, call_calibration

__all__ = ["batchnorm_layers", "reset_bn_stats", "adaptive_bn", "loader_calibration"]

_BatchNorm = nn.modules.batchnorm._BatchNorm  # BatchNorm1d/2d/3d and SyncBatchNorm


def batchnorm_layers(model: nn.Module) -> list[tuple[str, _BatchNorm]]:
    """The model's batch-norm modules that track running statistics, as ``(name, module)``."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats and m.running_mean is not None
    ]


def reset_bn_stats(model: nn.Module) -> int:
    """Reset running statistics and batch counters of every batch-norm in ``model`` (in place).

    Returns:
        How many layers were reset.
    """
    layers = batchnorm_layers(model)
    for _, bn in layers:
        bn.reset_running_stats()
    return len(layers)


def loader_calibration(model: nn.Module, loader: Iterable[Any], num_batches: int | None = None) -> None:
    """A ready-made ``calibration_fn``: forward ``num_batches`` batches of ``loader`` through ``model``.

    A batch may be a tensor or a ``(inputs, targets, ...)`` tuple/list, whose first item is used.

    Args:
        model: the model (its modes are set by :func:`adaptive_bn`).
        loader: an iterable of batches.
        num_batches: how many batches to use; all of them if None.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    for i, batch in enumerate(loader):
        if num_batches is not None and i >= num_batches:
            break
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        model(x.to(device))


def adaptive_bn(
    model: nn.Module,
    calibration_fn: Callable[..., Any] = loader_calibration,
    calib_args: Sequence[Any] = (),
    *,
    where: str = "",
) -> nn.Module:
    """Re-estimate the batch-norm statistics of ``model`` in place and return it in eval mode.

    Args:
        model: the (pruned) model to calibrate; modified in place.
        calibration_fn: called as ``calibration_fn(model, *calib_args)``; runs forward passes
            (e.g. :func:`loader_calibration` with ``calib_args=(loader, 10)``).
        calib_args: extra arguments for ``calibration_fn``.
        where: what is being calibrated, for error messages.

    Returns:
        ``model``, in eval mode, with fresh BN statistics and the original BN momenta.

    Raises:
        EvalFnError: ``calibration_fn`` raised; the model's modes and momenta are restored.
    """
    calib_args = as_args(calib_args, "calib_args")
    layers = batchnorm_layers(model)
    momenta = [bn.momentum for _, bn in layers]
    for _, bn in layers:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average over every calibration batch
    model.eval()
    for _, bn in layers:
        bn.train()  # only BN: dropout and friends keep their inference behaviour
    try:
        with torch.no_grad():
            call_calibration(calibration_fn, model, calib_args, where=where)
    finally:
        for (_, bn), momentum in zip(layers, momenta, strict=True):
            bn.momentum = momentum
        model.eval()
    return model
