"""Channel-flow handlers of layout ops: cat, split, getitem, flatten, reshape, permute.

Channel element arrays are moved, sliced, expanded or transposed exactly as the data is; a layout that
cannot be followed (a reshape that mixes channels with other dims) pins the channels.
"""

from __future__ import annotations

import numpy as np

from hwprune.analysis.flow import MAX_IDS, Chan, FlowCtx
from hwprune.ir.graph import Op
from hwprune.ir.handlers import register
from hwprune.ir.kinds import OpKind

__all__: list[str] = []


@register("flow", OpKind.CAT)
def _cat(op: Op, ctx: FlowCtx) -> None:
    d = op.attr("dim")
    ins = [v for v in op.inputs if ctx.shape(v) is not None]
    chans = [ctx.chan(v) for v in ins]
    if all(c is None for c in chans):
        return
    if all(c is None or c.dims == (d,) for c in chans):
        parts = []
        for v, c in zip(ins, chans, strict=True):
            if c is None:
                c = Chan((d,), ctx.fresh(ctx.known_shape(v)[d]))
                ctx.pin(op, c, f"{op.name} concatenates a tensor without channel information")
            parts.append(c.ids)
        ctx.set(op.output, Chan((d,), np.concatenate(parts)))
        return
    first = chans[0]
    rest = [c for c in chans[1:] if c is not None]
    if (
        first is not None
        and d not in first.dims
        and len(rest) == len(chans) - 1
        and all(c.dims == first.dims and c.ids.shape == first.ids.shape for c in rest)
    ):
        for c in rest:
            ctx.union(first.ids, c.ids)  # stacked along another dim: the same channel in every piece
        ctx.set(op.output, first)
        return
    for v in ins:
        ctx.pin_value(op, v, f"{op.name} concatenates tensors whose channels do not line up")


@register("flow", OpKind.SPLIT)
def _split(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    c = ctx.chan(x) if x else None
    parts = ctx.graph.value(op.output).parts or ()
    d = op.attr("dim")
    if c is None:
        return
    if c.dims == (d,):
        bounds = np.cumsum([0] + [p[d] for p in parts])
        ctx.set(op.output, tuple(Chan((d,), c.ids[bounds[i] : bounds[i + 1]]) for i in range(len(parts))))
    elif d not in c.dims:
        ctx.set(op.output, tuple(c for _ in parts))
    else:
        ctx.pin(op, c, f"{op.name} splits a dim that is part of a multi-dim channel layout")


# one normalised index item (hwprune.frontend.classify): ("none",), ("ellipsis",), ("int", i) or
# ("slice", start, stop, step)
IndexItem = tuple[str | int | None, ...]


def _normalise_index(index: tuple[IndexItem, ...], rank: int) -> list[IndexItem]:
    n_real = sum(1 for it in index if it[0] in ("int", "slice"))
    out: list[IndexItem] = []
    for it in index:
        if it[0] == "ellipsis":
            out.extend([("slice", None, None, None)] * (rank - n_real))
        else:
            out.append(it)
    used = sum(1 for it in out if it[0] in ("int", "slice"))
    out.extend([("slice", None, None, None)] * (rank - used))
    return out


@register("flow", OpKind.GETITEM)
def _getitem(op: Op, ctx: FlowCtx) -> None:
    src = op.inputs[0]
    parts = ctx.parts(src)
    index = op.attr("index")
    if ctx.graph.value(src).parts is not None:
        if parts is not None and not op.attr("tuple_index") and index[0][0] == "int":
            ctx.set(op.output, parts[index[0][1]])
        elif parts is not None:
            ctx.pin_value(op, src, f"{op.name}: unsupported index into a tuple")
        return
    c = ctx.chan(src)
    shape = ctx.shape(src)
    if c is None or shape is None:
        return
    items = _normalise_index(index, len(shape))
    in_dim, out_dim = 0, 0
    mapping: dict[int, int | None] = {}  # input dim -> output dim, None where an int index drops it
    sliced: dict[int, slice] = {}
    for it in items:
        if it[0] == "none":
            out_dim += 1
        elif it[0] == "int":
            mapping[in_dim] = None
            in_dim += 1
        else:
            mapping[in_dim] = out_dim
            if (it[1], it[2], it[3]) != (None, None, None):
                sliced[in_dim] = slice(it[1], it[2], it[3])
            in_dim += 1
            out_dim += 1
    new_dims = tuple(out for d in c.dims if (out := mapping.get(d)) is not None)
    if len(new_dims) < len(c.dims) or any(
        d in sliced and (len(c.dims) > 1 or sliced[d].step not in (None, 1)) for d in c.dims
    ):
        ctx.pin(op, c, f"{op.name} indexes into channels")
        return
    ids = c.ids
    if c.dims[0] in sliced:
        ids = ids[sliced[c.dims[0]]]
    ctx.set(op.output, Chan(new_dims, ids, c.axis))


def _expand(c: Chan, shape: tuple[int, ...], block: list[int]) -> np.ndarray | None:
    """Broadcast ``c.ids`` over the dims of ``block`` (which contains ``c.dims``)."""
    size = int(np.prod([shape[d] for d in block]))
    if size > MAX_IDS:
        return None
    view = [shape[d] if d in c.dims else 1 for d in block]
    return np.broadcast_to(c.ids.reshape(view), [shape[d] for d in block])


def _reduce_chan(ids: np.ndarray, dims: list[int], ctx: FlowCtx) -> Chan:
    """Drop dims along which ids are constant; for a genuinely multi-dim layout unify fibres."""
    keep = [i for i in range(ids.ndim) if ids.shape[i] > 1 and not _constant_along(ids, i)]
    if not keep:
        keep = [int(np.argmax(ids.shape))]
    sel = tuple(slice(None) if i in keep else 0 for i in range(ids.ndim))
    ids = ids[sel]
    new_dims = tuple(dims[i] for i in keep)
    axis = 0
    if len(keep) > 1:
        axis = int(np.argmax(ids.shape[::-1]))
        axis = len(keep) - 1 - axis  # the longest dim (last on ties) shrinks; the others keep their size
        moved = np.moveaxis(ids, axis, -1).reshape(-1, ids.shape[axis])
        ctx.union(moved[:1], moved[1:])
    return Chan(new_dims, np.ascontiguousarray(ids), axis)


def _constant_along(ids: np.ndarray, axis: int) -> bool:
    first = np.take(ids, [0], axis=axis)
    return bool(np.all(ids == first))


@register("flow", OpKind.FLATTEN)
def _flatten(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    c = ctx.chan(x) if x else None
    if x is None or c is None:
        return
    shape = ctx.known_shape(x)
    s, e = op.attr("start_dim"), op.attr("end_dim")
    block = list(range(s, e + 1))
    if all(d < s for d in c.dims):
        ctx.set(op.output, c)
    elif all(d > e for d in c.dims):
        ctx.set(op.output, Chan(tuple(d - (e - s) for d in c.dims), c.ids, c.axis))
    elif all(d in block for d in c.dims) and len(c.dims) == 1:
        ids = _expand(c, shape, block)
        if ids is None:
            ctx.pin(op, c, f"{op.name} flattens too many features to track")
        else:
            ctx.set(op.output, Chan((s,), ids.reshape(-1)))
    else:
        ctx.pin(op, c, f"{op.name} flattens part of a multi-dim channel layout")


def _reshape_groups(a: tuple[int, ...], b: tuple[int, ...]) -> list[tuple[list[int], list[int]]] | None:
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        gi, gj, pa, pb = [i], [j], a[i], b[j]
        i, j = i + 1, j + 1
        while pa != pb:
            if pa < pb and i < len(a):
                gi.append(i)
                pa *= a[i]
                i += 1
            elif pb < pa and j < len(b):
                gj.append(j)
                pb *= b[j]
                j += 1
            else:
                return None
        groups.append((gi, gj))
    if not groups:
        return None
    groups[-1][0].extend(range(i, len(a)))
    groups[-1][1].extend(range(j, len(b)))
    return groups


@register("flow", OpKind.RESHAPE)
def _reshape(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    c = ctx.chan(x) if x else None
    if x is None or c is None:
        return
    a, b = ctx.known_shape(x), ctx.known_shape(op.output)
    groups = _reshape_groups(a, b)
    hit = [g for g in groups or () if any(d in g[0] for d in c.dims)]
    if len(hit) != 1 or not all(d in hit[0][0] for d in c.dims):
        ctx.pin(
            op, c, f"{op.name} reshapes channels together with other dims in a way that cannot be tracked"
        )
        return
    gi, gj = hit[0]
    ids = _expand(c, a, gi)
    if ids is None:
        ctx.pin(op, c, f"{op.name} reshapes too many features to track")
        return
    ids = ids.reshape([b[d] for d in gj])
    ctx.set(op.output, _reduce_chan(ids, gj, ctx))


@register("flow", OpKind.PERMUTE)
def _permute(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    c = ctx.chan(x) if x else None
    if c is None:
        return
    perm = op.attr("perm")
    inv = {p: i for i, p in enumerate(perm)}
    new = [inv[d] for d in c.dims]
    order = np.argsort(new)
    ids = np.transpose(c.ids, order) if len(new) > 1 else c.ids
    axis = int(np.where(order == c.axis)[0][0])
    ctx.set(op.output, Chan(tuple(sorted(new)), ids, axis))
