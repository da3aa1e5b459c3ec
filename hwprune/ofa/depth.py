"""Elastic depth: residual blocks ``y = x + f(x)`` whose identity path lets the block be skipped.

A block is skippable when one operand of an elementwise add is the block input ``x`` itself (no
conv or other op on the identity path) and the other, ``f(x)``, is computed only from ``x`` by ops
used nowhere else; skipping the block makes the add return ``x`` (what follows the add, e.g. a
ReLU, still runs). In the supernet the last op of ``f`` is gated to zero by a forward hook (exactly
``x + 0``); the static subnet drops ``f`` and the add from the emitted graph; the latency tables
drop the lowered layers of ``f`` and of the add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind

__all__ = ["SkipBlock", "find_skip_blocks", "drop_blocks", "DepthGate"]


@dataclass(frozen=True, slots=True)
class SkipBlock:
    """A residual block that may be skipped.

    Attributes:
        add: the add op's name (the setting's key).
        node: its fx node name.
        identity: the fx node name of the identity operand ``x``.
        branch: names of the ops computing ``f(x)``.
        gate: module path of the op producing ``f(x)`` (gated by a forward hook in the supernet).
    """

    add: str
    node: str
    identity: str
    branch: tuple[str, ...]
    gate: str


def _branch(graph: Graph, start: str, stop: str) -> set[str] | None:
    """Ops computing value ``start`` from value ``stop`` only, or None if something else feeds them."""
    ops: set[str] = set()
    todo = [start]
    while todo:
        v = todo.pop()
        if v == stop:
            continue
        try:
            op = graph.producer(v)
        except KeyError:
            return None
        if op.name in ops:
            continue
        if op.kind in (OpKind.INPUT, OpKind.OPAQUE):
            return None
        ops.add(op.name)
        todo.extend(i for i in op.inputs if graph.value(i).is_tensor)
    return ops


def find_skip_blocks(graph: Graph, excludes: Sequence[str] = ()) -> tuple[SkipBlock, ...]:
    """The skippable residual blocks of ``graph``, in graph order (see the module docstring); a block
    with an excluded module in its branch is not skippable."""
    calls: dict[str, int] = {}
    for op in graph.ops:
        if graph.module(op.name) is not None and op.kind not in (OpKind.INPUT, OpKind.OUTPUT):
            calls[op.target] = calls.get(op.target, 0) + 1
    out = []
    for op in graph.ops_of(OpKind.ADD):
        tensors = graph.tensor_inputs(op)
        if (
            len(tensors) != 2
            or len(set(tensors)) != 2
            or "sub" in op.target
            or op.attr("alpha", 1) not in (1, None)
        ):
            continue  # x - f(x) or f(x) - x: skipping would not return x
        if graph.value(tensors[0]).shape != graph.value(tensors[1]).shape:
            continue
        for b, x in (tensors, tensors[::-1]):
            ops = _branch(graph, b, x)
            if not ops or not any(graph.op(o).kind is OpKind.CONV for o in ops):
                continue
            outside = [
                c.name
                for o in ops
                for c in graph.consumers(graph.op(o).output)
                if c.name not in ops and c.name != op.name
            ]
            if outside or any(
                o == e or o.startswith(e + ".") or o.startswith(e + "#") for o in ops for e in excludes
            ):
                continue
            prod = graph.producer(b)
            if graph.module(prod.name) is None or calls.get(prod.target, 0) != 1:
                continue
            out.append(
                SkipBlock(op.name, op.node, x, tuple(o.name for o in graph.ops if o.name in ops), prod.target)
            )
            break
    return tuple(out)


class DepthGate:
    """Forward hook multiplying a module's output by 0 while its block is skipped."""

    def __init__(self) -> None:
        self.skip = False

    def __call__(self, module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor | None:
        return output * 0.0 if self.skip else None


def drop_blocks(gm: fx.GraphModule, blocks: Sequence[SkipBlock]) -> fx.GraphModule:
    """Remove the skipped blocks from an emitted model in place: each add returns its identity operand."""
    if not blocks:
        return gm
    nodes = {n.name: n for n in gm.graph.nodes}
    replaced: dict[str, fx.Node] = {}  # consecutive skipped blocks: a block's input is the previous add
    for blk in blocks:
        add = nodes[blk.node]
        ident = replaced.get(blk.identity, nodes[blk.identity])
        add.replace_all_uses_with(ident)
        replaced[add.name] = ident
        gm.graph.erase_node(add)
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.graph.lint()
    gm.recompile()
    return gm
