"""Passes over the lowered layers that need the graph: conv + add fusion and the network's DDR I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hwmodel.workloads.layers import LayerKind
from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind
from hwprune.lower.lowered import Lowered
from hwprune.lower.network_io import network_io_ops

__all__ = ["mark_fusable_adds", "mark_network_io"]


# ops between a conv and the add that a fused conv+add still covers (folded into the conv)
_FOLDED = frozenset({OpKind.BATCHNORM})


def _fusable_conv(graph: Graph, value: str) -> str | None:
    """The conv whose output reaches ``value`` through folded ops only, each used once; else None."""
    while True:
        if len(graph.consumers(value)) != 1:
            return None
        op = graph.producer(value)
        if op.kind is OpKind.CONV:
            return op.name
        if op.kind not in _FOLDED or not op.inputs:
            return None
        value = op.inputs[0]


def mark_fusable_adds(graph: Graph, lowered: list[Lowered]) -> list[Lowered]:
    """Mark ``conv (+BN) + add`` pairs as the Vitis AI compiler fuses them (the DPU's ELEW path).

    An elementwise add of same-shaped tensors, one of which comes from a conv used only by this add,
    becomes ``fused`` and that conv gets ``residual_inputs`` = the add's other operands. The last such
    conv in graph order is chosen (the one that finishes last). Engines that do not fuse ignore both.

    Args:
        graph: the graph ``lowered`` came from.
        lowered: its lowered layers, in graph order.

    Returns:
        The layers, with fused pairs marked.
    """
    index = {lw.op: i for i, lw in enumerate(lowered)}
    out = list(lowered)
    for i, lw in enumerate(lowered):
        layer = lw.layer
        if layer.kind is not LayerKind.ELTWISE_ADD or layer.fused:
            continue
        convs = [c for v in graph.tensor_inputs(graph.op(lw.op)) if (c := _fusable_conv(graph, v)) in index]
        convs = [
            c
            for c in convs
            if index[c] < i
            and out[index[c]].layer.residual_inputs == 0
            and out[index[c]].layer.kind is LayerKind.CONV
        ]
        if not convs:
            continue
        j = max(index[c] for c in convs)
        conv = out[j]
        out[j] = replace(conv, layer=conv.layer.with_(residual_inputs=layer.num_inputs - 1))
        out[i] = replace(lw, layer=layer.with_(fused=True))
    return out


def mark_network_io(graph: Graph, lowered: Sequence[Lowered], unmodelled: Sequence[str]) -> list[Lowered]:
    """Set ``dram_input`` on layers that read a graph input and ``dram_output`` on layers that produce a
    graph output, through free ops and concats (:mod:`hwprune.lower.network_io`).

    Args:
        graph: the graph ``lowered`` came from.
        lowered: its lowered layers.
        unmodelled: names of its ops without a cost model (where they leave their result is unknown:
            the walk stops there).

    Returns:
        The layers, with the two flags set where they hold.
    """
    priced = {lw.op for lw in lowered} | set(unmodelled)
    concats = {lw.op for lw in lowered if lw.layer.kind is LayerKind.CONCAT}
    readers, writers = network_io_ops(graph, priced, concats)
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
