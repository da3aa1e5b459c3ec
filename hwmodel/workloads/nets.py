"""Reference networks as hwmodel workloads (no PyTorch): ResNet-50 v1.5 at torchvision geometry.

Used by the DPU benchmark and its regression test; hwprune builds the same layers from a traced model.
"""

from __future__ import annotations

from hwmodel.workloads.layers import Layer, LayerKind

__all__ = ["resnet50_layers"]


def _floor_h(h: int, k: int, stride: int, pad: int) -> int:
    """Input size whose SCALE-Sim output size (ceil) equals PyTorch's (floor) for this conv/pool.

    ``Layer`` uses E = ceil((H + 2p - k + s) / s); PyTorch floors, never reading the last
    ``(H + 2p - k) % s`` padded rows. Dropping them from the input gives PyTorch's E exactly.
    """
    return h - (h + 2 * pad - k) % stride


def _conv(name: str, h: int, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0) -> Layer:
    hh = _floor_h(h, k, stride, pad)
    return Layer.conv(name, hh, hh, cin, cout, k, stride=stride, padding=pad)


def resnet50_layers(size: int = 224, *, adds: bool = True) -> list[Layer]:
    """ResNet-50 v1.5 as DPU workloads (BN folded, ReLU fused; stride on the 3x3 conv)."""
    out = [_conv("conv1", size, 3, 64, 7, 2, 3).with_(dram_input=True)]  # the image is in DDR
    h = out[0].ofmap_h
    hp = _floor_h(h, 3, 2, 1)
    out.append(Layer("maxpool", LayerKind.POOL, hp, hp, 64, 64, 3, 3, 2, 2, 1, 1))
    h = out[-1].ofmap_h
    cin = 64
    for stage, (width, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), 1):
        for b in range(blocks):
            s = stride if b == 0 else 1
            p = f"layer{stage}.{b}"
            out.append(_conv(f"{p}.conv1", h, cin, width, 1))
            out.append(_conv(f"{p}.conv2", h, width, width, 3, s, 1))
            ho = out[-1].ofmap_h
            # the residual add is fused into conv3 as the Vitis AI compiler does (ELEW path)
            out.append(_conv(f"{p}.conv3", ho, width, 4 * width, 1).with_(residual_inputs=int(adds)))
            if b == 0:
                out.append(_conv(f"{p}.downsample", h, cin, 4 * width, 1, s))
            if adds:
                out.append(
                    Layer(
                        f"{p}.add",
                        LayerKind.ELTWISE_ADD,
                        ho,
                        ho,
                        4 * width,
                        4 * width,
                        num_inputs=2,
                        fused=True,
                    )
                )
            h, cin = ho, 4 * width
    out.append(Layer("avgpool", LayerKind.POOL, h, h, cin, cin, h, h, 1, 1))
    out.append(Layer.gemm("fc", 1, cin, 1000).with_(dram_output=True))  # the logits go to DDR
    return out
