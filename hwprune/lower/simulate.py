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
from hwprune.ir.graph import Graph
from hwprune.lower.lower import Lowering, Unmodelled, lower_graph, unmodelled_message

__all__ = ["simulate", "simulate_graph", "resolve_hw", "check_unmodelled"]


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


def resolve_hw(hw: str | os.PathLike[str] | AcceleratorConfig) -> AcceleratorConfig:
    """An :class:`AcceleratorConfig` from a preset name, a config file (.toml/.json/.cfg) or a config.

    Raises:
        HardwareError: the name is neither a preset nor a readable config file.
    """
    try:
        return resolve_config(hw)
    except ConfigError as e:
        raise HardwareError(f"hardware {str(hw)!r}: {e}") from e


def simulate_graph(
    graph: Graph,
    hw: str | AcceleratorConfig = "dpu-b4096",
    *,
    mode: str = "cycle",
    name: str | None = None,
    strict: bool = False,
    progress: bool = False,
    lowering: Lowering | None = None,
) -> hwmodel.NetworkReport:
    """:func:`simulate` of an IR graph (traced, or pruned and N:M-annotated by ``apply_ir``);
    ``lowering`` is the graph's lowering when the caller has it already."""
    cfg = resolve_hw(hw)
    lowering = lower_graph(graph) if lowering is None else lowering
    check_unmodelled(lowering.unmodelled, strict=strict, stacklevel=4)
    layers = [lw.layer for lw in lowering.layers]
    model_class = graph.source.model_class if graph.source is not None else "network"
    rep = hwmodel.simulate(layers, cfg, mode=mode, name=name or model_class, progress=progress)
    notes = tuple(f"not modelled: {u.name} ({u.op}): {u.why}" for u in lowering.unmodelled)
    return dataclasses.replace(rep, notes=rep.notes + notes) if notes else rep


def simulate(
    model: Any,
    example_inputs: Any,
    hw: str | AcceleratorConfig = "dpu-b4096",
    *,
    mode: str = "cycle",
    graph: Graph | None = None,
    name: str | None = None,
    strict: bool = False,
    progress: bool = False,
) -> hwmodel.NetworkReport:
    """Simulate ``model`` on ``hw``; layer names in the report are the model's module names.

    Args:
        model: an ``nn.Module`` (never modified), or a :class:`hwprune.Traced` of it.
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
    if graph is not None:
        return simulate_graph(
            graph, hw, mode=mode, name=name or type(model).__name__, strict=strict, progress=progress
        )
    from hwprune.traced import as_traced

    t = as_traced(model, example_inputs)
    return simulate_graph(
        t.graph,
        hw,
        mode=mode,
        name=name or type(t.model).__name__,
        strict=strict,
        progress=progress,
        lowering=t.lowering,
    )
