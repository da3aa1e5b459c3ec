"""``hwprune.apply``: a Plan -> a real slim model with its N:M masks in place.

Two steps on the IR of a model traced once (:class:`hwprune.Traced`): :func:`apply_ir` prunes the
planned channels and sets the planned N:M pattern on each layer's ``Op.sparsity`` (the graph the
plan's latency describes: lowering it gives the plan's cycles); :func:`apply_graph` emits it as a
model. Channels are removed for real (smaller layers); N:M weight masks are parametrizations, so
masked fine-tuning keeps the pattern; 2:4 activation sparsity is a forward pre-hook.
:func:`hwprune.bake` folds the masks into plain weights for export.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from torch import fx, nn

from hwmodel.errors import SparsityError
from hwmodel.workloads.layers import LayerSparsity
from hwprune.errors import SpecError
from hwprune.frontend.specialise import specialisation_note
from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind
from hwprune.ir.verify import verify
from hwprune.planning.plan import Plan
from hwprune.pruning import emit_pruned, resolve_keep
from hwprune.traced import Traced, as_traced
from hwprune.transforms.channels import prune_channels
from hwprune.transforms.nm import mask_layer

__all__ = ["apply", "apply_graph", "apply_ir"]


def _patterns(graph: Graph, plan: Plan) -> dict[str, LayerSparsity]:
    """The plan's N:M pattern per layer, checked against the graph's conv/linear ops."""
    layers = {op.name for op in graph.ops_of(OpKind.CONV, OpKind.LINEAR)}
    out = {}
    for name, text in plan.nm().items():
        if name not in layers:
            raise SpecError(f"plan names layer {name!r} for N:M, but the model has no such conv/linear layer")
        try:
            out[name] = LayerSparsity.parse(text)
        except (ValueError, SparsityError) as e:
            raise SpecError(f"plan layer {name!r}, pattern {text!r}: {e}") from e
    return out


def apply_ir(traced: Traced, plan: Plan) -> tuple[Graph, dict[int, list[int]]]:
    """The plan applied to the IR: (pruned graph with N:M on ``Op.sparsity``, kept indices per group id).

    Raises:
        PlanMismatchError: the plan was made for a model of another structure.
        SpecError: the plan names a layer the model lacks, or a pattern that does not parse.
    """
    graph = traced.graph
    plan.check_model(
        traced.structure_hash,
        where=graph.source.model_class if graph.source else "model",
        note=specialisation_note(graph.source),
    )
    keep: dict[int | str, Sequence[int] | int] = {}
    for g in plan.groups:
        if g.kept >= g.size:
            continue
        if g.indices and (len(set(g.indices)) != g.kept or not all(0 <= i < g.size for i in g.indices)):
            raise SpecError(
                f"plan group {g.key!r}: indices {list(g.indices)} are not {g.kept} distinct members of "
                f"0..{g.size - 1}; after editing kept, delete the group's indices (or replan)"
            )
        keep[g.gid] = g.indices or g.kept
    explicit = resolve_keep(graph, keep, importance=plan.importance)
    patterns = _patterns(graph, plan)
    pruned = prune_channels(graph, explicit)
    if patterns:
        pruned = dataclasses.replace(
            pruned,
            ops=tuple(
                dataclasses.replace(op, sparsity=patterns[op.name]) if op.name in patterns else op
                for op in pruned.ops
            ),
        )
    return verify(pruned), explicit


def apply_graph(
    traced: Traced, plan: Plan, *, applied: tuple[Graph, dict[int, list[int]]] | None = None
) -> fx.GraphModule:
    """:func:`apply` on an already traced model; ``applied`` is ``apply_ir(traced, plan)`` when the
    caller has it already."""
    pruned, explicit = apply_ir(traced, plan) if applied is None else applied
    slim = emit_pruned(traced.graph, pruned, explicit)
    masked: set[str] = set()
    for op in pruned.ops:
        if op.sparsity is not None and op.name in plan.nm() and op.target not in masked:
            masked.add(op.target)  # a module called twice is one set of weights: masked once
            mask_layer(slim.get_submodule(op.target), op.sparsity)
    setattr(slim, "hwprune_plan", plan)  # noqa: B010 (an attribute torch's Module typing does not know)
    return slim


def apply(
    model: nn.Module | Traced, example_inputs: Any, plan: Plan, *, leaf_modules: Sequence[str | type] = ()
) -> fx.GraphModule:
    """Build the slim model a plan describes.

    Args:
        model: the model the plan was made for (never modified), or a :class:`hwprune.Traced` of it.
        example_inputs: a tensor or tuple of tensors.
        plan: from :func:`hwprune.plan` or :meth:`Plan.load`.
        leaf_modules: passed to ``hwprune.trace``.

    Returns:
        A new ``GraphModule`` with fewer channels and N:M masks on the planned layers; ``.hwprune_spec``
        is its channel spec and ``.hwprune_plan`` the plan.

    Raises:
        PlanMismatchError: the plan was made for a model of another structure.
    """
    return apply_graph(as_traced(model, example_inputs, leaf_modules=leaf_modules), plan)
