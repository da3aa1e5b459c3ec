"""Graph (pruned or not) + the original weights -> a ``torch.fx.GraphModule`` with real smaller layers."""

from __future__ import annotations

import copy
from typing import Any

from torch import fx

from hwprune.emit.rules import EmitCtx, get_attr
from hwprune.errors import HwPruneError
from hwprune.ir.graph import Graph
from hwprune.ir.handlers import lookup

__all__ = ["emit"]


def emit(graph: Graph, *, class_name: str | None = None) -> fx.GraphModule:
    """Build the slim model described by ``graph``.

    Args:
        graph: a graph from ``hwprune.trace`` or ``prune_channels`` (it must keep its ``source``).
        class_name: class name of the emitted module (default ``Slim<ModelClass>``).

    Returns:
        A new ``GraphModule``; its parameters are fresh tensors (never shared with the user's model) and
        its state_dict keys are the original module names.

    Raises:
        HwPruneError: the graph has no source module to take weights from.
    """
    if graph.source is None:
        raise HwPruneError("this graph has no source module (was it built by hand?); emit graphs from hwprune.trace")
    src = graph.source.gm
    new_graph = fx.Graph()
    val_map: dict[fx.Node, fx.Node] = {}
    out = new_graph.graph_copy(src.graph, val_map)
    new_graph.output(out)
    nodes = {old.name: new for old, new in val_map.items()}
    ctx = EmitCtx(graph, src, nodes, {})
    for op in graph.ops:
        lookup("emit", op.kind)(op, ctx)
    root: dict[str, Any] = ctx.root
    for node in new_graph.nodes:
        if node.op in ("call_module", "get_attr") and node.target not in root:
            obj = src.get_submodule(node.target) if node.op == "call_module" else get_attr(src, node.target)
            root[node.target] = copy.deepcopy(obj)
    new_graph.lint()
    name = class_name or f"Slim{graph.source.model_class}"
    gm = fx.GraphModule(root, new_graph, class_name=name)
    gm.train(src.training)
    return gm
