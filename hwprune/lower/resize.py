"""A lowered workload at other channel counts, sparsity or (cropped) kernel size: what the planner prices."""

from __future__ import annotations

from hwmodel.errors import TopologyError
from hwmodel.workloads.layers import DENSE, Layer, LayerKind, LayerSparsity
from hwprune.lower.lowered import Lowered

__all__ = ["resize", "crop_kernel"]


def resize(
    lowered: Lowered, cin: int, cout: int, sparsity: LayerSparsity = DENSE, *, kernel: int | None = None
) -> Layer:
    """The workload with ``cin`` input and ``cout`` output channels and the given sparsity.

    ``kernel``: a conv's square kernel cropped to its centre ``kernel x kernel`` (elastic kernel size);
    the padding shrinks by the cropped margin, so the output size is unchanged (None: as lowered).
    """
    layer = lowered.layer
    if kernel is not None and kernel != layer.filt_h:
        layer = crop_kernel(layer, kernel)
    nm, act = sparsity.weight, sparsity.act
    if lowered.tied or layer.kind is LayerKind.DEPTHWISE:
        k = cout
        groups = k if layer.kind is LayerKind.DEPTHWISE else layer.groups
        # a depthwise conv pruned to one channel is a plain conv in the slim model (Layer.conv's rule)
        kind = LayerKind.CONV if layer.kind is LayerKind.DEPTHWISE and k == 1 else layer.kind
        return layer.with_(kind=kind, channels=k, num_filter=k, groups=groups, weight_nm=nm, act_sparsity=act)
    return layer.with_(
        channels=cin * lowered.in_scale if layer.kind is LayerKind.GEMM else cin,
        num_filter=cout,
        weight_nm=nm,
        act_sparsity=act,
    )


def crop_kernel(layer: Layer, kernel: int) -> Layer:
    """A conv workload with its square kernel cropped to the centre ``kernel x kernel``.

    The padding shrinks by the margin cropped on each side, so the output size stays the same: this
    is the layer a centre-cropped kernel (OFA's elastic kernel) runs as.

    Raises:
        TopologyError: not a conv with a square kernel of the same parity larger than ``kernel``, or a
            padding smaller than the margin.
    """
    k_old = layer.filt_h
    margin = (k_old - kernel) // 2
    if (
        layer.kind not in (LayerKind.CONV, LayerKind.DEPTHWISE)
        or layer.filt_w != k_old
        or kernel < 1
        or kernel > k_old
        or (k_old - kernel) % 2
        or min(layer.pad_h, layer.pad_w) < margin
    ):
        raise TopologyError(
            f"layer {layer.name!r}: cannot crop a {layer.filt_h}x{layer.filt_w} kernel (padding "
            f"{layer.pad_h},{layer.pad_w}) to {kernel}x{kernel}"
        )
    return layer.with_(filt_h=kernel, filt_w=kernel, pad_h=layer.pad_h - margin, pad_w=layer.pad_w - margin)
