"""IR -> hwmodel workloads. One handler per op kind, filled by a decorator; kinds without one are free.

Latency is per sample: the batch dimension of the example inputs is not simulated. Ops the DPU fuses
into the producing conv (BatchNorm, activations) and pure data-layout ops (flatten, reshape, permute,
getitem, split) cost nothing; a concat is a CONCAT layer (the engine decides what it costs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from hwmodel.workloads.layers import DENSE, Layer, LayerKind, LayerSparsity
from hwprune.ir.graph import Graph, Op
from hwprune.ir.kinds import OpKind

__all__ = ["Lowered", "lower", "mark_fusable_adds", "LOWERING", "FREE_KINDS", "resize"]


@dataclass(frozen=True, slots=True)
class Lowered:
    """One workload and where its channel counts come from.

    Attributes:
        op: the IR op (module) name; the workload has the same name.
        layer: the workload at the model's full size.
        in_value / out_value: the IR values whose channel dim (``in_dim`` / ``out_dim``) gives the
            layer's input / output channels (None when the count cannot change).
        in_scale: features per input channel (flatten -> linear: H*W), 1 otherwise.
        tied: the layer's input and output channels are the same channels (depthwise, pool, eltwise).
    """

    op: str
    layer: Layer
    in_value: str | None
    in_dim: int
    out_value: str | None
    out_dim: int
    in_scale: int = 1
    tied: bool = False


_Handler = Callable[[Op, Graph], Lowered | None]
LOWERING: dict[OpKind, _Handler] = {}

# kinds that cost no accelerator time: fused into the previous conv, or pure data layout
# (EXPAND is a broadcast view: the elementwise op that reads it is priced at its full output size)
FREE_KINDS = frozenset({
    OpKind.INPUT, OpKind.OUTPUT, OpKind.PARAM, OpKind.BATCHNORM, OpKind.ACT, OpKind.FLATTEN,
    OpKind.RESHAPE, OpKind.PERMUTE, OpKind.GETITEM, OpKind.SPLIT, OpKind.SIZE, OpKind.SOFTMAX,
    OpKind.OPAQUE, OpKind.RESAMPLE, OpKind.EXPAND,
})


def handles(*kinds: OpKind) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        for k in kinds:
            LOWERING[k] = fn
        return fn

    return register


def _pair(v) -> tuple[int, int]:
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


def _tensor_inputs(op: Op, graph: Graph) -> list[str]:
    return [v for v in op.inputs if graph.value(v).is_tensor]


@handles(OpKind.CONV)
def _conv(op: Op, graph: Graph) -> Lowered | None:
    x = _shape(graph, op.inputs[0])
    y = _shape(graph, op.output)
    if len(x) != 4:  # Conv1d/3d: not modelled on the 2-D engines
        return None
    padding = op.attr("padding")
    if isinstance(padding, str):  # "same"/"valid": recover the per-side padding from the output size
        kh, kw = _pair(op.attr("kernel_size"))
        dh, dw = _pair(op.attr("dilation"))
        padding = (0, 0) if padding == "valid" else ((dh * (kh - 1)) // 2, (dw * (kw - 1)) // 2)
    groups = int(op.attr("groups", 1))
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(op.attr("kernel_size")), _pair(op.attr("stride")), _pair(padding),
                                              _pair(op.attr("dilation")))
    h = _fit(x[2], ph, dh * (kh - 1) + 1, sh, y[2])
    w = _fit(x[3], pw, dw * (kw - 1) + 1, sw, y[3])
    layer = Layer.conv(op.name, h, w, x[1], y[1], (kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw),
                       groups=groups).with_sparsity(op.sparsity or DENSE)
    tied = layer.kind is LayerKind.DEPTHWISE and x[1] == y[1]
    return Lowered(op.name, layer, op.inputs[0], 1, op.output, 1, tied=tied)


@handles(OpKind.CONV_TRANSPOSE)
def _conv_transpose(op: Op, graph: Graph) -> Lowered | None:
    x = _shape(graph, op.inputs[0])
    y = _shape(graph, op.output)
    if len(x) != 4:  # ConvTranspose1d/3d: not modelled on the 2-D engines
        return None
    (kh, kw), (dh, dw) = _pair(op.attr("kernel_size")), _pair(op.attr("dilation"))
    # priced as the stride-1 conv over the zero-inserted, padded input that gives the same output
    # (how engines without a native deconvolution run it: the inserted zeros cost MACs too)
    layer = Layer.conv(op.name, y[2] + dh * (kh - 1), y[3] + dw * (kw - 1), x[1], y[1], (kh, kw),
                       dilation=(dh, dw), groups=int(op.attr("groups", 1)))
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
def _pool(op: Op, graph: Graph) -> Lowered | None:
    x = _shape(graph, op.inputs[0])
    if len(x) != 4:
        return None
    k = _pair(op.attr("kernel_size"))
    s = op.attr("stride")
    s = k if s in (None, (), []) else _pair(s)
    p = _pair(op.attr("padding", 0) or 0)
    y = _shape(graph, op.output)
    h, w = _fit(x[2], p[0], k[0], s[0], y[2]), _fit(x[3], p[1], k[1], s[1], y[3])
    layer = Layer(op.name, LayerKind.POOL, h, w, x[1], x[1], k[0], k[1], s[0], s[1], p[0], p[1])
    return Lowered(op.name, layer, op.inputs[0], 1, op.output, 1, tied=True)


@handles(OpKind.ADAPTIVE_POOL)
def _adaptive(op: Op, graph: Graph) -> Lowered | None:
    x = _shape(graph, op.inputs[0])
    y = _shape(graph, op.output)
    if len(x) != 4:
        return None
    h, w = x[2], x[3]
    oh, ow = y[2], y[3]
    if h % oh or w % ow:  # uneven adaptive windows: model as the largest window, stride = window
        kh, kw = -(-h // oh), -(-w // ow)
    else:
        kh, kw = h // oh, w // ow
    layer = Layer(op.name, LayerKind.POOL, max(h, kh * oh), max(w, kw * ow), x[1], x[1], kh, kw, kh, kw)
    return Lowered(op.name, layer, op.inputs[0], 1, op.output, 1, tied=True)


@handles(OpKind.REDUCE)
def _reduce(op: Op, graph: Graph) -> Lowered | None:
    x = _shape(graph, op.inputs[0])
    dims = tuple(op.attr("dims") or ())
    if len(x) != 4 or sorted(dims) != [2, 3]:  # only the global spatial mean/sum is a pooling
        return None
    layer = Layer(op.name, LayerKind.POOL, x[2], x[3], x[1], x[1], x[2], x[3], x[2], x[3])
    return Lowered(op.name, layer, op.inputs[0], 1, op.output, 1, tied=True)


def _eltwise(op: Op, graph: Graph, kind: LayerKind) -> Lowered | None:
    ins = [v for v in _tensor_inputs(op, graph) if len(_shape(graph, v)) == len(_shape(graph, op.output))]
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
def _layernorm(op: Op, graph: Graph) -> Lowered | None:
    y = _shape(graph, op.output)
    if len(y) < 2:
        return None
    c = y[-1]
    h, w = _spatial((1, 1, *y[1:-1]))
    # a normalisation is two elementwise passes on the ALU (statistics, then scale and shift)
    layer = Layer(op.name, LayerKind.ELTWISE_MUL, h, w, c, c, num_inputs=2)
    return Lowered(op.name, layer, op.output, len(y) - 1, op.output, len(y) - 1, tied=True)


@handles(OpKind.GROUPNORM)
def _groupnorm(op: Op, graph: Graph) -> Lowered | None:
    y = _shape(graph, op.output)
    if len(y) < 3:
        return None
    h, w = _spatial(y)
    # not foldable into the conv (its statistics depend on the input): two ALU passes, as LayerNorm
    layer = Layer(op.name, LayerKind.ELTWISE_MUL, h, w, y[1], y[1], num_inputs=2)
    return Lowered(op.name, layer, op.output, 1, op.output, 1, tied=True)


@handles(OpKind.CAT)
def _cat(op: Op, graph: Graph) -> Lowered | None:
    y = _shape(graph, op.output)
    if len(y) != 4 or int(op.attr("dim", 1)) % 4 != 1:
        return None
    ins = _tensor_inputs(op, graph)
    layer = Layer(op.name, LayerKind.CONCAT, y[2], y[3], y[1], y[1], num_inputs=max(1, len(ins)))
    return Lowered(op.name, layer, op.output, 1, op.output, 1, tied=True)


def lower(graph: Graph) -> list[Lowered]:
    """Lower every op that costs accelerator time to a workload, in graph order.

    Residual adds that an engine can fuse into their producing conv are marked (see
    :func:`mark_fusable_adds`); each engine decides whether it fuses them.

    Args:
        graph: a traced (possibly pruned) IR graph.

    Returns:
        The lowered layers; names equal the ops' (module) names.
    """
    out = []
    for op in graph.ops:
        handler = LOWERING.get(op.kind)
        if handler is None:
            continue
        lowered = handler(op, graph)
        if lowered is not None:
            out.append(lowered)
    return mark_fusable_adds(graph, out)


# ops between a conv and the add that a fused conv+add still covers (folded into the conv)
_FOLDED = frozenset({OpKind.BATCHNORM})


def _fusable_conv(graph: Graph, value: str) -> str | None:
    """The conv whose output reaches ``value`` through folded ops only, each used once; else None."""
    while True:
        if len(graph.consumers(value)) != 1:
            return None
        op = graph.producer(value)
        if op.kind is OpKind.CONV:
            return op.name
        if op.kind not in _FOLDED or not op.inputs:
            return None
        value = op.inputs[0]


def mark_fusable_adds(graph: Graph, lowered: list[Lowered]) -> list[Lowered]:
    """Mark ``conv (+BN) + add`` pairs as the Vitis AI compiler fuses them (the DPU's ELEW path).

    An elementwise add of same-shaped tensors, one of which comes from a conv used only by this add,
    becomes ``fused`` and that conv gets ``residual_inputs`` = the add's other operands. The last such
    conv in graph order is chosen (the one that finishes last). Engines that do not fuse ignore both.

    Args:
        graph: the graph ``lowered`` came from.
        lowered: its lowered layers, in graph order.

    Returns:
        The layers, with fused pairs marked.
    """
    index = {lw.op: i for i, lw in enumerate(lowered)}
    out = list(lowered)
    for i, lw in enumerate(lowered):
        layer = lw.layer
        if layer.kind is not LayerKind.ELTWISE_ADD or layer.fused:
            continue
        convs = [c for v in _tensor_inputs(graph.op(lw.op), graph) if (c := _fusable_conv(graph, v)) in index]
        convs = [c for c in convs if index[c] < i and out[index[c]].layer.residual_inputs == 0
                 and out[index[c]].layer.kind is LayerKind.CONV]
        if not convs:
            continue
        j = max(index[c] for c in convs)
        conv = out[j]
        out[j] = replace(conv, layer=conv.layer.with_(residual_inputs=layer.num_inputs - 1))
        out[i] = replace(lw, layer=layer.with_(fused=True))
    return out


def resize(lowered: Lowered, cin: int, cout: int, sparsity: LayerSparsity = DENSE) -> Layer:
    """The workload with ``cin`` input and ``cout`` output channels and the given sparsity."""
    layer = lowered.layer
    nm, act = sparsity.weight, sparsity.act
    if lowered.tied or layer.kind is LayerKind.DEPTHWISE:
        k = cout
        groups = k if layer.kind is LayerKind.DEPTHWISE else layer.groups
        return layer.with_(channels=k, num_filter=k, groups=groups, weight_nm=nm, act_sparsity=act)
    return layer.with_(channels=cin * lowered.in_scale if layer.kind is LayerKind.GEMM else cin,
                       num_filter=cout, weight_nm=nm, act_sparsity=act)
