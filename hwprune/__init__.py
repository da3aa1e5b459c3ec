"""hwprune: a hardware-aware model compression compiler for PyTorch CNNs.

Public names are imported lazily (PEP 562) so that ``import hwprune`` stays cheap and each stage of
the pipeline lives in its own module. The table below is the public API contract (shared/DESIGN.md).
"""

from __future__ import annotations

from hwmodel.lazy import lazy_api

__version__ = "0.1.0"

_API: dict[str, str] = {
    # frontend / IR
    "trace": "hwprune.frontend.trace:trace",
    "Traced": "hwprune.traced:Traced",
    "Graph": "hwprune.ir.graph:Graph",
    "verify": "hwprune.ir.verify:verify",
    # analysis
    "channel_groups": "hwprune.analysis.groups:channel_groups",
    "ChannelGroup": "hwprune.analysis.groups:ChannelGroup",
    "structure_hash": "hwprune.analysis.hashing:structure_hash",
    # pruning + emit
    "prune": "hwprune.pruning:prune",
    "prune_with_keep": "hwprune.pruning:prune_with_keep",
    "transform": "hwprune.pruning:transform",
    "get_slim_model": "hwprune.pruning:get_slim_model",
    # hardware-aware planning
    "simulate": "hwprune.lower.simulate:simulate",
    "simulate_graph": "hwprune.lower.simulate:simulate_graph",
    "plan": "hwprune.planning.planner:plan",
    "plan_graph": "hwprune.planning.planner:plan_graph",
    "Plan": "hwprune.planning.plan:Plan",
    "apply": "hwprune.planning.apply:apply",
    "apply_graph": "hwprune.planning.apply:apply_graph",
    "bake": "hwprune.transforms.nm:bake",
    "compress": "hwprune.pipeline:compress",
    # Vitis AI Optimizer style workflows
    "get_pruning_runner": "hwprune.vitis.runner:get_pruning_runner",
    "SparsePruner": "hwprune.vitis.sparse:SparsePruner",
    # once-for-all
    "OFAPruner": "hwprune.ofa.pruner:OFAPruner",
}

__all__ = [*_API, "errors", "models"]


__getattr__, __dir__ = lazy_api("hwprune", globals(), _API, ("errors", "models"))
