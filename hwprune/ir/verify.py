"""``verify(graph)``: check shapes and channel bookkeeping; tests call it after every transform."""

from __future__ import annotations

import math

from hwprune.errors import VerifyError
from hwprune.ir.graph import Graph, Op
from hwprune.ir.handlers import lookup, register
from hwprune.ir.kinds import OpKind

__all__ = ["verify"]

Shape = tuple[int, ...]


def _shape(g: Graph, v: str) -> Shape | None:
    return g.value(v).shape


# Each "verify" handler gets the op, the graph and the shapes of its first input and its output
# (both tensors: ops without them are only checked for order and names) and returns what is wrong.


@register("verify", OpKind.CONV, OpKind.CONV_TRANSPOSE)
def _conv(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    cin, cout, groups = op.attr("in_channels"), op.attr("out_channels"), op.attr("groups")
    if x[1] != cin or y[1] != cout:
        return f"channels {x[1]}->{y[1]} but attrs say {cin}->{cout}"
    if cin % groups or cout % groups:
        return f"groups={groups} does not divide {cin}->{cout}"
    return None


@register("verify", OpKind.MATMUL)
def _matmul(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    b = _shape(g, op.inputs[1]) if len(op.inputs) > 1 else None
    if b is not None and len(x) >= 2 and len(b) >= 2 and x[-1] != b[-2]:
        return f"matmul of {x} and {b}: inner sizes differ"
    return None


@register("verify", OpKind.LINEAR)
def _linear(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    if x[-1] != op.attr("in_features") or y[-1] != op.attr("out_features"):
        return f"features {x[-1]}->{y[-1]} but attrs say {op.attr('in_features')}->{op.attr('out_features')}"
    return None


@register("verify", OpKind.BATCHNORM)
def _bn(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    if x != y or x[1] != op.attr("num_features"):
        return f"shape {x}->{y} with num_features={op.attr('num_features')}"
    return None


@register("verify", OpKind.GROUPNORM)
def _gn(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    c, groups = op.attr("num_channels"), op.attr("num_groups")
    if x != y or x[1] != c or c % groups:
        return f"shape {x}->{y} with num_channels={c}, num_groups={groups}"
    return None


@register("verify", OpKind.EXPAND)
def _expand(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    return None if len(y) >= len(x) else f"expand {x}->{y} drops dims"


@register("verify", OpKind.ACT, OpKind.LAYERNORM, OpKind.SOFTMAX)
def _same(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    return None if x == y else f"elementwise op changes shape {x}->{y}"


@register("verify", OpKind.ADD, OpKind.MUL)
def _binary(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    for v in op.inputs:
        s = _shape(g, v)
        if s is None:
            continue
        for a, b in zip(reversed(s), reversed(y), strict=False):
            if a not in (1, b):
                return f"operand {v} of shape {s} does not broadcast to {y}"
    return None


@register("verify", OpKind.CAT)
def _cat(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    d = op.attr("dim")
    total = sum(s[d] for s in (_shape(g, v) for v in op.inputs) if s is not None)
    return None if total == y[d] else f"parts sum to {total} along dim {d}, output has {y[d]}"


@register("verify", OpKind.SPLIT)
def _split(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    d, parts = op.attr("dim"), g.value(op.output).parts or ()
    total = sum(p[d] for p in parts)
    return None if total == x[d] else f"parts sum to {total} along dim {d}, input has {x[d]}"


@register("verify", OpKind.FLATTEN, OpKind.RESHAPE)
def _numel(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    return None if math.prod(x) == math.prod(y) else f"reshape {x}->{y} changes the number of elements"


@register("verify", OpKind.PERMUTE)
def _permute(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    want = tuple(x[p] for p in op.attr("perm"))
    return None if want == y else f"permute {op.attr('perm')} of {x} gives {want}, not {y}"


@register(
    "verify",
    OpKind.INPUT,
    OpKind.OUTPUT,
    OpKind.PARAM,
    OpKind.POOL,
    OpKind.ADAPTIVE_POOL,
    OpKind.RESAMPLE,
    OpKind.GETITEM,
    OpKind.REDUCE,
    OpKind.SIZE,
    OpKind.OPAQUE,
)
def _unchecked(op: Op, g: Graph, x: Shape, y: Shape) -> str | None:
    return None  # shapes may change freely (pooling, resampling, indexing, reductions, unknown ops)


def verify(graph: Graph) -> Graph:
    """Check that ``graph`` is well formed.

    Checks topological order, unique names, per-kind shape rules (conv/linear/BN channel counts match
    their attributes, concat/split sizes add up, reshapes keep the element count ...) and that every
    selection entry matches its value's shape.

    Args:
        graph: the graph to check.

    Returns:
        The same graph, so that passes can be chained.

    Raises:
        VerifyError: naming the op (and module) that is inconsistent.
    """
    seen: set[str] = set()
    names: set[str] = set()
    for op in graph.ops:
        if op.name in names:
            raise VerifyError(f"two ops are called {op.name!r}; op names must be unique")
        names.add(op.name)
        for v in op.inputs:
            if v not in seen:
                raise VerifyError(
                    f"op {op.name!r} reads {v!r} before it is produced; ops must be in topological order"
                )
        graph.value(op.output)
        seen.add(op.output)
        x = _shape(graph, op.inputs[0]) if op.inputs else None
        y = _shape(graph, op.output)
        if x is not None and y is not None:
            problem = lookup("verify", op.kind)(op, graph, x, y)
            if problem:
                raise VerifyError(f"op {op.name!r} ({op.kind}, {op.target}): {problem}")
    for v, dim, kept in graph.selection:
        shape = graph.value(v).shape
        if shape is None or dim >= len(shape) or shape[dim] != len(kept):
            raise VerifyError(
                f"selection of {v!r} keeps {len(kept)} positions along dim {dim}, shape is {shape}"
            )
        if list(kept) != sorted(set(kept)):
            raise VerifyError(f"selection of {v!r} is not sorted and unique")
    return graph
