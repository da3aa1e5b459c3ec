"""Which OpKind an fx node is, and its normalised literal attributes.

Tables map module types, functions and method names to a kind and an attribute extractor. Anything not
in a table is OPAQUE: channels never flow through it (``shared/DESIGN.md``: never guess).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils import parametrize

from hwprune.frontend import functional as fn
from hwprune.ir.kinds import OpKind

__all__ = ["classify"]

Attrs = dict[str, Any]
Shapes = dict[str, Any]
_Extract = Callable[[fx.Node, Any, int], Attrs]
_FExtract = Callable[[fx.Node, int, Shapes], Attrs]


def _pair(v: Any) -> Any:
    return tuple(v) if isinstance(v, (list, tuple)) else v


def _conv(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {
        "in_channels": m.in_channels,
        "out_channels": m.out_channels,
        "kernel_size": _pair(m.kernel_size),
        "stride": _pair(m.stride),
        "padding": _pair(m.padding) if not isinstance(m.padding, str) else m.padding,
        "dilation": _pair(m.dilation),
        "groups": m.groups,
        "bias": m.bias is not None,
        "padding_mode": m.padding_mode,
    }


def _conv_transpose(node: fx.Node, m: Any, rank: int) -> Attrs:
    if len(node.args) > 1 or "output_size" in node.kwargs:
        raise fn.Unsupported("it is called with an output_size")
    return {**_conv(node, m, rank), "output_padding": _pair(m.output_padding)}


def _linear(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {"in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None}


def _bn(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {
        "num_features": m.num_features,
        "affine": m.affine,
        "eps": m.eps,
        "track_running_stats": m.track_running_stats,
    }


def _gn(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {"num_channels": m.num_channels, "num_groups": m.num_groups, "affine": m.affine, "eps": m.eps}


def _ln(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {"normalized_shape": tuple(m.normalized_shape), "affine": m.elementwise_affine, "eps": m.eps}


def _pool(node: fx.Node, m: Any, rank: int) -> Attrs:
    out = {
        "kernel_size": _pair(m.kernel_size),
        "stride": _pair(m.stride),
        "padding": _pair(m.padding),
        "ceil_mode": bool(getattr(m, "ceil_mode", False)),
        "type": type(m).__name__,
    }
    if hasattr(m, "dilation"):
        out["dilation"] = _pair(m.dilation)
    return out


def _adaptive(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {"output_size": _pair(m.output_size), "type": type(m).__name__}


def _flatten_mod(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {"start_dim": m.start_dim % rank, "end_dim": m.end_dim % rank}


def _softmax_mod(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {"dim": None if m.dim is None else m.dim % rank}


def _none(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {}


def _act_mod(node: fx.Node, m: Any, rank: int) -> Attrs:
    return {"type": type(m).__name__}


_MODULES: list[tuple[tuple[type, ...], OpKind, _Extract]] = [
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), OpKind.CONV, _conv),
    ((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), OpKind.CONV_TRANSPOSE, _conv_transpose),
    ((nn.Linear,), OpKind.LINEAR, _linear),
    (
        (
            nn.BatchNorm1d,
            nn.BatchNorm2d,
            nn.BatchNorm3d,
            nn.SyncBatchNorm,
            nn.InstanceNorm1d,
            nn.InstanceNorm2d,
            nn.InstanceNorm3d,
        ),
        OpKind.BATCHNORM,
        _bn,
    ),
    ((nn.LayerNorm,), OpKind.LAYERNORM, _ln),
    ((nn.GroupNorm,), OpKind.GROUPNORM, _gn),
    (
        (
            nn.ReLU,
            nn.ReLU6,
            nn.GELU,
            nn.SiLU,
            nn.Hardswish,
            nn.Hardsigmoid,
            nn.Sigmoid,
            nn.Tanh,
            nn.LeakyReLU,
            nn.ELU,
            nn.Mish,
            nn.Softplus,
            nn.Dropout,
            nn.Dropout2d,
            nn.Dropout1d,
            nn.Dropout3d,
            nn.AlphaDropout,
            nn.FeatureAlphaDropout,
            nn.Identity,
            nn.Hardtanh,
        ),
        OpKind.ACT,
        _act_mod,
    ),
    (
        (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d),
        OpKind.POOL,
        _pool,
    ),
    (
        (
            nn.AdaptiveAvgPool1d,
            nn.AdaptiveAvgPool2d,
            nn.AdaptiveAvgPool3d,
            nn.AdaptiveMaxPool1d,
            nn.AdaptiveMaxPool2d,
            nn.AdaptiveMaxPool3d,
        ),
        OpKind.ADAPTIVE_POOL,
        _adaptive,
    ),
    ((nn.Flatten,), OpKind.FLATTEN, _flatten_mod),
    ((nn.Softmax, nn.LogSoftmax), OpKind.SOFTMAX, _softmax_mod),
    ((nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d), OpKind.RESAMPLE, _act_mod),
]


def _arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    if name in node.kwargs:
        return node.kwargs[name]
    if len(node.args) > index:
        return node.args[index]
    return default


def _dims(value: Any, rank: int) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value % rank,)
    return tuple(int(d) % rank for d in value)


def _f_act(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    return {"type": _name(node.target)}


def _f_dim(default: int | None) -> _FExtract:
    def extract(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
        d = _arg(node, 1, "dim", default)
        return {"dim": None if d is None else int(d) % max(rank, 1)}

    return extract


def _f_cat(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    return {"dim": int(_arg(node, 1, "dim", 0))}  # normalised by the caller from the output rank


def _f_squeeze(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    if not isinstance(_arg(node, 1, "dim"), int):
        raise fn.Unsupported("it has no literal dim (a squeeze of every size-1 dim may remove channels)")
    return {"type": _name(node.target)}


def _f_split(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    arg1 = _arg(node, 1, "split_size_or_sections", None)
    if arg1 is None:
        arg1 = _arg(node, 1, "chunks", _arg(node, 1, "split_size", None))
    op = "chunk" if "chunk" in _name(node.target) else "split"
    sizes = tuple(arg1) if isinstance(arg1, (list, tuple)) else arg1
    return {"dim": int(_arg(node, 2, "dim", 0)) % rank, "how": op, "arg": sizes}


def _index_item(item: Any) -> tuple[str | int | None, ...]:
    if item is None:
        return ("none",)
    if item is Ellipsis:
        return ("ellipsis",)
    if isinstance(item, int):
        return ("int", item)
    if isinstance(item, slice) and all(
        isinstance(x, (int, type(None))) for x in (item.start, item.stop, item.step)
    ):
        return ("slice", item.start, item.stop, item.step)
    raise ValueError("dynamic index")


def _f_getitem(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    index = node.args[1]
    items = index if isinstance(index, tuple) else (index,)
    return {"index": tuple(_index_item(i) for i in items), "tuple_index": isinstance(index, tuple)}


def _f_flatten(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    return {
        "start_dim": int(_arg(node, 1, "start_dim", 0)) % rank,
        "end_dim": int(_arg(node, 2, "end_dim", -1)) % rank,
    }


def _f_permute(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    name = _name(node.target)
    if "transpose" in name or name.endswith("swapaxes"):
        d0, d1 = int(_arg(node, 1, "dim0")) % rank, int(_arg(node, 2, "dim1")) % rank
        perm = list(range(rank))
        perm[d0], perm[d1] = perm[d1], perm[d0]
        return {"perm": tuple(perm)}
    # literal ints; int() of a Node raises TypeError, which classify reports as "not literals"
    dims: Sequence[Any] = node.args[1:] if len(node.args) > 2 else _arg(node, 1, "dims")
    return {"perm": tuple(int(d) % rank for d in dims)}


def _f_reduce(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    dims = _arg(node, 1, "dim", None)
    keepdim = bool(_arg(node, 2, "keepdim", False))
    return {
        "dims": _dims(dims, rank) if dims is not None else tuple(range(rank)),
        "keepdim": keepdim,
        "type": _name(node.target),
    }


def _f_pool(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    return {
        "type": _name(node.target),
        "kernel_size": _pair(_arg(node, 1, "kernel_size")),
        "stride": _pair(_arg(node, 2, "stride")),
        "padding": _pair(_arg(node, 3, "padding", 0)),
    }


def _f_adaptive(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    return {"type": _name(node.target), "output_size": _pair(_arg(node, 1, "output_size"))}


def _f_layer_norm(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    return {
        "normalized_shape": tuple(_arg(node, 1, "normalized_shape")),
        "eps": _arg(node, 4, "eps", 1e-5),
        "affine": _arg(node, 2, "weight") is not None,
    }


def _f_resample(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    return {"type": _name(node.target)}


def _f_pad(node: fx.Node, rank: int, shapes: Shapes) -> Attrs:
    pad = _arg(node, 1, "pad")
    if not isinstance(pad, (list, tuple)) or len(pad) > 2 * (rank - 2):
        raise ValueError("padding reaches the channel dim")
    return {"type": "pad", "pad": tuple(pad)}


# unary elementwise (an extra tensor argument, e.g. a tensor exponent, is pinned by the flow rule);
# dropout variants zero elements, whole channels or whole samples: channels stay where they are
_ACT_FUNCS = {
    F.relu,
    F.relu6,
    F.gelu,
    F.silu,
    F.hardswish,
    F.hardsigmoid,
    F.sigmoid,
    F.tanh,
    F.leaky_relu,
    F.elu,
    F.mish,
    F.softplus,
    F.dropout,
    F.dropout1d,
    F.dropout2d,
    F.dropout3d,
    F.alpha_dropout,
    F.feature_alpha_dropout,
    torch.dropout,
    F.hardtanh,
    torch.relu,
    torch.sigmoid,
    torch.tanh,
    torch.nn.functional.relu_,
    torch.clone,
    torch.neg,
    torch.exp,
    torch.abs,
    torch.sqrt,
    torch.rsqrt,
    torch.square,
    torch.pow,
    torch.clamp,
    torch.clip,
    torch.erf,
    torch.reciprocal,
    torch.log,
    operator.neg,
    operator.pow,
}
_ACT_METHODS = {
    "relu",
    "relu_",
    "sigmoid",
    "sigmoid_",
    "tanh",
    "contiguous",
    "clone",
    "float",
    "double",
    "half",
    "to",
    "type_as",
    "detach",
    "neg",
    "exp",
    "abs",
    "sqrt",
    "hardswish",
    "rsqrt",
    "square",
    "pow",
    "clamp",
    "clamp_",
    "clamp_min",
    "clamp_max",
    "clip",
    "erf",
    "reciprocal",
    "log",
    "tanh_",
    "relu6",
    "silu",
    "gelu",
}
# functions of optional packages, matched by qualified name (hwprune never imports them)
_NAMED_FUNCS: dict[str, tuple[OpKind, Callable[..., Attrs]]] = {
    # per-sample (row) or whole-batch scaling: channel-wise identity
    "torchvision.ops.stochastic_depth.stochastic_depth": (OpKind.ACT, _f_act),
}
_FUNCS: dict[Any, tuple[OpKind, _FExtract]] = {
    **dict.fromkeys(_ACT_FUNCS, (OpKind.ACT, _f_act)),
    operator.add: (OpKind.ADD, _f_act),
    operator.iadd: (OpKind.ADD, _f_act),
    torch.add: (OpKind.ADD, _f_act),
    operator.sub: (OpKind.ADD, _f_act),
    torch.sub: (OpKind.ADD, _f_act),
    operator.mul: (OpKind.MUL, _f_act),
    operator.imul: (OpKind.MUL, _f_act),
    torch.mul: (OpKind.MUL, _f_act),
    operator.truediv: (OpKind.MUL, _f_act),
    torch.div: (OpKind.MUL, _f_act),
    torch.cat: (OpKind.CAT, _f_cat),
    torch.concat: (OpKind.CAT, _f_cat),
    torch.split: (OpKind.SPLIT, _f_split),
    torch.chunk: (OpKind.SPLIT, _f_split),
    operator.getitem: (OpKind.GETITEM, _f_getitem),
    torch.flatten: (OpKind.FLATTEN, _f_flatten),
    torch.reshape: (OpKind.RESHAPE, _f_act),
    torch.unsqueeze: (OpKind.RESHAPE, _f_squeeze),
    torch.squeeze: (OpKind.RESHAPE, _f_squeeze),
    torch.permute: (OpKind.PERMUTE, _f_permute),
    torch.transpose: (OpKind.PERMUTE, _f_permute),
    torch.mean: (OpKind.REDUCE, _f_reduce),
    torch.sum: (OpKind.REDUCE, _f_reduce),
    torch.amax: (OpKind.REDUCE, _f_reduce),
    F.max_pool2d: (OpKind.POOL, _f_pool),
    F.avg_pool2d: (OpKind.POOL, _f_pool),
    F.max_pool1d: (OpKind.POOL, _f_pool),
    F.avg_pool1d: (OpKind.POOL, _f_pool),
    F.adaptive_avg_pool2d: (OpKind.ADAPTIVE_POOL, _f_adaptive),
    F.adaptive_max_pool2d: (OpKind.ADAPTIVE_POOL, _f_adaptive),
    F.adaptive_avg_pool1d: (OpKind.ADAPTIVE_POOL, _f_adaptive),
    F.layer_norm: (OpKind.LAYERNORM, _f_layer_norm),
    F.batch_norm: (OpKind.BATCHNORM, fn.f_batch_norm),
    torch.batch_norm: (OpKind.BATCHNORM, fn.f_batch_norm),
    F.instance_norm: (OpKind.BATCHNORM, fn.f_instance_norm),
    F.group_norm: (OpKind.GROUPNORM, fn.f_group_norm),
    F.linear: (OpKind.LINEAR, fn.f_linear),
    torch._C._nn.linear: (OpKind.LINEAR, fn.f_linear),
    F.conv1d: (OpKind.CONV, fn.f_conv),
    F.conv2d: (OpKind.CONV, fn.f_conv),
    F.conv3d: (OpKind.CONV, fn.f_conv),
    operator.matmul: (OpKind.MATMUL, _f_act),
    torch.matmul: (OpKind.MATMUL, _f_act),
    torch.bmm: (OpKind.MATMUL, _f_act),
    torch.addcmul: (OpKind.MUL, _f_act),
    torch.addcdiv: (OpKind.MUL, _f_act),
    torch.norm: (OpKind.REDUCE, fn.f_norm),
    torch.linalg.vector_norm: (OpKind.REDUCE, fn.f_norm),
    torch.std: (OpKind.REDUCE, fn.f_stat),
    torch.var: (OpKind.REDUCE, fn.f_stat),
    torch.broadcast_to: (OpKind.EXPAND, fn.f_expand),
    F.softmax: (OpKind.SOFTMAX, _f_dim(None)),
    torch.softmax: (OpKind.SOFTMAX, _f_dim(None)),
    F.log_softmax: (OpKind.SOFTMAX, _f_dim(None)),
    F.interpolate: (OpKind.RESAMPLE, _f_resample),
    F.pad: (OpKind.RESAMPLE, _f_pad),
}
_METHODS: dict[str, tuple[OpKind, _FExtract]] = {
    **dict.fromkeys(_ACT_METHODS, (OpKind.ACT, _f_act)),
    "add": (OpKind.ADD, _f_act),
    "add_": (OpKind.ADD, _f_act),
    "sub": (OpKind.ADD, _f_act),
    "mul": (OpKind.MUL, _f_act),
    "mul_": (OpKind.MUL, _f_act),
    "div": (OpKind.MUL, _f_act),
    "split": (OpKind.SPLIT, _f_split),
    "chunk": (OpKind.SPLIT, _f_split),
    "flatten": (OpKind.FLATTEN, _f_flatten),
    "view": (OpKind.RESHAPE, _f_act),
    "reshape": (OpKind.RESHAPE, _f_act),
    "permute": (OpKind.PERMUTE, _f_permute),
    "transpose": (OpKind.PERMUTE, _f_permute),
    "mean": (OpKind.REDUCE, _f_reduce),
    "sum": (OpKind.REDUCE, _f_reduce),
    "amax": (OpKind.REDUCE, _f_reduce),
    "softmax": (OpKind.SOFTMAX, _f_dim(None)),
    "matmul": (OpKind.MATMUL, _f_act),
    "bmm": (OpKind.MATMUL, _f_act),
    "addcmul": (OpKind.MUL, _f_act),
    "addcdiv": (OpKind.MUL, _f_act),
    "reshape_as": (OpKind.RESHAPE, _f_act),
    "unsqueeze": (OpKind.RESHAPE, _f_squeeze),
    "squeeze": (OpKind.RESHAPE, _f_squeeze),
    "view_as": (OpKind.RESHAPE, _f_act),
    "norm": (OpKind.REDUCE, fn.f_norm),
    "std": (OpKind.REDUCE, fn.f_stat),
    "var": (OpKind.REDUCE, fn.f_stat),
    "expand": (OpKind.EXPAND, fn.f_expand),
    "expand_as": (OpKind.EXPAND, fn.f_expand),
    "repeat": (OpKind.EXPAND, fn.f_expand),
    "broadcast_to": (OpKind.EXPAND, fn.f_expand),
}


def _name(target: Any) -> str:
    if isinstance(target, str):
        return target
    mod = getattr(target, "__module__", None) or ""
    return f"{mod}.{getattr(target, '__qualname__', getattr(target, '__name__', repr(target)))}".lstrip(".")


def _rank_of(node: fx.Node, shapes: dict[str, Any]) -> int:
    for a in node.all_input_nodes:
        s = shapes.get(a.name)
        if isinstance(s, tuple) and s and isinstance(s[0], tuple):
            return len(s[0])
        if isinstance(s, tuple):
            return len(s)
    return 1


def classify(
    node: fx.Node, gm: fx.GraphModule, shapes: dict[str, Any], out_is_tensor: bool
) -> tuple[OpKind, str, Attrs]:
    """Classify one fx node.

    Args:
        node: the fx node.
        gm: the traced module (to look up called submodules).
        shapes: node name -> shape of a tensor value or tuple of part shapes.
        out_is_tensor: whether the node produces a tensor or a tuple of tensors.

    Returns:
        ``(kind, target string, attrs)``; unknown targets give ``OpKind.OPAQUE``.
    """
    if node.op == "placeholder":
        return OpKind.INPUT, str(node.target), {}
    if node.op == "output":
        return OpKind.OUTPUT, "output", {}
    if node.op == "get_attr":
        return OpKind.PARAM, str(node.target), {}
    rank = _rank_of(node, shapes)
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        mtype = type(m)
        if parametrize.is_parametrized(m):  # torch injects a subclass; N:M masks keep the layer's kind
            mtype = mtype.__bases__[0]
        for types, kind, extract in _MODULES:
            if mtype in types:
                try:
                    return kind, str(node.target), extract(node, m, rank)
                except fn.Unsupported as e:
                    return OpKind.OPAQUE, str(node.target), {"type": type(m).__name__, "why": str(e)}
        if isinstance(m, nn.PReLU) and m.num_parameters == 1:
            return OpKind.ACT, str(node.target), {"type": "PReLU"}
        return (
            OpKind.OPAQUE,
            str(node.target),
            {"type": type(m).__name__, "why": f"no rule for module type {type(m).__name__}"},
        )
    if not out_is_tensor:
        return OpKind.SIZE, _name(node.target), {}
    table: Mapping[Any, tuple[OpKind, _FExtract]] = _METHODS if node.op == "call_method" else _FUNCS
    try:
        entry = table.get(node.target)
    except TypeError:  # unhashable target
        entry = None
    if entry is None and node.op == "call_function":
        entry = _NAMED_FUNCS.get(_name(node.target))
    if entry is None:
        readable = _name(node.target).replace("_VariableFunctionsClass.", "")
        return OpKind.OPAQUE, _name(node.target), {"why": f"no rule for {readable}"}
    kind, f_extract = entry
    try:
        attrs = f_extract(node, rank, shapes)
    except fn.Unsupported as e:
        return OpKind.OPAQUE, _name(node.target), {"why": str(e)}
    except (ValueError, TypeError):  # a literal we cannot read (e.g. a dynamic index): do not guess
        return OpKind.OPAQUE, _name(node.target), {"why": "arguments are not literals"}
    return kind, _name(node.target), attrs
