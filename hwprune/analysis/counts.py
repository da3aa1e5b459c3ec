"""MACs and parameters per op and in total, from IR shapes alone (per sample: batch excluded).

Counts equal what the emitted slim model holds: ``params`` is the number of elements of its
``parameters()`` (buffers excluded), ``macs`` the multiply-accumulates of conv/linear layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwprune.ir.graph import Graph, Op
from hwprune.ir.handlers import lookup, register
from hwprune.ir.kinds import OpKind

__all__ = ["Counts", "OpCount", "count"]


@dataclass(frozen=True, slots=True)
class OpCount:
    """MACs (per sample) and parameters of one op."""

    op: str
    macs: int
    params: int


@dataclass(frozen=True, slots=True)
class Counts:
    """Totals and the per-op table (ops with zero MACs and params are left out)."""

    macs: int
    params: int
    per_op: tuple[OpCount, ...]

    def of(self, op: str) -> OpCount:
        for c in self.per_op:
            if c.op == op:
                return c
        return OpCount(op, 0, 0)


def _numel(shape: tuple[int, ...] | None) -> int:
    return math.prod(shape) if shape else 0


def _shared(op: Op) -> bool:
    # a repeated call of a shared module (or a functional op reusing a weight): its parameters count once
    return op.call > 0 or bool(op.attr("shared_weight"))


@register("count", OpKind.CONV)
def _conv(op: Op, g: Graph) -> tuple[int, int]:
    y = g.tensor_shape(op.output)
    k = math.prod(
        op.attr("kernel_size") if isinstance(op.attr("kernel_size"), tuple) else (op.attr("kernel_size"),)
    )
    cpg = op.attr("in_channels") // op.attr("groups")
    macs = _numel(y[1:]) * cpg * k
    params = op.attr("out_channels") * cpg * k + (op.attr("out_channels") if op.attr("bias") else 0)
    return macs, 0 if _shared(op) else params


@register("count", OpKind.CONV_TRANSPOSE)
def _conv_transpose(op: Op, g: Graph) -> tuple[int, int]:
    x = g.tensor_shape(op.inputs[0])
    k = math.prod(op.attr("kernel_size"))
    opg = op.attr("out_channels") // op.attr("groups")
    macs = _numel(x[2:]) * op.attr("in_channels") * opg * k  # every input pixel meets every weight once
    params = op.attr("in_channels") * opg * k + (op.attr("out_channels") if op.attr("bias") else 0)
    return macs, 0 if _shared(op) else params


@register("count", OpKind.MATMUL)
def _matmul(op: Op, g: Graph) -> tuple[int, int]:
    y = g.value(op.output).shape
    a = g.value(op.inputs[0]).shape
    if not y or not a or len(y) < 2:
        return 0, 0
    return _numel(y[1:]) * a[-1], 0  # per sample: every output element sums K products


@register("count", OpKind.LINEAR)
def _linear(op: Op, g: Graph) -> tuple[int, int]:
    y = g.tensor_shape(op.output)
    fin, fout = op.attr("in_features"), op.attr("out_features")
    macs = _numel(y[1:]) * fin
    return macs, 0 if _shared(op) else fin * fout + (fout if op.attr("bias") else 0)


@register("count", OpKind.BATCHNORM)
def _bn(op: Op, g: Graph) -> tuple[int, int]:
    # a functional norm's weight/bias are PARAM ops, counted there
    own = op.attr("affine") and not _shared(op) and not op.attr("functional")
    return 0, 2 * op.attr("num_features") if own else 0


@register("count", OpKind.GROUPNORM)
def _gn(op: Op, g: Graph) -> tuple[int, int]:
    own = op.attr("affine") and not _shared(op) and not op.attr("functional")
    return 0, 2 * op.attr("num_channels") if own else 0


@register("count", OpKind.LAYERNORM)
def _ln(op: Op, g: Graph) -> tuple[int, int]:
    if not op.attr("affine") or _shared(op) or g.value(op.inputs[0]).shape is None:
        return 0, 0
    n = math.prod(op.attr("normalized_shape"))
    m = g.module(op.name)
    if m is None:  # functional: its weight/bias are PARAM ops, counted there
        return 0, 0
    return 0, n * (1 + (m.bias is not None))


@register("count", OpKind.PARAM)
def _param(op: Op, g: Graph) -> tuple[int, int]:
    import torch

    src = g.source
    if src is None:
        return 0, _numel(g.value(op.output).shape)
    if op.attr("weight_of"):  # a functional conv/linear weight: counted by that op, at its pruned size
        return 0, 0
    obj = src.gm
    for part in op.target.split("."):
        obj = getattr(obj, part)
    return 0, _numel(g.value(op.output).shape) if isinstance(obj, torch.nn.Parameter) else 0


@register("count", OpKind.ACT, OpKind.OPAQUE)
def _module_params(op: Op, g: Graph) -> tuple[int, int]:
    m = g.module(op.name) if op.target == op.name else None
    return 0, sum(p.numel() for p in m.parameters()) if m is not None else 0


@register(
    "count",
    OpKind.INPUT,
    OpKind.OUTPUT,
    OpKind.POOL,
    OpKind.ADAPTIVE_POOL,
    OpKind.RESAMPLE,
    OpKind.ADD,
    OpKind.MUL,
    OpKind.CAT,
    OpKind.SPLIT,
    OpKind.GETITEM,
    OpKind.FLATTEN,
    OpKind.RESHAPE,
    OpKind.EXPAND,
    OpKind.PERMUTE,
    OpKind.REDUCE,
    OpKind.SOFTMAX,
    OpKind.SIZE,
)
def _free(op: Op, g: Graph) -> tuple[int, int]:
    return 0, 0


def count(graph: Graph) -> Counts:
    """MACs and parameters of ``graph`` (pruned graphs give the slim model's numbers).

    Args:
        graph: any IR graph.

    Returns:
        ``Counts(macs, params, per_op)``. Parameters of opaque modules are included as they are.
    """
    rows = []
    for op in graph.ops:
        macs, params = lookup("count", op.kind)(op, graph)
        if macs or params:
            rows.append(OpCount(op.name, int(macs), int(params)))
    return Counts(sum(r.macs for r in rows), sum(r.params for r in rows), tuple(rows))
