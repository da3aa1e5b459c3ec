"""hwmodel: a cycle-accurate model of systolic-array and DPU-like accelerators with N:M sparse engines.

Knows nothing of PyTorch. Public names are imported lazily (PEP 562); the table is the contract.
"""

from __future__ import annotations

from hwmodel.lazy import lazy_api

__version__ = "0.1.0"

_API: dict[str, str] = {
    "AcceleratorConfig": "hwmodel.config.accelerator:AcceleratorConfig",
    "preset": "hwmodel.config.presets:preset",
    "list_presets": "hwmodel.config.presets:list_presets",
    "load_config": "hwmodel.config.files:load_config",
    "Layer": "hwmodel.workloads.layers:Layer",
    "LayerKind": "hwmodel.workloads.layers:LayerKind",
    "NMPattern": "hwmodel.workloads.layers:NMPattern",
    "LayerSparsity": "hwmodel.workloads.layers:LayerSparsity",
    "SparseEngine": "hwmodel.config.sparse:SparseEngine",
    "read_topology": "hwmodel.workloads.topology:read_topology",
    "simulate": "hwmodel.api:simulate",
    "estimate": "hwmodel.api:estimate",
    "layer_cycles": "hwmodel.api:layer_cycles",
    "LayerReport": "hwmodel.reports.model:LayerReport",
    "NetworkReport": "hwmodel.reports.model:NetworkReport",
}

__all__ = [*_API, "errors"]


__getattr__, __dir__ = lazy_api("hwmodel", globals(), _API, ("errors",))
