"""Per-kind lowering rules: the tables of priced, free and unmodelled kinds, and one handler per kind.

Handlers live in the one per-kind registry (``hwprune.ir.handlers``, concern ``"lower"``; see
:mod:`hwprune.lower.lower` for the contract). A handler returns a :class:`Lowered` workload, None when
the instance is free, or an :class:`Unmodelled` entry with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from hwmodel.workloads.layers import DENSE, Layer, LayerKind
from hwprune.ir.graph import Graph, Op
from hwprune.ir.handlers import register
from hwprune.ir.kinds import OpKind
from hwprune.lower.lowered import Lowered, Unmodelled

__all__ = [
    "LOWERING",
    "FREE_KINDS",
    "FREE_WHY",
    "NOT_MODELLED",
    "OPAQUE_WHY",
    "DPU_ACTS",
    "NOOP_ACTS",
    "act_placement",
    "unpriced",
]


_Handler = Callable[[Op, Graph], "Lowered | Unmodelled | None"]
# kinds with a cost model -> their handler (also registered as the kind's "lower" handler)
LOWERING: dict[OpKind, _Handler] = {}

# kinds that cost no accelerator time, and why
FREE_WHY: dict[OpKind, str] = {
    OpKind.INPUT: "model input",
    OpKind.OUTPUT: "model output",
    OpKind.PARAM: "a stored tensor read in place",
    OpKind.BATCHNORM: "folded into the producing conv's weights and bias",
    OpKind.FLATTEN: "data layout: read in place",
    OpKind.RESHAPE: "data layout: read in place",
    OpKind.PERMUTE: "data layout: the next layer's load reorders it",
    OpKind.GETITEM: "data layout: a slice or tuple item read in place",
    OpKind.SPLIT: "data layout: parts read in place",
    OpKind.SIZE: "shape arithmetic on the host, no tensor work",
    # a broadcast view: the elementwise op that reads it is priced at its full output size
    OpKind.EXPAND: "a broadcast view; its reader is priced at the full size",
}
FREE_KINDS = frozenset(FREE_WHY)

# kinds that do cost time but have no cost model here, and why
NOT_MODELLED: dict[OpKind, str] = {
    OpKind.RESAMPLE: "up/down-sampling and padding have no cost model on the modelled engines",
    OpKind.OPAQUE: "an op hwprune does not know; no cost model",
}

# activations the DPU runs in the producing conv's output stage (UG1414 3.0 "Currently Supported
# Operators", DPUCZDX8G_ISA1_B4096 on ZCU102/ZCU104: ReLU, LeakyReLU, ReLU6, Hard-Swish, Hard-Sigmoid;
# a clamp/hardtanh is taken as the ReLU6-style clip, whatever its bounds), by lower-case name without "_"
DPU_ACTS = frozenset(
    {
        "relu",
        "relu6",
        "leakyrelu",
        "hardswish",
        "hardsigmoid",
        "hardtanh",
        "clamp",
        "clip",
        "clampmin",
        "clampmax",
    }
)
# unary ops that do nothing at inference (dropout, identity, copies and casts of an int8 tensor)
NOOP_ACTS = frozenset(
    {
        "dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "alphadropout",
        "featurealphadropout",
        "identity",
        "contiguous",
        "clone",
        "float",
        "double",
        "half",
        "to",
        "typeas",
        "detach",
        "stochasticdepth",
    }
)

# OPAQUE ops by torch op name (module type or function): why they are not priced
OPAQUE_WHY: dict[str, str] = {
    "LSTM": "recurrent layer (LSTM): its per-time-step GEMMs are not lowered; no cost model",
    "GRU": "recurrent layer (GRU): its per-time-step GEMMs are not lowered; no cost model",
    "RNN": "recurrent layer (RNN): its per-time-step GEMMs are not lowered; no cost model",
    "LSTMCell": "recurrent cell (LSTMCell): no cost model",
    "GRUCell": "recurrent cell (GRUCell): no cost model",
    "MultiheadAttention": "attention (MultiheadAttention): projections and score GEMMs not lowered; no cost model",
    "scaled_dot_product_attention": "attention: score and value GEMMs not lowered; no cost model",
    "Transformer": "transformer block: no cost model",
    "TransformerEncoderLayer": "transformer block: no cost model",
    "TransformerDecoderLayer": "transformer block: no cost model",
    "matmul": "tensor matmul: no GEMM lowering for a product of two activations; no cost model",
    "bmm": "batched matmul: no cost model",
    "einsum": "einsum: no cost model (contraction not lowered to a GEMM)",
    "fft": "FFT: the modelled engines have no FFT unit; no cost model",
    "sort": "sort: no cost model on the modelled engines",
    "argsort": "sort: no cost model on the modelled engines",
    "topk": "top-k selection: no cost model on the modelled engines",
    "roll": "roll (data movement with wrap-around): no cost model",
}


def handles(*kinds: OpKind) -> Callable[[_Handler], _Handler]:
    """Register a priced kind's lowering: its ``"lower"`` handler and its ``LOWERING`` entry."""

    def deco(fn: _Handler) -> _Handler:
        register("lower", *kinds)(fn)
        LOWERING.update(dict.fromkeys(kinds, fn))
        return fn

    return deco


@register("lower", *FREE_WHY)
def _free(op: Op, graph: Graph) -> None:
    return None


@register("lower", *NOT_MODELLED)
def _not_modelled(op: Op, graph: Graph) -> Unmodelled:
    return unpriced(op, _opaque_why(op) if op.kind is OpKind.OPAQUE else NOT_MODELLED[op.kind])


def _pair(v: int | tuple[int, ...] | list[int]) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1])) if len(v) > 1 else (int(v[0]), int(v[0]))
    return int(v), int(v)


def _fit(size: int, pad: int, k_eff: int, stride: int, out: int) -> int:
    """Input size that makes SCALE-Sim's E = ceil((H - R + s) / s) equal PyTorch's output size ``out``.

    PyTorch floors (rows past the last full window are never read); ceil_mode pools read past the edge.
    The rows the hardware would not touch are dropped, the missing ones added.
    """
    return (out - 1) * stride + k_eff - 2 * pad


def _shape(graph: Graph, value: str) -> tuple[int, ...]:
    return graph.value(value).shape or ()


@handles(OpKind.CONV)
def _conv(op: Op, graph: Graph) -> Lowered | Unmodelled:
    x = _shape(graph, op.inputs[0])
    y = _shape(graph, op.output)
    if len(x) != 4:
        return unpriced(op, f"{len(x) - 2}-D convolution: the modelled engines price 2-D convs only")
    padding = op.attr("padding")
    if isinstance(padding, str):  # "same"/"valid": recover the per-side padding from the output size
        kh, kw = _pair(op.attr("kernel_size"))
        dh, dw = _pair(op.attr("dilation"))
        padding = (0, 0) if padding == "valid" else ((dh * (kh - 1)) // 2, (dw * (kw - 1)) // 2)
    groups = int(op.attr("groups", 1))
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        _pair(op.attr("kernel_size")),
        _pair(op.attr("stride")),
        _pair(padding),
        _pair(op.attr("dilation")),
    )
    h = _fit(x[2], ph, dh * (kh - 1) + 1, sh, y[2])
    w = _fit(x[3], pw, dw * (kw - 1) + 1, sw, y[3])
    layer = Layer.conv(
        op.name,
        h,
        w,
        x[1],
        y[1],
        (kh, kw),
        stride=(sh, sw),
        padding=(ph, pw),
        dilation=(dh, dw),
        groups=groups,
    ).with_sparsity(op.sparsity or DENSE)
    tied = layer.kind is LayerKind.DEPTHWISE and x[1] == y[1]
    return Lowered(op.name, layer, op.inputs[0], 1, op.output, 1, tied=tied)


@handles(OpKind.CONV_TRANSPOSE)
def _conv_transpose(op: Op, graph: Graph) -> Lowered | Unmodelled:
    x = _shape(graph, op.inputs[0])
    y = _shape(graph, op.output)
    if len(x) != 4:
        return unpriced(op, f"{len(x) - 2}-D transposed convolution: the modelled engines price 2-D only")
    (kh, kw), (dh, dw) = _pair(op.attr("kernel_size")), _pair(op.attr("dilation"))
    # priced as the stride-1 conv over the zero-inserted, padded input that gives the same output
    # (how engines without a native deconvolution run it: the inserted zeros cost MACs too)
    layer = Layer.conv(
        op.name,
        y[2] + dh * (kh - 1),
        y[3] + dw * (kw - 1),
        x[1],
        y[1],
        (kh, kw),
        dilation=(dh, dw),
        groups=int(op.attr("groups", 1)),
    )
    tied = layer.kind is LayerKind.DEPTHWISE and x[1] == y[1]
    return Lowered(op.name, layer, op.inputs[0], 1, op.output, 1, tied=tied)


@handles(OpKind.MATMUL)
def _matmul(op: Op, graph: Graph) -> Lowered | None:
    a, y = _shape(graph, op.inputs[0]), _shape(graph, op.output)
    if len(a) < 2 or len(y) < 2:
        return None
    m = 1
    for d in y[1:-1]:  # per sample: batched products run one after another
        m *= d
    # a product of two activations: its size does not follow a group here, so it is priced unpruned
    return Lowered(op.name, Layer.gemm(op.name, m, a[-1], y[-1]), None, 0, None, 0)


@handles(OpKind.LINEAR)
def _linear(op: Op, graph: Graph) -> Lowered:
    x = _shape(graph, op.inputs[0])
    m = 1
    for d in x[1:-1]:  # per sample: tokens/pixels, not the batch
        m *= d
    layer = Layer.gemm(op.name, m, int(op.attr("in_features")), int(op.attr("out_features")))
    layer = layer.with_sparsity(op.sparsity or DENSE)
    return Lowered(op.name, layer, op.inputs[0], len(x) - 1, op.output, len(x) - 1)


def _spatial(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) >= 4:
        return shape[-2], shape[-1]
    if len(shape) == 3:
        return shape[-1], 1
    return 1, 1


@handles(OpKind.POOL)
def _pool(op: Op, graph: Graph) -> Lowered | Unmodelled:
    x = _shape(graph, op.inputs[0])
    if len(x) != 4:
        return unpriced(op, f"{len(x) - 2}-D pooling: the modelled engines price 2-D pooling only")
    k = _pair(op.attr("kernel_size"))
    s = op.attr("stride")
    s = k if s in (None, (), []) else _pair(s)
    p = _pair(op.attr("padding", 0) or 0)
    y = _shape(graph, op.output)
    h, w = _fit(x[2], p[0], k[0], s[0], y[2]), _fit(x[3], p[1], k[1], s[1], y[3])
    layer = Layer(op.name, LayerKind.POOL, h, w, x[1], x[1], k[0], k[1], s[0], s[1], p[0], p[1])
    return Lowered(op.name, layer, op.inputs[0], 1, op.output, 1, tied=True)


@handles(OpKind.ADAPTIVE_POOL)
def _adaptive(op: Op, graph: Graph) -> Lowered | Unmodelled:
    x = _shape(graph, op.inputs[0])
    y = _shape(graph, op.output)
    if len(x) != 4:
        return unpriced(op, f"{len(x) - 2}-D adaptive pooling: the modelled engines price 2-D pooling only")
    h, w = x[2], x[3]
    oh, ow = y[2], y[3]
    if h % oh or w % ow:  # uneven adaptive windows: model as the largest window, stride = window
        kh, kw = -(-h // oh), -(-w // ow)
    else:
        kh, kw = h // oh, w // ow
    layer = Layer(op.name, LayerKind.POOL, max(h, kh * oh), max(w, kw * ow), x[1], x[1], kh, kw, kh, kw)
    return Lowered(op.name, layer, op.inputs[0], 1, op.output, 1, tied=True)


@handles(OpKind.REDUCE)
def _reduce(op: Op, graph: Graph) -> Lowered | Unmodelled:
    x = _shape(graph, op.inputs[0])
    dims = tuple(op.attr("dims") or ())
    if len(x) != 4 or sorted(dims) != [2, 3]:  # only the global spatial mean/sum is a pooling
        return unpriced(
            op,
            f"reduction over dims {list(dims)} of a rank-{len(x)} tensor: only the global "
            "spatial mean/sum of an NCHW tensor is modelled (as a pooling)",
        )
    layer = Layer(op.name, LayerKind.POOL, x[2], x[3], x[1], x[1], x[2], x[3], x[2], x[3])
    return Lowered(op.name, layer, op.inputs[0], 1, op.output, 1, tied=True)


def _eltwise(op: Op, graph: Graph, kind: LayerKind) -> Lowered | None:
    ins = [v for v in graph.tensor_inputs(op) if len(_shape(graph, v)) == len(_shape(graph, op.output))]
    y = _shape(graph, op.output)
    if len(ins) < 2 or len(y) < 2:  # x + scalar or a broadcast constant: fused, free
        return None
    if len(y) == 4:
        c, h, w, dim = y[1], y[2], y[3], 1
    else:  # NHWC or token layouts: channels last
        c, dim = y[-1], len(y) - 1
        h, w = _spatial((1, 1, *y[1:-1]))
    layer = Layer(op.name, kind, h, w, c, c, num_inputs=len(ins))
    return Lowered(op.name, layer, op.output, dim, op.output, dim, tied=True)


@handles(OpKind.ADD)
def _add(op: Op, graph: Graph) -> Lowered | None:
    return _eltwise(op, graph, LayerKind.ELTWISE_ADD)


@handles(OpKind.MUL)
def _mul(op: Op, graph: Graph) -> Lowered | None:
    return _eltwise(op, graph, LayerKind.ELTWISE_MUL)


@handles(OpKind.LAYERNORM)
def _layernorm(op: Op, graph: Graph) -> Lowered | Unmodelled:
    y = _shape(graph, op.output)
    if len(y) < 2:
        return unpriced(op, "layer norm of a rank-1 tensor: no cost model")
    c = y[-1]
    h, w = _spatial((1, 1, *y[1:-1]))
    # a normalisation is two elementwise passes on the ALU (statistics, then scale and shift)
    layer = Layer(op.name, LayerKind.ELTWISE_MUL, h, w, c, c, num_inputs=2)
    return Lowered(op.name, layer, op.output, len(y) - 1, op.output, len(y) - 1, tied=True)


@handles(OpKind.GROUPNORM)
def _groupnorm(op: Op, graph: Graph) -> Lowered | Unmodelled:
    y = _shape(graph, op.output)
    if len(y) < 3:
        return unpriced(op, "group norm of a rank-2 tensor: no cost model")
    h, w = _spatial(y)
    # not foldable into the conv (its statistics depend on the input): two ALU passes, as LayerNorm
    layer = Layer(op.name, LayerKind.ELTWISE_MUL, h, w, y[1], y[1], num_inputs=2)
    return Lowered(op.name, layer, op.output, 1, op.output, 1, tied=True)


@handles(OpKind.CAT)
def _cat(op: Op, graph: Graph) -> Lowered | Unmodelled:
    y = _shape(graph, op.output)
    if len(y) != 4 or int(op.attr("dim", 1)) % 4 != 1:
        return unpriced(op, "concatenation other than along the channels of an NCHW tensor: no cost model")
    ins = graph.tensor_inputs(op)
    layer = Layer(op.name, LayerKind.CONCAT, y[2], y[3], y[1], y[1], num_inputs=max(1, len(ins)))
    return Lowered(op.name, layer, op.output, 1, op.output, 1, tied=True)


def act_placement(op: Op) -> str:
    """Where a unary op (``OpKind.ACT``) runs: ``"dpu"`` (fused into the conv), ``"noop"`` or ``"cpu"``."""
    leaf = _torch_op(op).rsplit(".", 1)[-1].lower().replace("_", "")
    if leaf in DPU_ACTS:
        return "dpu"
    if leaf in NOOP_ACTS:
        return "noop"
    return "cpu"  # sigmoid, SiLU, tanh, GELU, ... and any unary op not known to run on the DPU


# kinds whose output carries channels last (token / NHWC layouts) or on dim 1 (NCHW)
_CHANNELS_LAST = frozenset({OpKind.LINEAR, OpKind.LAYERNORM, OpKind.MATMUL})
_CHANNELS_FIRST = frozenset(
    {
        OpKind.CONV,
        OpKind.CONV_TRANSPOSE,
        OpKind.BATCHNORM,
        OpKind.GROUPNORM,
        OpKind.POOL,
        OpKind.ADAPTIVE_POOL,
        OpKind.CAT,
    }
)


def _channel_dim(graph: Graph, value: str) -> int:
    """The channel dim of ``value``: found through unary and elementwise ops from the op that laid it out
    (NCHW for convs and pooling, channels last after a linear or layer norm; else NCHW when 4-D)."""
    rank = len(_shape(graph, value))
    for _ in range(64):
        op = graph.producer(value)
        if op.kind in _CHANNELS_LAST:
            return rank - 1
        if op.kind in _CHANNELS_FIRST:
            return 1
        ins = [v for v in graph.tensor_inputs(op) if len(_shape(graph, v)) == rank]
        if op.kind not in (OpKind.ACT, OpKind.ADD, OpKind.MUL, OpKind.SOFTMAX) or not ins:
            break
        value = ins[0]
    return 1 if rank == 4 else rank - 1


def _cpu_layer(op: Op, graph: Graph) -> Lowered | None:
    """A ``LayerKind.CPU`` workload over the op's output tensor (per sample), tied to its channels."""
    y = _shape(graph, op.output)
    if len(y) < 2:
        return None  # a scalar or a 1-D tensor: host arithmetic on a handful of numbers
    dim = _channel_dim(graph, op.output)
    rest = 1
    for d in (*y[1:dim], *y[dim + 1 :]):
        rest *= d
    return Lowered(
        op.name,
        Layer(op.name, LayerKind.CPU, rest, 1, y[dim], y[dim]),
        op.output,
        dim,
        op.output,
        dim,
        tied=True,
    )


@handles(OpKind.ACT)
def _act(op: Op, graph: Graph) -> Lowered | None:
    # ReLU-family activations run in the producing conv's output stage and inference no-ops cost nothing;
    # the rest is host work (UG1414: operators the DPU does not support are assigned to the CPU)
    return _cpu_layer(op, graph) if act_placement(op) == "cpu" else None


@handles(OpKind.SOFTMAX)
def _softmax(op: Op, graph: Graph) -> Lowered | None:
    # the ZCU102/ZCU104 DPU builds have no softmax core (PG338's hardware softmax is an option): host work
    return _cpu_layer(op, graph)


def _torch_op(op: Op) -> str:
    """The torch op behind an IR op: a module's type, else the function or method name."""
    return str(op.attr("type") or op.target)


def _opaque_why(op: Op) -> str:
    name = _torch_op(op)
    leaf = name.rsplit(".", 1)[-1]
    why = OPAQUE_WHY.get(leaf)
    if why is None and (leaf.startswith("fft_") or ".fft." in f".{name}." or "._fft." in name):
        why = OPAQUE_WHY["fft"]
    if why is None:
        why = NOT_MODELLED[OpKind.OPAQUE]
    extra = op.attr("why")
    return f"{why} ({extra})" if extra else why


def unpriced(op: Op, why: str) -> Unmodelled:
    """The :class:`Unmodelled` entry for ``op``: its name, torch op, kind and ``why``."""
    return Unmodelled(op.name, _torch_op(op), op.kind.value, why)
