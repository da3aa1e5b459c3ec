"""Which lowered layers read the network's input or write its outputs (both live in DDR on a DPU).

The host writes the input tensor to DDR and reads the outputs from there, so the layer that reads the
input loads it and the layer that produces an output saves it, however small (``Layer.dram_input`` /
``Layer.dram_output``; ``hwmodel.dpu.params.DpuParams.network_io_dram``). A layer reads the input
when the input reaches it through free ops only (flatten, view, BN folded into the conv, a fused
ReLU, dropout) or through a concat (a layout: the reader loads the input's part from where it is);
likewise for outputs. An op without a cost model (``Unmodelled``) stops the walk: where it leaves its
result is not known, so the layers after it keep the engine's own rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind

__all__ = ["network_io_ops"]


def _data(graph: Graph, value: str) -> bool:
    """A tensor, or a tuple of tensors (a split): data, not a size or a constant."""
    v = graph.value(value)
    return v.is_tensor or v.parts is not None


def _reached(
    graph: Graph, start: Iterable[str], step: Callable[[str], Iterable[tuple[str, list[str]]]]
) -> set[str]:
    """Names of the ops ``step`` reaches from the values ``start``: ``step(value)`` gives the ops one hop
    away, each with the values to go on from (empty: the walk stops there)."""
    found: set[str] = set()
    todo = [v for v in start if _data(graph, v)]
    seen = set(todo)
    while todo:
        for name, onward in step(todo.pop()):
            found.add(name)
            for v in onward:
                if v not in seen and _data(graph, v):
                    seen.add(v)
                    todo.append(v)
    return found


def network_io_ops(graph: Graph, priced: set[str], layouts: set[str]) -> tuple[set[str], set[str]]:
    """The ops that read a graph input and those that produce a graph output (see the module docstring).

    Args:
        graph: the graph.
        priced: names of the ops that stop the walk: lowered layers and ops without a cost model.
        layouts: names of priced ops the walk passes through (concats: a layout, no work).

    Returns:
        (readers, writers): names of the priced ops that read a graph input / produce a graph output.
    """

    def forward(value: str) -> Iterable[tuple[str, list[str]]]:
        for op in graph.consumers(value):
            if op.kind is not OpKind.OUTPUT:
                yield op.name, [op.output] if op.name not in priced or op.name in layouts else []

    def backward(value: str) -> Iterable[tuple[str, list[str]]]:
        op = graph.producer(value)
        if op.kind is not OpKind.INPUT:
            yield op.name, list(op.inputs) if op.name not in priced or op.name in layouts else []

    return _reached(graph, graph.inputs, forward) & priced, _reached(graph, graph.outputs, backward) & priced
