"""hwmodel: a cycle-accurate model of systolic-array and DPU-like accelerators with N:M sparse engines.

Knows nothing of PyTorch. Public names are imported lazily (PEP 562); the table is the contract.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API: dict[str, str] = {
    "AcceleratorConfig": "hwmodel.config.accelerator:AcceleratorConfig",
    "preset": "hwmodel.config.presets:preset",
    "list_presets": "hwmodel.config.presets:list_presets",
    "load_config": "hwmodel.config.loaders:load_config",
    "Layer": "hwmodel.workloads.layers:Layer",
    "LayerKind": "hwmodel.workloads.layers:LayerKind",
    "NMPattern": "hwmodel.workloads.layers:NMPattern",
    "read_topology": "hwmodel.workloads.topology:read_topology",
    "simulate": "hwmodel.api:simulate",
    "estimate": "hwmodel.api:estimate",
    "layer_cycles": "hwmodel.api:layer_cycles",
    "LayerReport": "hwmodel.reports.model:LayerReport",
    "NetworkReport": "hwmodel.reports.model:NetworkReport",
}

__all__ = [*_API, "errors"]


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("hwmodel.errors")
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'hwmodel' has no attribute {name!r}")
    module, attr = target.split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
