"""``hwprune.simulate``: trace a model, lower it, and simulate it on modelled hardware."""

from __future__ import annotations

import os
from typing import Any

import hwmodel
from hwmodel.api import resolve_config
from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.errors import ConfigError
from hwprune.errors import HardwareError
from hwprune.lower.lower import lower

__all__ = ["simulate", "resolve_hw"]


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
             mode: str = "cycle", graph=None, name: str | None = None) -> hwmodel.NetworkReport:
    """Simulate ``model`` on ``hw``; layer names in the report are the model's module names.

    Args:
        model: an ``nn.Module`` (never modified).
        example_inputs: a tensor or tuple of tensors; latency is per sample.
        hw: preset name, config file or :class:`AcceleratorConfig`.
        mode: "cycle" (cycle-accurate) or "analytic" (closed form).
        graph: an already traced graph of ``model`` (skips tracing).
        name: the network's name in reports (default: the model's class name).

    Returns:
        The :class:`hwmodel.NetworkReport`.
    """
    from hwprune.frontend.trace import trace

    cfg = resolve_hw(hw)
    g = graph if graph is not None else trace(model, example_inputs)
    layers = [lw.layer for lw in lower(g)]
    return hwmodel.simulate(layers, cfg, mode=mode, name=name or type(model).__name__)
