"""Channel-flow handlers, one per op kind (see :mod:`hwprune.analysis.flow`).

Every rule either proves how channels move through an op or pins them with a reason. Nothing is guessed.
"""

from __future__ import annotations

import re

import numpy as np

from hwprune.analysis.flow import Chan, FlowCtx
from hwprune.ir.graph import Op
from hwprune.ir.handlers import register
from hwprune.ir.kinds import OpKind

__all__: list[str] = []

# layout ops (cat, split, getitem, flatten, reshape, permute) live in their own module
from hwprune.analysis import flow_layout  # noqa: F401


@register("flow", OpKind.INPUT)
def _input(op: Op, ctx: FlowCtx) -> None:
    shape = ctx.shape(op.output)
    if shape is not None and len(shape) >= 2:
        c = Chan((1,), ctx.fresh(shape[1]))
        ctx.set(op.output, c)
        ctx.pin(op, c, f"channels of model input {op.name!r} are fixed")


@register("flow", OpKind.OUTPUT)
def _output(op: Op, ctx: FlowCtx) -> None:
    for v in op.inputs:
        ctx.pin_value(op, v, "channels of the model output are fixed")


@register("flow", OpKind.PARAM)
def _param(op: Op, ctx: FlowCtx) -> None:
    shape = ctx.shape(op.output)
    if not shape:
        return
    if op.attr("weight_of"):  # the weight of functional convs/linears: its rows are their output channels
        ids = ctx.fresh(shape[0])
        ctx.set(op.output, Chan((0,), ids))
        ctx.slot(op, "param", 0, ids)
        return
    big = [d for d, s in enumerate(shape) if s > 1]
    if len(big) == 1:
        d = big[0]
        ids = ctx.fresh(shape[d])
        ctx.set(op.output, Chan((d,), ids))
        ctx.slot(op, "param", d, ids)


@register("flow", OpKind.SIZE)
def _size(op: Op, ctx: FlowCtx) -> None:
    return None


@register("flow", OpKind.OPAQUE)
def _opaque(op: Op, ctx: FlowCtx) -> None:
    why = f": {op.attr('why')}" if op.attr("why") else ""
    for v in op.inputs:
        ctx.pin_value(op, v, f"channels cannot flow through opaque op {op.name!r} ({op.target}{why})")


def _slides_over_channels(op: Op, ctx: FlowCtx, x: str | None) -> Chan | None:
    """ECA's pattern: a 1-in 1-out conv over a tensor whose spatial dim holds the channels, size kept."""
    c = ctx.chan(x) if x else None
    if (
        x is None
        or c is None
        or len(c.dims) != 1
        or c.dims[0] < 2
        or op.attr("in_channels") != 1
        or op.attr("out_channels") != 1
    ):
        return None
    d = c.dims[0]
    stride = op.attr("stride")
    s = stride[d - 2] if isinstance(stride, tuple) else stride
    return c if s == 1 and ctx.known_shape(x)[d] == ctx.known_shape(op.output)[d] else None


def _grouped_channels(
    op: Op, ctx: FlowCtx, x: str | None, *, in_dim: int, out_dim: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """Channels of a (grouped, transposed or not) conv: its input and output slots on the weight dims
    ``in_dim``/``out_dim``; returns (input ids or None, output ids)."""
    cin, cout, g = op.attr("in_channels"), op.attr("out_channels"), op.attr("groups")
    in_ids = ctx.ids_along(op, x, 1) if x else None
    cpg, opg = cin // g, cout // g
    if in_ids is not None:
        ctx.slot(op, "in", in_dim, in_ids)
        if cpg > 1 and g > 1:
            rows = in_ids.reshape(g, cpg)
            ctx.union(rows[:1], rows[1:])  # a grouped conv keeps the same positions in every group
    if cpg == 1 and g > 1 and in_ids is not None:
        out = np.repeat(in_ids, opg)  # depthwise: output channels belong to their input channel
    else:
        out = ctx.fresh(cout)
        if g > 1:
            rows = out.reshape(g, opg)
            ctx.union(rows[:1], rows[1:])
    ctx.slot(op, "out", out_dim, out)
    ctx.set(op.output, Chan((1,), out))
    return in_ids, out


@register("flow", OpKind.CONV)
def _conv(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    c = _slides_over_channels(op, ctx, x)
    if c is not None:  # each output position is its channel; the window over neighbours changes when pruned
        ctx.mix(
            op, c, f"{op.name} slides a window along the channels (ECA): pruning changes the neighbourhoods"
        )
        ctx.set(op.output, c)
        return
    in_ids, out = _grouped_channels(op, ctx, x, in_dim=1, out_dim=0)
    if op.attr("weight_param"):
        _functional_params(op, ctx, out, in_ids)


@register("flow", OpKind.CONV_TRANSPOSE)
def _conv_transpose(op: Op, ctx: FlowCtx) -> None:
    # weight (in, out/groups, k...): input channels are weight rows, output channels its columns per group
    _grouped_channels(op, ctx, ctx.first_input(op), in_dim=0, out_dim=1)


@register("flow", OpKind.LINEAR)
def _linear(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    rank = len(ctx.known_shape(op.output))
    in_ids = ctx.ids_along(op, x, rank - 1) if x else None
    if in_ids is not None:
        ctx.slot(op, "in", 1, in_ids)
    out = ctx.fresh(op.attr("out_features"))
    ctx.slot(op, "out", 0, out)
    ctx.set(op.output, Chan((rank - 1,), out))
    if op.attr("weight_param"):
        _functional_params(op, ctx, out, in_ids)


def _functional_params(op: Op, ctx: FlowCtx, out: np.ndarray, in_ids: np.ndarray | None) -> None:
    """F.conv*/F.linear: the weight (rows) and the bias must carry the op's output channels."""
    for v in ctx.tensor_inputs(op)[1:]:
        c = ctx.chan(v)
        if c is not None and c.dims == (0,) and c.ids.shape == out.shape:
            ctx.union(c.ids, out)
        else:
            reason = (
                f"{op.name}: its weight or bias {v!r} is not a tensor whose rows follow its output channels"
            )
            ctx.pin(op, out, reason)
            ctx.pin_value(op, v, reason)
    if in_ids is not None and not op.attr("weight_direct"):
        ctx.mix(
            op,
            Chan((0,), in_ids),
            f"{op.name} computes its weight from {op.attr('weight_param')!r} over its "
            f"input channels (weight standardisation): pruning them changes the weight",
        )


def _norm_params(op: Op, ctx: FlowCtx, ids: np.ndarray | None) -> None:
    """Per-channel tensors of a norm: a module's are sliced with the op, a functional op's are PARAM ops."""
    params = ctx.tensor_inputs(op)[1:]
    if not op.attr("functional"):
        if ids is not None:
            ctx.slot(op, "param", 0, ids)
        return
    for p in params:
        c = ctx.chan(p)
        if ids is not None and c is not None and c.dims == (0,) and c.ids.shape == ids.shape:
            ctx.union(c.ids, ids)
        else:
            reason = f"{op.name}: its per-channel argument {p!r} does not follow the channels it normalises"
            ctx.pin_value(op, p, reason)
            if ids is not None:
                ctx.pin(op, ids, reason)


@register("flow", OpKind.BATCHNORM)
def _batchnorm(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    ids = ctx.ids_along(op, x, 1) if x else None
    _norm_params(op, ctx, ids)
    if x is not None and ids is not None:
        ctx.set(op.output, ctx.chan(x))


@register("flow", OpKind.GROUPNORM)
def _groupnorm(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    ids = ctx.ids_along(op, x, 1) if x else None
    if x is not None and ids is not None:
        rows = ids.reshape(op.attr("num_groups"), -1)
        # a member is a whole group of channels: the statistics of the groups kept do not change
        ctx.union(rows[:, :1], rows[:, 1:])
        ctx.set(op.output, ctx.chan(x))
    _norm_params(op, ctx, ids)


@register("flow", OpKind.LAYERNORM)
def _layernorm(op: Op, ctx: FlowCtx) -> None:
    ins = ctx.tensor_inputs(op)
    x = ins[0]
    c = ctx.chan(x)
    rank = len(ctx.known_shape(x))
    k = len(op.attr("normalized_shape"))
    params = ins[1:]
    if c is None:
        for p in params:
            ctx.pin_value(op, p, f"{op.name}: normalised input carries no channels")
        return
    if all(d < rank - k for d in c.dims):  # normalises over dims that do not carry channels
        ctx.set(op.output, c)
        return
    if k == 1 and c.dims == (rank - 1,):
        ctx.mix(
            op, c, f"LayerNorm {op.name!r} normalises over these channels: pruning changes its statistics"
        )
        if not params:
            ctx.slot(op, "param", 0, c.ids)
        for p in params:
            pc = ctx.chan(p)
            if pc is not None and pc.ids.shape == c.ids.shape:
                ctx.union(pc.ids, c.ids)
            else:
                ctx.pin(op, c, f"{op.name}: affine parameters do not follow the channels")
        ctx.set(op.output, c)
        return
    ctx.pin(op, c, f"{op.name} normalises over several dims that include channels")
    for p in params:
        ctx.pin_value(op, p, f"{op.name} normalises over several dims that include channels")


@register("flow", OpKind.ACT)
def _act(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    if x is not None:
        ctx.set(op.output, ctx.chans.get(x))
    for extra in ctx.tensor_inputs(op)[1:]:
        ctx.pin_value(op, extra, f"{op.name}: extra tensor argument of an elementwise op")


@register("flow", OpKind.POOL, OpKind.ADAPTIVE_POOL, OpKind.RESAMPLE)
def _spatial(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    c = ctx.chan(x) if x else None
    if c is None:
        return
    if all(d < 2 for d in c.dims):
        ctx.set(op.output, c)
    else:
        ctx.pin(op, c, f"{op.name} works over dims that carry channels")


def _aligned(ctx: FlowCtx, value: str, rank: int) -> tuple[tuple[int, ...], Chan | None]:
    shape = ctx.known_shape(value)
    shift = rank - len(shape)
    c = ctx.chan(value)
    full = (1,) * shift + tuple(shape)
    if c is None:
        return full, None
    return full, Chan(tuple(d + shift for d in c.dims), c.ids, c.axis)


@register("flow", OpKind.ADD, OpKind.MUL)
def _binary(op: Op, ctx: FlowCtx) -> None:
    out_shape = ctx.shape(op.output)
    ins = [v for v in op.inputs if ctx.shape(v) is not None]
    if out_shape is None or not ins:
        return
    rank = len(out_shape)
    aligned = [_aligned(ctx, v, rank) for v in ins]
    carriers = [(s, c) for s, c in aligned if c is not None]
    if not carriers:
        return
    dims = carriers[0][1].dims
    want = tuple(out_shape[d] for d in dims)
    # every carrier lays channels out on the same dims at full size; every other operand broadcasts there
    ok = all(
        c.dims == dims and c.ids.shape == carriers[0][1].ids.shape and tuple(s[d] for d in dims) == want
        for s, c in carriers
    )
    ok = ok and all(all(s[d] == 1 for d in dims) for s, c in aligned if c is None)
    if not ok:
        for v in ins:
            ctx.pin_value(op, v, f"{op.name} combines tensors whose channels do not line up")
        return
    base = carriers[0][1]
    for _, c in carriers[1:]:
        ctx.union(base.ids, c.ids)
    ctx.set(op.output, base)


@register("flow", OpKind.REDUCE)
def _reduce(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    c = ctx.chan(x) if x else None
    if c is None:
        return
    dims = op.attr("dims")
    if any(d in dims for d in c.dims):
        if all(d in dims for d in c.dims) and _STATISTIC.search(str(op.attr("type"))):
            # a statistic over channels (GRN's mean of norms): prunable, the slim model differs until fine-tuned
            ctx.mix(
                op, c, f"{op.name} takes a statistic over channels ({op.attr('type')}): pruning changes it"
            )
        else:
            ctx.pin(op, c, f"{op.name} reduces over channels ({op.attr('type')})")
        return
    if op.attr("keepdim"):
        ctx.set(op.output, c)
    else:
        ctx.set(op.output, Chan(tuple(d - sum(1 for r in dims if r < d) for d in c.dims), c.ids, c.axis))


@register("flow", OpKind.MATMUL)
def _matmul(op: Op, ctx: FlowCtx) -> None:
    # (..., M, K) @ (..., K, N): channels on M (left) or N (right) pass to the output; on K they are summed
    ins = ctx.tensor_inputs(op)
    out = ctx.shape(op.output)
    if len(ins) != 2 or out is None:
        for v in ins:
            ctx.pin_value(op, v, f"{op.name}: a matmul of this form is not understood")
        return
    (a, b), ro = ins, len(out)
    ca, cb = ctx.chan(a), ctx.chan(b)
    ra, rb = len(ctx.known_shape(a)), len(ctx.known_shape(b))
    for c, r in ((ca, ra), (cb, rb)):  # a single channel on a batch dim (a 1-channel attention map)
        if c is not None and c.ids.size == 1 and all(d < r - 2 for d in c.dims):
            ctx.pin(op, c, f"{op.name}: a single channel used as a batch dim of a matmul")
    ca = None if ca is not None and ca.ids.size == 1 and all(d < ra - 2 for d in ca.dims) else ca
    cb = None if cb is not None and cb.ids.size == 1 and all(d < rb - 2 for d in cb.dims) else cb
    left = ca is not None and ra >= 2 and ca.dims == (ra - 2,)
    right = cb is not None and rb >= 2 and cb.dims == (rb - 1,)
    if ca is not None and not left or cb is not None and not right or left and right:
        for v in ins:
            ctx.pin_value(op, v, f"{op.name} multiplies over (or across) the dims that carry channels")
        return
    if left and ca is not None:
        ctx.set(op.output, Chan((ro - 2,), ca.ids))
    elif right and cb is not None:
        ctx.set(op.output, Chan((ro - 1,), cb.ids))


_STATISTIC = re.compile(r"(^|\.)(mean|norm|vector_norm|std|var)$")


@register("flow", OpKind.EXPAND)
def _expand(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)  # expand_as's second tensor only gives the shape
    c = ctx.chan(x) if x else None
    if x is None or c is None:
        return
    xs, ys = ctx.known_shape(x), ctx.known_shape(op.output)
    shift = len(ys) - len(xs)
    if shift < 0 or any(ys[d + shift] != xs[d] for d in c.dims):
        ctx.pin(op, c, f"{op.name} ({op.attr('type')}) enlarges the dims that carry channels")
        return
    ctx.set(op.output, Chan(tuple(d + shift for d in c.dims), c.ids, c.axis))


@register("flow", OpKind.SOFTMAX)
def _softmax(op: Op, ctx: FlowCtx) -> None:
    x = ctx.first_input(op)
    c = ctx.chan(x) if x else None
    if c is None:
        return
    if op.attr("dim") is None or op.attr("dim") in c.dims:
        ctx.pin(op, c, f"{op.name} normalises over channels")
    ctx.set(op.output, c)
