"""Emit handlers, one per op kind: build the slim module / rewrite the fx node of one op.

A handler gets the op and an :class:`EmitCtx`; it either puts a (sliced) module or tensor under the op's
target in ``ctx.root`` or rewrites literal channel counts in the copied fx node. Modules not handled
here are deep-copied unchanged by :func:`hwprune.emit.module.emit`.
"""

from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import numpy as np
import torch
from torch import fx, nn

from hwprune.errors import HwPruneError, UnsupportedOpError
from hwprune.ir.graph import Graph, Op
from hwprune.ir.handlers import register
from hwprune.ir.kinds import OpKind

__all__ = ["EmitCtx", "get_attr"]

_M = TypeVar("_M", bound=nn.Module)


@dataclass(frozen=True, slots=True)
class EmitCtx:
    """What emit handlers read (the pruned graph, the source module) and write (root, copied nodes)."""

    graph: Graph
    src: fx.GraphModule
    nodes: dict[str, fx.Node]  # fx node name -> node of the new graph
    root: dict[str, Any]  # target -> module / tensor of the slim model

    def sel(self, value: str) -> tuple[int, torch.Tensor] | None:
        s = self.graph.selected(value)
        return None if s is None else (s[0], torch.as_tensor(s[1], dtype=torch.long))

    def source_node(self, name: str) -> fx.Node:
        """The node ``name`` of the traced source graph (``emit`` checked that the graph has one)."""
        if self.graph.source is None:
            raise HwPruneError(
                f"emitting op {name!r}: the graph has no source module; emit graphs from hwprune.trace"
            )
        node: fx.Node = self.graph.source.nodes[name]
        return node

    def module(self, op: Op, kind: type[_M] | tuple[type[_M], ...]) -> _M:
        """The source submodule of module op ``op``, which its kind says is a ``kind``."""
        m = self.src.get_submodule(op.target)
        if not isinstance(m, kind):
            raise HwPruneError(
                f"op {op.name!r} ({op.kind.name}) calls {op.target!r}, a {type(m).__name__}; "
                "the graph is not from this model: trace it again"
            )
        return m


@overload
def _slice(t: torch.Tensor, dim: int, idx: torch.Tensor | None) -> torch.Tensor: ...
@overload
def _slice(t: None, dim: int, idx: torch.Tensor | None) -> None: ...
@overload
def _slice(t: torch.Tensor | None, dim: int, idx: torch.Tensor | None) -> torch.Tensor | None: ...
def _slice(t: torch.Tensor | None, dim: int, idx: torch.Tensor | None) -> torch.Tensor | None:
    if t is None:
        return None
    t = t.detach()
    if idx is None:
        return t.clone()
    if t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64, torch.int64, torch.float16):
        # numpy's take is single-threaded: far faster than index_select on a shared, busy CPU
        return torch.from_numpy(np.take(t.numpy(), idx.numpy(), axis=dim))
    return t.index_select(dim, idx.to(t.device))


def _slice2(t: torch.Tensor, rows: torch.Tensor | None, cols: torch.Tensor | None) -> torch.Tensor:
    """``t[rows][:, cols]`` in one copy where possible."""
    if rows is None:
        return _slice(t, 1, cols)
    if cols is None:
        return _slice(t, 0, rows)
    return _slice(_slice(t, 0, rows), 1, cols)


def _rebuild(module: nn.Module, tensors: dict[str, torch.Tensor | None], **attrs: Any) -> nn.Module:
    """Deep-copy ``module`` with some parameters/buffers replaced, without copying the old big tensors."""
    memo: dict[int, Any] = {}
    for name, new in tensors.items():
        old = getattr(module, name)
        if old is None or new is None:  # the module has no such tensor (None sliced is None)
            continue
        if isinstance(old, nn.Parameter):
            memo[id(old)] = nn.Parameter(new, requires_grad=old.requires_grad)
        else:
            memo[id(old)] = new
    out = copy.deepcopy(module, memo)
    for k, v in attrs.items():
        setattr(out, k, v)
    return out


def _nothing(op: Op, ctx: EmitCtx) -> None:
    return None


register(
    "emit",
    OpKind.INPUT,
    OpKind.OUTPUT,
    OpKind.SIZE,
    OpKind.OPAQUE,
    OpKind.ACT,
    OpKind.POOL,
    OpKind.ADAPTIVE_POOL,
    OpKind.RESAMPLE,
    OpKind.ADD,
    OpKind.MUL,
    OpKind.CAT,
    OpKind.PERMUTE,
    OpKind.REDUCE,
    OpKind.SOFTMAX,
    OpKind.FLATTEN,
    OpKind.MATMUL,
)(_nothing)


def _set_arg(node: fx.Node, index: int, name: str, value: Any) -> None:
    """Set argument ``name`` (positional ``index``) of a copied call node."""
    if len(node.args) > index:
        args = list(node.args)
        args[index] = value
        node.args = tuple(args)
    else:
        node.kwargs = {**node.kwargs, name: value}


def _functional_weight(op: Op, ctx: EmitCtx, rows: torch.Tensor | None, cols: torch.Tensor | None) -> None:
    """F.conv*/F.linear: slice the parameter the weight is read (or computed) from, on both dims."""
    target = op.attr("weight_param")
    w0 = get_attr(ctx.src, target)
    new = _slice2(w0, rows, cols)
    ctx.root[target] = (
        nn.Parameter(new, requires_grad=w0.requires_grad) if isinstance(w0, nn.Parameter) else new
    )


def _functional_groups(node: fx.Node) -> int:
    groups = node.kwargs["groups"] if "groups" in node.kwargs else node.args[6] if len(node.args) > 6 else 1
    if not isinstance(groups, int):  # a Node: groups computed at run time
        raise UnsupportedOpError(
            f"{node.name} ({node.target}): groups must be a literal int to prune, got {groups!r}"
        )
    return groups


@register("emit", OpKind.CONV)
def _conv(op: Op, ctx: EmitCtx) -> None:
    if op.target in ctx.root:
        return
    functional = bool(op.attr("weight_param"))
    # a selection along a spatial dim (ECA's conv over channels) leaves the weight alone
    s_in, s_out = (
        s if s is not None and s[0] == 1 else None for s in (ctx.sel(op.inputs[0]), ctx.sel(op.output))
    )
    out_idx = s_out[1] if s_out else None
    in_idx = s_in[1] if s_in else None
    if functional:
        g = _functional_groups(ctx.source_node(op.node))
        cin_old = get_attr(ctx.src, op.attr("weight_param")).shape[1] * g
    else:
        m = ctx.module(op, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
        g, cin_old = m.groups, m.in_channels
    cpg = cin_old // g
    w_in = None
    if in_idx is not None and cpg > 1:
        w_in = in_idx[in_idx < cpg] if g > 1 else in_idx  # grouped: the same positions in every group
    if functional:
        _functional_weight(op, ctx, out_idx, w_in)
        if op.attr("groups") != g:
            _set_arg(ctx.nodes[op.node], 6, "groups", op.attr("groups"))
        return
    w = _slice2(m.weight, out_idx, w_in)
    cin = op.attr("in_channels")
    groups = op.attr("groups")
    ctx.root[op.target] = _rebuild(
        m,
        {"weight": w, "bias": _slice(m.bias, 0, out_idx)},
        in_channels=cin,
        out_channels=op.attr("out_channels"),
        groups=groups,
    )


@register("emit", OpKind.CONV_TRANSPOSE)
def _conv_transpose(op: Op, ctx: EmitCtx) -> None:
    if op.target in ctx.root:
        return
    m = ctx.module(op, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
    s_in, s_out = ctx.sel(op.inputs[0]), ctx.sel(op.output)
    out_idx = s_out[1] if s_out else None
    in_idx = s_in[1] if s_in else None
    opg = m.out_channels // m.groups
    w_out = None
    if out_idx is not None and opg > 1:
        w_out = out_idx[out_idx < opg] if m.groups > 1 else out_idx  # grouped: the same positions per group
    w = _slice2(m.weight, in_idx, w_out)
    ctx.root[op.target] = _rebuild(
        m,
        {"weight": w, "bias": _slice(m.bias, 0, out_idx)},
        in_channels=op.attr("in_channels"),
        out_channels=op.attr("out_channels"),
        groups=op.attr("groups"),
    )


@register("emit", OpKind.LINEAR)
def _linear(op: Op, ctx: EmitCtx) -> None:
    if op.target in ctx.root:
        return
    s_in, s_out = ctx.sel(op.inputs[0]), ctx.sel(op.output)
    out_idx = s_out[1] if s_out else None
    if op.attr("weight_param"):
        _functional_weight(op, ctx, out_idx, s_in[1] if s_in else None)
        return
    m = ctx.module(op, nn.Linear)
    w = _slice2(m.weight, out_idx, s_in[1] if s_in else None)
    ctx.root[op.target] = _rebuild(
        m,
        {"weight": w, "bias": _slice(m.bias, 0, out_idx)},
        in_features=op.attr("in_features"),
        out_features=op.attr("out_features"),
    )


@register("emit", OpKind.BATCHNORM)
def _batchnorm(op: Op, ctx: EmitCtx) -> None:
    if op.target in ctx.root or op.attr("functional"):  # functional: its tensors are PARAM ops
        return
    m = ctx.src.get_submodule(op.target)
    s = ctx.sel(op.output)
    idx = s[1] if s else None
    names = ("weight", "bias", "running_mean", "running_var")
    ctx.root[op.target] = _rebuild(
        m, {n: _slice(getattr(m, n), 0, idx) for n in names}, num_features=op.attr("num_features")
    )


def _rebuild_affine(op: Op, ctx: EmitCtx, kind: type[nn.GroupNorm] | type[nn.LayerNorm], **ctor: Any) -> None:
    """A norm module with its per-channel weight and bias cut to the kept channels (once per module)."""
    if op.target in ctx.root:
        return
    m = ctx.module(op, kind)
    weight: torch.Tensor | None = getattr(m, "weight", None)  # None without elementwise affine
    bias: torch.Tensor | None = getattr(m, "bias", None)
    s = ctx.sel(op.output)
    idx = s[1] if s else None
    ctx.root[op.target] = _rebuild(
        m, {"weight": _slice(weight, 0, idx), "bias": _slice(bias, 0, idx)}, **ctor
    )


@register("emit", OpKind.GROUPNORM)
def _groupnorm(op: Op, ctx: EmitCtx) -> None:
    if op.attr("functional"):
        _set_arg(ctx.nodes[op.node], 1, "num_groups", op.attr("num_groups"))
        return
    _rebuild_affine(
        op, ctx, nn.GroupNorm, num_channels=op.attr("num_channels"), num_groups=op.attr("num_groups")
    )


@register("emit", OpKind.LAYERNORM)
def _layernorm(op: Op, ctx: EmitCtx) -> None:
    node = ctx.nodes[op.node]
    shape = op.attr("normalized_shape")
    if node.op == "call_module":
        _rebuild_affine(op, ctx, nn.LayerNorm, normalized_shape=tuple(shape))
        return
    args = list(node.args)
    if len(args) > 1:
        args[1] = tuple(shape)
        node.args = tuple(args)
    else:
        node.kwargs = {**node.kwargs, "normalized_shape": tuple(shape)}


@register("emit", OpKind.PARAM)
def _param(op: Op, ctx: EmitCtx) -> None:
    s = ctx.sel(op.output)
    t = get_attr(ctx.src, op.target)
    if s is None:
        ctx.root[op.target] = copy.deepcopy(t)
        return
    new = _slice(t, s[0], s[1])
    ctx.root[op.target] = (
        nn.Parameter(new, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else new
    )


def get_attr(gm: nn.Module, target: str) -> Any:
    """The parameter, buffer or attribute at dotted path ``target`` of ``gm``."""
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


@register("emit", OpKind.RESHAPE)
def _reshape(op: Op, ctx: EmitCtx) -> None:
    # view/reshape take target sizes; squeeze/unsqueeze a dim, reshape_as/view_as a tensor (kept)
    if ctx.sel(op.output) is not None and not str(op.attr("type", "")).endswith("squeeze"):
        _rewrite_sizes(ctx.nodes[op.node], ctx.graph.tensor_shape(op.output), "shape")


@register("emit", OpKind.EXPAND)
def _expand(op: Op, ctx: EmitCtx) -> None:
    # expand/broadcast_to take target sizes (rewritten); repeat takes counts and expand_as a tensor (kept)
    if ctx.sel(op.output) is not None and op.attr("type") in ("expand", "broadcast_to"):
        _rewrite_sizes(ctx.nodes[op.node], ctx.graph.tensor_shape(op.output), "size")


def _rewrite_sizes(node: fx.Node, new_shape: tuple[int, ...], keyword: str) -> None:
    """Literal target sizes of a view/reshape/expand call that no longer match the pruned shape."""
    args = list(node.args)
    flat: fx.node.Argument = args[1] if len(args) == 2 and isinstance(args[1], (tuple, list)) else args[1:]
    if keyword in node.kwargs:
        flat = node.kwargs[keyword]
    if not isinstance(flat, (tuple, list)):  # sizes computed at run time (a Node) follow the pruned tensor
        return
    fixed = []
    for i, a in enumerate(flat):
        if isinstance(a, int) and a != -1 and i < len(new_shape) and a != new_shape[i]:
            a = new_shape[i]
        fixed.append(a)
    if keyword in node.kwargs:
        node.kwargs = {**node.kwargs, keyword: tuple(fixed)}
    elif len(args) == 2 and isinstance(args[1], (tuple, list)):
        node.args = (args[0], tuple(fixed))
    else:
        node.args = (args[0], *fixed)


@register("emit", OpKind.SPLIT)
def _split(op: Op, ctx: EmitCtx) -> None:
    node = ctx.nodes[op.node]
    new_parts = ctx.graph.value(op.output).parts
    if new_parts is None:
        raise HwPruneError(f"split op {op.name!r} has no part shapes; trace with example inputs")
    old_parts = ctx.source_node(op.node).meta.get("hwprune_parts")
    dim = op.attr("dim")
    sizes = [p[dim] for p in new_parts]
    if old_parts is not None and [p[dim] for p in old_parts] == sizes:
        return
    x = node.args[0]
    node.op, node.target = "call_function", torch.split
    node.args, node.kwargs = (x, sizes, dim), {}


@register("emit", OpKind.GETITEM)
def _getitem(op: Op, ctx: EmitCtx) -> None:
    src = op.inputs[0]
    s = ctx.graph.selected(src)
    src_shape = ctx.graph.value(src).shape
    if s is None or src_shape is None:
        return
    node = ctx.nodes[op.node]
    dim, kept = s
    index = node.args[1]
    items = list(index) if isinstance(index, tuple) else [index]
    if any(it is Ellipsis for it in items):
        rank = len(src_shape)
        k = items.index(Ellipsis)
        n_real = sum(1 for it in items if it is not None and it is not Ellipsis)
        items[k : k + 1] = [slice(None)] * (rank - n_real)
        index = tuple(items)
    real = [i for i, it in enumerate(items) if it is not None]
    if dim >= len(real):
        return
    pos = real[dim]
    it = items[pos]
    if isinstance(it, slice) and (it.start is not None or it.stop is not None):
        old = ctx.source_node(src).meta.get("hwprune_shape")
        n_old: int | None = old[dim] if old else None
        start: int = 0 if it.start is None else (it.start % n_old if n_old else it.start)
        # an open end stays past the last kept position (every kept position is < the old size)
        stop = (
            len(kept)
            if it.stop is None
            else bisect.bisect_left(kept, it.stop % n_old if n_old and it.stop < 0 else it.stop)
        )
        items[pos] = slice(bisect.bisect_left(kept, start), stop, it.step)
        node.args = (node.args[0], tuple(items) if isinstance(index, tuple) else items[0])
