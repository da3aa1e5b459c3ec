"""How a layer maps onto a systolic array: GEMM jobs, the (Sr, Sc, T) view per dataflow, fold geometry.

SCALE-Sim v3 semantics: a conv lowers by im2col to M = E*F, K = Rf*Sf*Cin (after N:M: K'), N = Cout;
OS maps Sr=M, Sc=N, T=K; WS Sr=K, Sc=N, T=M; IS Sr=K, Sc=M, T=N. A fold is one R x C tile of the
Sr x Sc space; every fold lasts L = T + R + C - 2 (OS) or 2R + C + T - 2 (WS, IS) cycles, partial
folds included, and a GEMM takes folds * L - 1 cycles (the last demand line's index). Grouped and
depthwise convs run as ``groups`` independent GEMMs, each with its own ``- 1`` (SCALE-Sim runs a
depthwise layer as Cin single-channel layers).
"""

from __future__ import annotations

from dataclasses import dataclass

from hwmodel.errors import ConfigError
from hwmodel.workloads.layers import Layer, LayerKind

__all__ = ["DF_CODE", "GemmJob", "gemm_job", "spatial_dims", "fold_length"]

DF_CODE = {"os": 0, "ws": 1, "is": 2}


@dataclass(frozen=True, slots=True)
class GemmJob:
    """One layer as ``repeat`` identical GEMMs (M x K) @ (K x N); K is after the N:M mask."""

    m: int
    k: int
    n: int
    repeat: int = 1

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n * self.repeat


def gemm_job(layer: Layer, nm_support: bool = True) -> GemmJob | None:
    """The GEMM view of a conv, depthwise or GEMM layer; None for layers the array does not run.

    Args:
        layer: the workload.
        nm_support: whether the array skips the zeros of the layer's N:M pattern (shortens K).
    """
    if layer.kind not in (LayerKind.CONV, LayerKind.DEPTHWISE, LayerKind.GEMM):
        return None
    k = layer.gemm_k_sparse if nm_support else layer.gemm_k
    return GemmJob(layer.gemm_m, k, layer.gemm_n, layer.groups)


def spatial_dims(dataflow: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(Sr, Sc, T) of a GEMM under ``dataflow``."""
    if dataflow == "os":
        return m, n, k
    if dataflow == "ws":
        return k, n, m
    if dataflow == "is":
        return k, m, n
    raise ConfigError(f"unknown dataflow {dataflow!r}; use os, ws or is")


def fold_length(dataflow: str, rows: int, cols: int, t: int) -> int:
    """Cycles of one fold: T + R + C - 2 (OS) or 2R + C + T - 2 (WS, IS)."""
    return t + rows + cols - 2 if dataflow == "os" else 2 * rows + cols + t - 2
