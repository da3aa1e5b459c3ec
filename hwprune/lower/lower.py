"""IR -> hwmodel workloads. Every op kind has exactly one lowering handler; nothing is silently free.

Handlers live in the one per-kind registry (``hwprune.ir.handlers``, concern ``"lower"``: double
registration is an error, a test checks every kind is covered). Each kind is in exactly one of three
tables, and the tables are what the handlers read:

* ``LOWERING``: kinds with a cost model. A handler returns a :class:`Lowered` workload, ``None`` when
  this instance is free (``x + 1``, a ReLU: fused into the producer), or an :class:`Unmodelled` entry
  when this instance has no cost model (a Conv1d).
* ``FREE_WHY`` / ``FREE_KINDS``: kinds that cost no accelerator time, each with the reason (fused into
  the producing conv, or pure data layout the engine reads in place); one handler returns None for them.
* ``NOT_MODELLED``: kinds whose cost is not modelled, each with the reason; one handler lists them.
  OPAQUE ops get a reason per torch op (``OPAQUE_WHY``: LSTM, GRU, attention, fft, einsum, sort, ...).

Ops the DPU cannot run (``CPU_ACT_WHY``: sigmoid, SiLU, tanh, GELU, ... and softmax) lower to
``LayerKind.CPU`` workloads, tied to their channels: the engines price them with their host model
(``hwmodel.dpu.params.DpuParams.cpu_elems_per_us``), reports list them, and the planner's latency
tables include them, so pruning the channels that feed one saves host time too.

:func:`lower_graph` returns the workloads and the list of unmodelled ops (name, torch op, why);
``hwprune.simulate``/``plan`` warn with that list, report it, and raise under ``strict=True``.
A kind without a handler (a new one) is listed as unmodelled, never priced at 0 without saying so.

Latency is per sample: the batch dimension of the example inputs is not simulated.
"""

from __future__ import annotations

from collections.abc import Sequence

from hwprune.ir.graph import Graph
from hwprune.ir.handlers import table
from hwprune.lower.lowered import Lowered, Lowering, Unmodelled
from hwprune.lower.passes import mark_fusable_adds, mark_network_io
from hwprune.lower.resize import crop_kernel, resize
from hwprune.lower.rules import (
    DPU_ACTS,
    FREE_KINDS,
    FREE_WHY,
    LOWERING,
    NOOP_ACTS,
    NOT_MODELLED,
    OPAQUE_WHY,
    act_placement,
    unpriced,
)

__all__ = [
    "Lowered",
    "Unmodelled",
    "Lowering",
    "lower",
    "lower_graph",
    "mark_fusable_adds",
    "mark_network_io",
    "LOWERING",
    "FREE_KINDS",
    "FREE_WHY",
    "NOT_MODELLED",
    "OPAQUE_WHY",
    "DPU_ACTS",
    "NOOP_ACTS",
    "act_placement",
    "resize",
    "crop_kernel",
    "unmodelled_message",
]


def lower_graph(graph: Graph) -> Lowering:
    """Lower every op to a workload, or list it as not modelled; free ops are skipped.

    Residual adds that an engine can fuse into their producing conv are marked (see
    :func:`mark_fusable_adds`); each engine decides whether it fuses them. Layers that read the
    network's input or produce one of its outputs are marked ``dram_input`` / ``dram_output``
    (:func:`hwprune.lower.network_io.mark_network_io`): both live in DDR on a DPU.

    Args:
        graph: a traced (possibly pruned) IR graph.

    Returns:
        The :class:`Lowering`: workloads in graph order (names equal the ops' names) and every op
        whose time is not modelled, with the reason.
    """
    layers: list[Lowered] = []
    missing: list[Unmodelled] = []
    handlers = table("lower")
    for op in graph.ops:
        handler = handlers.get(op.kind)
        got = (
            handler(op, graph)
            if handler is not None
            else unpriced(op, f"op kind {op.kind.value!r} has no lowering rule in hwprune.lower")
        )  # never 0 cycles silently
        if isinstance(got, Lowered):
            layers.append(got)
        elif isinstance(got, Unmodelled):
            missing.append(got)
    marked = mark_network_io(graph, mark_fusable_adds(graph, layers), [u.name for u in missing])
    return Lowering(tuple(marked), tuple(missing))


def lower(graph: Graph) -> list[Lowered]:
    """The workloads of :func:`lower_graph` (ops without a cost model are left out; see there)."""
    return list(lower_graph(graph).layers)


def unmodelled_message(unmodelled: Sequence[Unmodelled], *, limit: int = 8) -> str:
    """One line naming the unmodelled ops (the first ``limit``) and what they mean for the figures."""
    items = [f"{u.name} ({u.op}: {u.why})" for u in unmodelled[:limit]]
    more = f" and {len(unmodelled) - limit} more" if len(unmodelled) > limit else ""
    return (
        f"{len(unmodelled)} op(s) have no cost model and count as 0 cycles: "
        + "; ".join(items)
        + more
        + "; latencies exclude them (strict mode makes this an error)"
    )
