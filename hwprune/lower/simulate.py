"""``hwprune.simulate``: trace a model, lower it, and simulate it on modelled hardware."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from typing import Any

import hwmodel
from hwmodel.api import resolve_config
from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.errors import ConfigError
from hwprune.errors import HardwareError, UnmodelledOpWarning, UnsupportedOpError
from hwprune.lower.lower import Unmodelled, lower_graph, unmodelled_message

__all__ = ["simulate", "resolve_hw", "check_unmodelled"]


def check_unmodelled(unmodelled: Sequence[Unmodelled], *, strict: bool, stacklevel: int = 3) -> None:
    """Warn (:class:`UnmodelledOpWarning`) about ops without a cost model, or raise when ``strict``.

    Raises:
        UnsupportedOpError: ``strict`` and at least one op is not modelled.
    """
    if not unmodelled:
        return
    msg = unmodelled_message(unmodelled)
    if strict:
        raise UnsupportedOpError(msg.replace("(strict mode makes this an error)", "(strict mode is on)"))
    warnings.warn(msg, UnmodelledOpWarning, stacklevel=stacklevel)


def resolve_hw(hw: str | os.PathLike | AcceleratorConfig) -> AcceleratorConfig:
    """An :class:`AcceleratorConfig` from a preset name, a config file (.toml/.json/.cfg) or a config.

    Raises:
        HardwareError: the name is neither a preset nor a readable config file.
    """
    try:
        return resolve_config(hw)
    except ConfigError as e:
        raise HardwareError(f"hardware {str(hw)!r}: {e}") from e


def simulate(model: Any, example_inputs: Any, hw: str | AcceleratorConfig = "dpu-b4096", *,
             mode: str = "cycle", graph=None, name: str | None = None, strict: bool = False,
             progress: bool = False) -> hwmodel.NetworkReport:
    """Simulate ``model`` on ``hw``; layer names in the report are the model's module names.

    Args:
        model: an ``nn.Module`` (never modified).
        example_inputs: a tensor or tuple of tensors; latency is per sample.
        hw: preset name, config file or :class:`AcceleratorConfig`.
        mode: "cycle" (cycle-accurate) or "analytic" (closed form).
        graph: an already traced graph of ``model`` (skips tracing).
        name: the network's name in reports (default: the model's class name).
        strict: raise when an op has no cost model (else warn and list it in ``report.notes``).
        progress: print a progress line to stderr every few seconds of a long run.

    Returns:
        The :class:`hwmodel.NetworkReport`; ``notes`` lists every op that has no cost model.

    Raises:
        UnsupportedOpError: ``strict`` and some op has no cost model.
    """
    from hwprune.frontend.trace import trace

    cfg = resolve_hw(hw)
    g = graph if graph is not None else trace(model, example_inputs)
    lowering = lower_graph(g)
    check_unmodelled(lowering.unmodelled, strict=strict)
    layers = [lw.layer for lw in lowering.layers]
    rep = hwmodel.simulate(layers, cfg, mode=mode, name=name or type(model).__name__, progress=progress)
    notes = tuple(f"not modelled: {u.name} ({u.op}): {u.why}" for u in lowering.unmodelled)
    return dataclasses.replace(rep, notes=rep.notes + notes) if notes else rep
