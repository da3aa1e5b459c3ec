"""Systolic engine: one ``LayerReport`` per layer in cycle mode (Numba kernel) or analytic mode.

Per-kind behaviour lives in ``HANDLERS`` (filled by ``@handles``): conv, depthwise and GEMM layers run
on the array; pooling, elementwise, concat and the ops a DPU would leave to the host CPU
(``LayerKind.CPU``: sigmoid, SiLU, softmax, ...) run on a vector unit beside it (``cols`` lanes, one
operation per lane per cycle), as on TPU-like designs; SCALE-Sim has no model for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.errors import HwModelError
from hwmodel.reports.model import AccessWindows, LayerReport, Traffic, Window
from hwmodel.systolic import kernel as K
from hwmodel.systolic.addresses import ifmap_address_index
from hwmodel.systolic.analytic import gemm_compute_cycles, gemm_cost, memory_estimate
from hwmodel.systolic.mapping import DF_CODE, gemm_job, spatial_dims
from hwmodel.workloads.layers import Layer, LayerKind

__all__ = ["HANDLERS", "STALL_FACTOR", "simulate_layer", "estimate_layer", "layer_cycles"]

# SCALE-Sim v3 charges a late DRAM fill twice (see hwmodel.systolic.reference); kept for parity.
STALL_FACTOR = 2

Handler = Callable[[Layer, AcceleratorConfig, bool], LayerReport]
HANDLERS: dict[LayerKind, Handler] = {}


def handles(*kinds: LayerKind) -> Callable[[Handler], Handler]:
    """Register a handler for the given layer kinds."""

    def deco(fn: Handler) -> Handler:
        for kind in kinds:
            HANDLERS[kind] = fn
        return fn

    return deco


def _handler(layer: Layer) -> Handler:
    try:
        return HANDLERS[layer.kind]
    except KeyError:  # pragma: no cover - the handler-table test keeps this unreachable
        raise HwModelError(
            f"layer {layer.name!r}: no systolic handler for kind {layer.kind.value!r}"
        ) from None


def simulate_layer(layer: Layer, cfg: AcceleratorConfig) -> LayerReport:
    """Cycle-mode report of one layer (the Numba kernel steps every demand line)."""
    return _handler(layer)(layer, cfg, True)


def estimate_layer(layer: Layer, cfg: AcceleratorConfig) -> LayerReport:
    """Analytic report of one layer: exact compute cycles, estimated stalls (``exact_stalls`` False)."""
    return _handler(layer)(layer, cfg, False)


_ARRAY_KINDS = frozenset((LayerKind.CONV, LayerKind.DEPTHWISE, LayerKind.GEMM))


def layer_cycles(layer: Layer, cfg: AcceleratorConfig) -> int:
    """Analytic total cycles of one layer, as cheap as possible; equals ``estimate_layer(...).total_cycles``."""
    if layer.kind not in _ARRAY_KINDS:
        return _handler(layer)(layer, cfg, False).total_cycles
    k = layer.gemm_k_sparse if cfg.nm_support else layer.gemm_k
    m, n = layer.gemm_m, layer.gemm_n
    compute = gemm_compute_cycles(cfg.dataflow, cfg.rows, cfg.cols, m, k, n)
    if cfg.bandwidth_mode == "CALC":
        return layer.groups * compute
    return layer.groups * (compute + _stall_estimate(cfg, m, k, n, compute))


# SRAM words and DRAM words/cycle of the ifmap, filter and ofmap buffers
_Memory = tuple[int, int, int, float, float, float]
_MEMO: tuple[AcceleratorConfig, _Memory] | None = None  # (config, its memory); one tuple so a swap is atomic


def _memory(cfg: AcceleratorConfig) -> _Memory:
    global _MEMO
    memo = _MEMO
    if memo is None or memo[0] is not cfg:
        memo = (
            cfg,
            (
                cfg.sram_words("ifmap"),
                cfg.sram_words("filter"),
                cfg.sram_words("ofmap"),
                cfg.stream_bw("ifmap"),
                cfg.stream_bw("filter"),
                cfg.stream_bw("ofmap"),
            ),
        )
        _MEMO = memo
    return memo[1]


def _stall_estimate(cfg: AcceleratorConfig, m: int, k: int, n: int, compute: int) -> int:
    """Closed-form USER-mode stalls of one GEMM: the slowest DRAM stream's time beyond compute."""
    si, sf, so, bi, bf, bo = _memory(cfg)
    fa, fb, _, _ = memory_estimate(cfg.dataflow, cfg.rows, cfg.cols, m, k, n, si, sf)
    # fetches are back to back at ceil(half / bw) + 1 cycles each; the ofmap drains its surplus
    sr, sc, t = spatial_dims(cfg.dataflow, m, k, n)
    written = sr * sc if cfg.dataflow == "os" else t * sc * -(-sr // cfg.rows)
    pipe = max(
        fa * (math.ceil((si + 1) // 2 / bi) + 1),
        fb * (math.ceil((sf + 1) // 2 / bf) + 1),
        math.ceil(max(0, written - so) / bo),
    )
    return max(0, pipe - compute)


@handles(LayerKind.CONV, LayerKind.DEPTHWISE, LayerKind.GEMM)
def _array_layer(layer: Layer, cfg: AcceleratorConfig, cycle: bool) -> LayerReport:
    job = gemm_job(layer, cfg.nm_support)
    assert job is not None
    df, rows, cols = cfg.dataflow, cfg.rows, cfg.cols
    nm = layer.weight_nm if cfg.nm_support and layer.weight_nm is not None else None
    cost = gemm_cost(df, rows, cols, job.m, job.k, job.n, nm.m / nm.n if nm else 1.0)
    rep = job.repeat
    si, sf, so = cfg.sram_words("ifmap"), cfg.sram_words("filter"), cfg.sram_words("ofmap")
    user = cfg.bandwidth_mode == "USER"
    sram_reads = Traffic(cost.sram_ifmap_reads, cost.sram_filter_reads, 0).scaled(rep)
    sram_writes_o = cost.sram_ofmap_writes * rep
    if cycle:
        sr, sc, t = spatial_dims(df, job.m, job.k, job.n)
        a_set, a_next, a_nsets = _address_mode(layer, cfg, job.m * job.k) if user else _NO_ADDRESSES
        # SCALE-Sim's CALC mode drains the ofmap at one word per array column per cycle
        bw_o = cfg.stream_bw("ofmap") if user else float(cols)
        o = K.simulate_gemm(
            DF_CODE[df],
            rows,
            cols,
            sr,
            sc,
            t,
            si,
            sf,
            so,
            cfg.stream_bw("ifmap"),
            cfg.stream_bw("filter"),
            bw_o,
            int(user),
            STALL_FACTOR,
            a_set,
            a_next,
            a_nsets,
        )
        compute, stall = int(o[K.OUT_COMPUTE]), int(o[K.OUT_STALL])
        assert compute == cost.compute_cycles, "kernel and closed form disagree on compute cycles"
        dram_r = Traffic(int(o[K.OUT_DRAM_IFMAP]), int(o[K.OUT_DRAM_FILTER]), 0).scaled(rep)
        dram_w = Traffic(0, 0, int(o[K.OUT_DRAM_OFMAP])).scaled(rep)
        pre_i, pre_f = int(o[K.OUT_PREFETCH_IFMAP]), int(o[K.OUT_PREFETCH_FILTER])
        one = compute + stall  # one repetition's last cycle is compute + stall
        windows = AccessWindows(
            sram_ifmap=Window(0, one),
            sram_filter=Window(0, one),
            sram_ofmap=Window(0, one),
            dram_ifmap=Window(-pre_i, int(o[K.OUT_STOP_IFMAP]) if user else max(int(o[K.OUT_STOP_IFMAP]), 0)),
            dram_filter=Window(
                -pre_f, int(o[K.OUT_STOP_FILTER]) if user else max(int(o[K.OUT_STOP_FILTER]), 0)
            ),
            dram_ofmap=Window(int(o[K.OUT_START_OFMAP]), int(o[K.OUT_STOP_OFMAP])),
        )
        prefetch = max(pre_i, pre_f) + max(0, int(o[K.OUT_STOP_OFMAP]) - one)
        exact = True
    else:
        _, _, a, b = memory_estimate(df, rows, cols, job.m, job.k, job.n, si, sf)
        compute = cost.compute_cycles
        stall = _stall_estimate(cfg, job.m, job.k, job.n, compute) if user else 0
        dram_r, dram_w = Traffic(a, b, 0).scaled(rep), Traffic(0, 0, cost.sram_ofmap_writes).scaled(rep)
        prefetch = math.ceil(min((si + 1) // 2, a) / cfg.stream_bw("ifmap"))
        windows = None
        exact = not user
    return LayerReport.make(
        layer.name,
        layer.kind.value,
        compute * rep,
        stall * rep,
        job.macs,
        cfg.peak_macs_per_cycle,
        cost.mapping_efficiency,
        dense_macs=layer.macs,
        sram_reads=sram_reads,
        sram_writes=Traffic(dram_r.ifmap, dram_r.filter, sram_writes_o),
        dram_reads=dram_r,
        dram_writes=dram_w,
        fold_utilization=cost.fold_utilization,
        prefetch_cycles=prefetch,
        folds=cost.folds * rep,
        engine="systolic",
        windows=windows,
        exact_stalls=exact,
    )


# (set per ifmap stream position, next copy's position, number of sets): see ifmap_address_index
_AddressIndex = tuple[np.ndarray, np.ndarray, int]
_NO_ADDRESSES: _AddressIndex = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0)
_INDEX_CACHE: dict[
    tuple[int | str, ...], _AddressIndex
] = {}  # repeated layer shapes (ResNet blocks) share one index


def _address_mode(layer: Layer, cfg: AcceleratorConfig, entries: int) -> _AddressIndex:
    """The kernel's address-mode arrays for the ifmap stream, or none when positions suffice.

    Needed when im2col repeats words or leaves windows off the input, unless the whole stream fits
    the active half (then every lookup hits).
    """
    words = cfg.sram_words("ifmap")
    per_set = -(-words // 100)
    if entries // per_set + 1 <= -(-((words + 1) // 2) // per_set):
        return _NO_ADDRESSES
    holes = (layer.ofmap_h - 1) * layer.stride_h + layer.filt_h > layer.padded_h or (
        layer.ofmap_w - 1
    ) * layer.stride_w + layer.filt_w > layer.padded_w
    if not (holes or _im2col_repeats(layer)):
        return _NO_ADDRESSES
    key = (
        layer.padded_h,
        layer.padded_w,
        layer.channels // layer.groups,
        layer.filt_h,
        layer.filt_w,
        layer.stride_h,
        layer.stride_w,
        layer.gemm_n,
        str(layer.weight_nm) if cfg.nm_support else "",
        cfg.dataflow,
        cfg.rows,
        cfg.cols,
        words,
    )
    hit = _INDEX_CACHE.get(key)
    if hit is None:
        hit = ifmap_address_index(layer, cfg.dataflow, cfg.rows, cfg.cols, words, cfg.nm_support)
        if len(_INDEX_CACHE) >= 8:
            _INDEX_CACHE.pop(next(iter(_INDEX_CACHE)))
        _INDEX_CACHE[key] = hit
    return hit


def _im2col_repeats(layer: Layer) -> bool:
    """Whether neighbouring output pixels read the same input words (overlapping conv windows)."""
    return (layer.eff_filt_h > layer.stride_h and layer.ofmap_h > 1) or (
        layer.eff_filt_w > layer.stride_w and layer.ofmap_w > 1
    )


def _vector_ops(layer: Layer) -> tuple[int, int, int]:
    """(lane operations, words read, words written) of a non-MAC layer."""
    out = layer.ofmap_h * layer.ofmap_w * layer.num_filter
    if layer.kind is LayerKind.POOL:
        return out * layer.filt_h * layer.filt_w, layer.ifmap_h * layer.ifmap_w * layer.channels, out
    inputs = layer.ifmap_h * layer.ifmap_w * layer.channels * layer.num_inputs
    if layer.kind is LayerKind.CPU:  # one unary operation per element
        return layer.elements, layer.elements, layer.elements
    if layer.kind is LayerKind.CONCAT:
        return 0, inputs, inputs
    return layer.ifmap_h * layer.ifmap_w * layer.channels * max(1, layer.num_inputs - 1), inputs, out


@handles(LayerKind.POOL, LayerKind.ELTWISE_ADD, LayerKind.ELTWISE_MUL, LayerKind.CONCAT, LayerKind.CPU)
def _vector_layer(layer: Layer, cfg: AcceleratorConfig, cycle: bool) -> LayerReport:
    ops, reads, writes = _vector_ops(layer)
    compute = math.ceil(ops / cfg.cols)
    stall = 0
    if cfg.bandwidth_mode == "USER":
        stall = max(0, math.ceil(max(reads, writes) / cfg.dram_bw) - compute)
    return LayerReport.make(
        layer.name,
        layer.kind.value,
        compute,
        stall,
        0,
        cfg.peak_macs_per_cycle,
        0.0,
        sram_reads=Traffic(reads, 0, 0),
        sram_writes=Traffic(reads, 0, writes),
        dram_reads=Traffic(reads, 0, 0),
        dram_writes=Traffic(0, 0, writes),
        folds=0,
        engine="systolic",
    )
