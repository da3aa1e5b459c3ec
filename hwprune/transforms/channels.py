"""Apply per-group kept member indices to the IR: a new Graph with smaller shapes and a selection.

The result records, for every value whose channel dim shrank, which original positions it kept
(``Graph.selection``); the emitter slices weights with it. Shapes and channel attributes of ops are
updated so that ``verify`` and MAC/parameter counts describe the slim model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from hwprune.analysis.flow import Chan
from hwprune.analysis.groups import Analysis, analyze
from hwprune.errors import EmptyGroupError, PruneConfigError, TraceError, UnsupportedOpError
from hwprune.ir.graph import Graph, Op, Value
from hwprune.ir.kinds import OpKind

__all__ = ["prune_channels", "removed_elements", "normalise_keep", "Keep"]

# group id or key -> kept member indices (a dict keyed by ids, by keys, or by both)
Keep = Mapping[int, Sequence[int]] | Mapping[str, Sequence[int]] | Mapping[int | str, Sequence[int]]


def normalise_keep(analysis: Analysis, keep: Keep) -> dict[int, np.ndarray]:
    """Check a keep map (group id or key -> kept member indices) and return it keyed by group id."""
    by_key = {g.key: g for g in analysis.groups}
    out: dict[int, np.ndarray] = {}
    for k, idx in keep.items():
        g = (
            by_key.get(k)
            if isinstance(k, str)
            else (analysis.groups[k] if 0 <= k < len(analysis.groups) else None)
        )
        if g is None:
            raise PruneConfigError(
                f"keep names group {k!r}, which is not a channel group of this graph; "
                "use ids or keys from hwprune.channel_groups(graph)"
            )
        arr = np.asarray(sorted({int(i) for i in idx}), dtype=np.int64)
        if arr.size == 0:
            raise EmptyGroupError(
                f"group {g.key!r} would be pruned to zero channels; keep at least one "
                "(lower the ratio or exclude the module)"
            )
        if arr[0] < 0 or arr[-1] >= g.size:
            raise PruneConfigError(f"keep indices for group {g.key!r} must lie in [0, {g.size})")
        if arr.size < g.size and not g.prunable:
            opaque = [
                b
                for b in g.blockers
                if analysis.graph.has_op(b) and analysis.graph.op(b).kind is OpKind.OPAQUE
            ]
            if opaque:
                raise UnsupportedOpError(
                    f"group {g.key!r} flows through {', '.join(map(repr, opaque))}, an op hwprune does not "
                    "understand, so its channels cannot be pruned; keep all of them, or rewrite that op with "
                    "supported torch ops"
                )
            raise PruneConfigError(f"group {g.key!r} is not prunable ({g.reason}); keep all its channels")
        if arr.size < g.size:
            out[g.id] = arr
    return out


def removed_elements(analysis: Analysis, keep: Mapping[int, np.ndarray]) -> np.ndarray:
    """Boolean mask over element ids: True where the element is pruned."""
    dead_comp = np.zeros(analysis.flow.n_comp, dtype=bool)
    for gid, kept in keep.items():
        comps = analysis.members[gid]
        mask = np.ones(len(comps), dtype=bool)
        mask[kept] = False
        dead_comp[comps[mask]] = True
    dead: np.ndarray = dead_comp[analysis.flow.comp]
    return dead


def _kept_along(chan: Chan, dead: np.ndarray) -> np.ndarray | None:
    alive = ~dead[chan.ids]
    if alive.all():
        return None
    if chan.ids.ndim > 1:
        lines = np.moveaxis(alive, chan.axis, 0).reshape(alive.shape[chan.axis], -1)
        alive = lines.all(axis=1)
        if not np.array_equal(alive, lines.any(axis=1)):
            raise PruneConfigError(
                "a multi-dim channel layout lost a partial fibre; this is a bug in hwprune"
            )
    return np.flatnonzero(alive)


def prune_channels(graph: Graph, keep: Keep) -> Graph:
    """Remove channels: keep only ``keep[g]`` members of each group ``g`` (others keep everything).

    Args:
        graph: an unpruned graph from ``hwprune.trace``.
        keep: group id (or key) -> sorted kept member indices.

    Returns:
        A new graph with smaller shapes and ``selection`` filled in.

    Raises:
        EmptyGroupError: a group would keep nothing.
        PruneConfigError: a group id/key is unknown, indices are out of range, or a group that is not
            prunable was asked to lose channels.
        UnsupportedOpError: a group blocked by an opaque (unknown) op was asked to lose channels.
    """
    if graph.selection:
        raise PruneConfigError(
            "prune_channels needs an unpruned graph; trace the slim model again to prune it further"
        )
    analysis = analyze(graph)
    norm = normalise_keep(analysis, keep)
    dead = removed_elements(analysis, norm)
    selection: list[tuple[str, int, tuple[int, ...]]] = []
    values: list[Value] = []
    for v in graph.values:
        c = analysis.flow.chans.get(v.name)
        if isinstance(c, Chan) and v.shape is not None:
            kept = _kept_along(c, dead)
            if kept is not None:
                shape = list(v.shape)
                shape[c.prune_dim] = len(kept)
                selection.append((v.name, c.prune_dim, tuple(kept.tolist())))
                v = Value(v.name, tuple(shape), v.dtype, v.parts, v.const)
        elif isinstance(c, tuple) and v.parts is not None:
            parts = []
            for part, pc in zip(v.parts, c, strict=True):
                kept = _kept_along(pc, dead) if pc is not None else None
                if kept is not None:
                    part = tuple(len(kept) if d == pc.prune_dim else s for d, s in enumerate(part))
                parts.append(part)
            v = Value(v.name, v.shape, v.dtype, tuple(parts), v.const)
        values.append(v)
    vmap = {v.name: v for v in values}
    ops = tuple(_update_attrs(op, vmap) for op in graph.ops)
    return Graph(ops, tuple(values), graph.inputs, graph.outputs, tuple(selection), source=graph.source)


def _update_attrs(op: Op, values: Mapping[str, Value]) -> Op:
    def shape(value: str) -> tuple[int, ...]:
        s = values[value].shape
        if s is None:
            raise TraceError(
                f"op {op.name!r} ({op.kind.name}): value {value!r} has no static shape; "
                "trace the model with example inputs"
            )
        return s

    attrs = dict(op.attrs)
    if op.kind in (OpKind.CONV, OpKind.CONV_TRANSPOSE):
        cin_old, g = attrs["in_channels"], attrs["groups"]
        cin, cout = shape(op.inputs[0])[1], shape(op.output)[1]
        attrs.update(in_channels=cin, out_channels=cout, groups=cin if cin_old // g == 1 and g > 1 else g)
    elif op.kind is OpKind.LINEAR:
        attrs.update(in_features=shape(op.inputs[0])[-1], out_features=shape(op.output)[-1])
    elif op.kind is OpKind.BATCHNORM:
        attrs.update(num_features=shape(op.output)[1])
    elif op.kind is OpKind.GROUPNORM:  # whole groups are pruned: the group size stays
        c = shape(op.output)[1]
        attrs.update(num_channels=c, num_groups=c // (attrs["num_channels"] // attrs["num_groups"]))
    elif op.kind is OpKind.LAYERNORM:
        k = len(attrs["normalized_shape"])
        attrs.update(normalized_shape=tuple(shape(op.output)[-k:]))
    else:
        return op
    return replace(op, attrs=tuple(sorted(attrs.items())))
