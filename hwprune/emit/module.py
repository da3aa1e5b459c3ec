"""Graph (pruned or not) + the original weights -> a ``torch.fx.GraphModule`` with real smaller layers."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import fx, nn

from hwprune.emit.rules import EmitCtx, get_attr
from hwprune.errors import HwPruneError, VerifyError
from hwprune.ir.graph import Graph
from hwprune.ir.handlers import lookup
from hwprune.ir.kinds import OpKind

__all__ = ["emit", "check_emitted"]


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
        raise HwPruneError(
            "this graph has no source module (was it built by hand?); emit graphs from hwprune.trace"
        )
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
    check_emitted(graph, gm)
    return gm


def check_emitted(graph: Graph, gm: nn.Module) -> None:
    """Check that every conv/linear module of ``gm`` has the channels its IR op says (emit's own check).

    Raises:
        VerifyError: a module's weight disagrees with its op, naming both.
    """
    for op in graph.ops_of(OpKind.CONV, OpKind.LINEAR):
        node = graph.source.nodes.get(op.node) if graph.source is not None else None
        if node is None or node.op != "call_module":
            continue  # functional ops take their weights from a parameter the flow already checked
        w = getattr(gm.get_submodule(op.target), "weight", None)
        if not isinstance(w, torch.Tensor):
            continue
        if op.kind is OpKind.LINEAR:
            want = (op.attr("out_features"), op.attr("in_features"))
        else:
            want = (op.attr("out_channels"), op.attr("in_channels") // op.attr("groups"))
        if tuple(w.shape[:2]) != want:
            raise VerifyError(
                f"emitted module {op.target!r} ({op.kind.value}) has a weight of shape "
                f"{tuple(w.shape)}, but its IR op says {want[0]} outputs x {want[1]} inputs; "
                "this is a bug in hwprune's emit rules, please report it"
            )
