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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from hwmodel.workloads.layers import LayerKind
from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind

if TYPE_CHECKING:
    from hwprune.lower.lower import Lowered

__all__ = ["mark_network_io"]


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


def mark_network_io(graph: Graph, lowered: Sequence[Lowered], unmodelled: Sequence[str]) -> list[Lowered]:
    """Set ``dram_input`` on layers that read a graph input and ``dram_output`` on layers that produce a
    graph output (through free ops and concats; see the module docstring).

    Args:
        graph: the graph ``lowered`` came from.
        lowered: its lowered layers.
        unmodelled: names of its ops without a cost model (they stop the walk).

    Returns:
        The layers, with the two flags set where they hold.
    """
    priced = {lw.op for lw in lowered} | set(unmodelled)
    # a concat is a layout: its readers load the parts from where their producers left them
    concats = {lw.op for lw in lowered if lw.layer.kind is LayerKind.CONCAT}

    def forward(value: str) -> Iterable[tuple[str, list[str]]]:
        for op in graph.consumers(value):
            if op.kind is not OpKind.OUTPUT:
                yield op.name, [op.output] if op.name not in priced or op.name in concats else []

    def backward(value: str) -> Iterable[tuple[str, list[str]]]:
        op = graph.producer(value)
        if op.kind is not OpKind.INPUT:
            yield op.name, list(op.inputs) if op.name not in priced or op.name in concats else []

    readers = _reached(graph, graph.inputs, forward)
    writers = _reached(graph, graph.outputs, backward)
    return [
        replace(
            lw,
            layer=lw.layer.with_(
                dram_input=lw.layer.dram_input or lw.op in readers,
                dram_output=lw.layer.dram_output or lw.op in writers,
            ),
        )
        for lw in lowered
    ]
