"""Attributes of functional ops whose tensors are the model's parameters, buffers or constants.

``F.batch_norm`` on a module's own running stats and affine (timm's ``BatchNormAct2d``), ``F.group_norm``,
``F.instance_norm``, ``F.linear`` / ``F.conv1d/2d/3d`` whose weight is a parameter or is computed from one
(weight standardisation), norms and statistics over dims, ``expand``/``repeat``. Each extractor reads the
literal arguments and the shapes of the tensor arguments; when an op cannot be understood it raises
:class:`Unsupported` with the reason, and the op becomes OPAQUE carrying that reason.
"""

from __future__ import annotations

from typing import Any

from torch import fx

__all__ = [
    "Unsupported",
    "arg",
    "weight_root",
    "f_batch_norm",
    "f_instance_norm",
    "f_group_norm",
    "f_linear",
    "f_conv",
    "f_norm",
    "f_stat",
    "f_expand",
]

Attrs = dict[str, Any]
Shapes = dict[str, Any]
_ROOT_SEARCH = 64  # ancestors examined when looking for the parameter a weight is computed from


class Unsupported(ValueError):
    """The op's arguments are not what its rule understands; the message says what."""


def arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    """Argument ``name`` of a call, by keyword or by position."""
    if name in node.kwargs:
        return node.kwargs[name]
    if len(node.args) > index:
        return node.args[index]
    return default


def _shape(a: Any, shapes: Shapes, what: str) -> tuple[int, ...]:
    s = shapes.get(a.name) if isinstance(a, fx.Node) else None
    if not isinstance(s, tuple) or (s and isinstance(s[0], tuple)):
        raise Unsupported(f"its {what} is not a tensor of known shape")
    return s


def _tensor_or_none(node: fx.Node, *names_at: tuple[int, str]) -> None:
    for index, name in names_at:
        a = arg(node, index, name)
        if a is not None and not isinstance(a, fx.Node):
            raise Unsupported(f"its {name} is a {type(a).__name__}, not a tensor")


def weight_root(w: Any, shapes: Shapes) -> tuple[str, bool]:
    """The parameter a conv/linear weight is read from: ``(get_attr target, read directly)``.

    A computed weight (weight standardisation: reshape, batch_norm over the reshaped weight, mean/std,
    scale by a gain) qualifies when nothing it depends on is a model input; its root is the parameter
    reached through first arguments, of the weight's own shape.

    Raises:
        Unsupported: the weight depends on a model input or has no parameter of its shape at its root.
    """
    if not isinstance(w, fx.Node):
        raise Unsupported("its weight is not a tensor")
    if w.op == "get_attr":
        return str(w.target), True
    seen: set[fx.Node] = set()
    stack = [w]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n.op in ("placeholder", "call_module") or len(seen) > _ROOT_SEARCH:
            raise Unsupported("its weight is computed from the model's inputs (a dynamic weight)")
        stack.extend(n.all_input_nodes)
    n = w
    while n.op != "get_attr":
        firsts = [a for a in n.args if isinstance(a, fx.Node)]
        if not firsts:
            raise Unsupported("its weight is not computed from a parameter")
        n = firsts[0]
    if shapes.get(n.name) != shapes.get(w.name):
        raise Unsupported(f"its weight is computed from {n.target!r} of another shape")
    return str(n.target), False


def _norm_params(node: fx.Node, shapes: Shapes) -> Attrs:
    x = _shape(arg(node, 0, "input"), shapes, "input")
    if len(x) < 2:
        raise Unsupported("its input has no channel dim")
    return {"num_features": x[1], "functional": True}


def f_batch_norm(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    """``F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)``."""
    _tensor_or_none(node, (1, "running_mean"), (2, "running_var"), (3, "weight"), (4, "bias"))
    return {
        **_norm_params(node, shapes),
        "affine": arg(node, 3, "weight") is not None,
        "track_running_stats": arg(node, 1, "running_mean") is not None,
        "eps": arg(node, 7, "eps", 1e-5),
    }


def f_instance_norm(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    """``F.instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)``."""
    _tensor_or_none(node, (1, "running_mean"), (2, "running_var"), (3, "weight"), (4, "bias"))
    return {
        **_norm_params(node, shapes),
        "affine": arg(node, 3, "weight") is not None,
        "track_running_stats": arg(node, 1, "running_mean") is not None,
        "eps": arg(node, 7, "eps", 1e-5),
    }


def f_group_norm(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    """``F.group_norm(x, num_groups, weight, bias, eps)``."""
    _tensor_or_none(node, (2, "weight"), (3, "bias"))
    groups = arg(node, 1, "num_groups")
    if not isinstance(groups, int):
        raise Unsupported("its num_groups is not a literal int")
    c = _norm_params(node, shapes)["num_features"]
    return {
        "num_channels": c,
        "num_groups": groups,
        "affine": arg(node, 2, "weight") is not None,
        "eps": arg(node, 4, "eps", 1e-5),
        "functional": True,
    }


def f_linear(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    """``F.linear(x, weight, bias)`` with a weight read from (or computed from) a parameter."""
    _tensor_or_none(node, (2, "bias"))
    w = arg(node, 1, "weight")
    target, direct = weight_root(w, shapes)
    ws = _shape(w, shapes, "weight")
    if len(ws) != 2:
        raise Unsupported(f"its weight has shape {ws}, not (out, in)")
    # the bias is a PARAM op of its own (counted and sliced there)
    return {
        "in_features": ws[1],
        "out_features": ws[0],
        "bias": False,
        "weight_param": target,
        "weight_direct": direct,
    }


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    if isinstance(v, (tuple, list)) and all(isinstance(i, int) for i in v) and len(v) in (1, n):
        return tuple(v) * (n // len(v))
    raise Unsupported(f"its geometry argument {v!r} is not a literal")


def f_conv(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    """``F.conv1d/2d/3d(x, weight, bias, stride, padding, dilation, groups)``."""
    _tensor_or_none(node, (2, "bias"))
    x = _shape(arg(node, 0, "input"), shapes, "input")
    w = arg(node, 1, "weight")
    target, direct = weight_root(w, shapes)
    ws = _shape(w, shapes, "weight")
    nd = len(ws) - 2
    groups = arg(node, 6, "groups", 1)
    if not isinstance(groups, int):
        raise Unsupported("its groups is not a literal int")
    padding = arg(node, 4, "padding", 0)
    return {
        "in_channels": x[1],
        "out_channels": ws[0],
        "kernel_size": tuple(ws[2:]),
        "stride": _tuple(arg(node, 3, "stride", 1), nd),
        "padding": padding if isinstance(padding, str) else _tuple(padding, nd),
        "dilation": _tuple(arg(node, 5, "dilation", 1), nd),
        "groups": groups,
        "bias": False,
        "padding_mode": "zeros",
        "weight_param": target,
        "weight_direct": direct,
    }


def _dims(value: Any, rank: int) -> tuple[int, ...]:
    if value is None:
        return tuple(range(rank))
    if isinstance(value, bool):
        raise Unsupported("its dim is a bool")
    if isinstance(value, int):
        return (value % rank,)
    if isinstance(value, (tuple, list)) and all(isinstance(d, int) for d in value):
        return tuple(sorted(d % rank for d in value))
    raise Unsupported("its dims are not literals")


def _target_name(node: fx.Node) -> str:
    t = node.target
    return t if isinstance(t, str) else getattr(t, "__name__", repr(t))


def f_norm(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    """``torch.norm(x, p, dim, keepdim)`` / ``linalg.vector_norm(x, ord, dim, keepdim)``: a reduction."""
    return {
        "dims": _dims(arg(node, 2, "dim"), rank),
        "keepdim": bool(arg(node, 3, "keepdim", False)),
        "type": "norm",
    }


def f_stat(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    """``std``/``var`` over dims: ``(x, dim, unbiased, keepdim)`` or ``(x, dim, *, correction, keepdim)``."""
    dim = arg(node, 1, "dim")
    if isinstance(dim, bool):  # std(x, unbiased): over everything
        dim = None
    keepdim = node.kwargs.get("keepdim", node.args[3] if len(node.args) > 3 else False)
    return {"dims": _dims(dim, rank), "keepdim": bool(keepdim), "type": _target_name(node)}


def f_expand(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    """``expand``/``expand_as``/``broadcast_to``/``repeat``: the flow checks channels keep their size."""
    return {"type": _target_name(node)}
