"""How a layer maps onto the DPU: one ``DpuPlan`` of integers per layer, shared by all three models.

The tiling order (documented assumption, after PG338's engine split and the Vitis AI compiler's
row-by-row instruction stream):

* Loop nest, outer to inner: group -> weight chunk -> output row -> pixel tile -> output-channel tile
  -> (kernel tap, input-channel step). A *step* of the timing model is one output row of one chunk.
* A conv tile is PP output pixels of a row x OCP output channels; it takes
  ``taps * ceil(Cin_stream / ICP)`` cycles, where ``Cin_stream`` is the input channels left after
  N:M weight sparsity (the sparse engine skips pruned weights; see ``hwmodel.config.sparse``).
* Weights: the OCP-wide output-channel tiles of a group are cut into the fewest balanced chunks that
  fit in half of the double-buffered weight bank. A chunk stays resident while every output row
  streams past it; the next chunk's weights load, spread evenly, during the current chunk's rows.
  Each extra chunk re-streams the input feature map. If one tile's weights exceed half the bank
  (very long reductions) they are re-loaded for every output row ("streamed").
* Feature maps are loaded row by row into a line buffer: output row e needs input rows
  ``[e*s, e*s + eff_h - 1]`` of the padded map; only rows not loaded for row e-1 and not padding
  come from DRAM. Output rows are saved one step later. Layer boundaries are costed in steady state
  (the first loads overlap the previous layer's tail; see ``hwmodel.dpu.kernels``).
* DRAM words are stored in bank words: channels padded to ICP (inputs) / OCP (outputs), weights in
  ICP x OCP blocks, so latency is flat inside a channel step (the staircase the planner exploits).
* ALU engine (depthwise, pooling, elementwise): tiles of ``alu_pp`` pixels x ``alu_cp`` channels;
  depthwise/pool take ``taps`` cycles per tile, an n-input elementwise op ``n - 1`` cycles (at
  least 1). Concat costs nothing: the compiler points producers at offsets of one output buffer.
* GEMM/linear: a 1x1 conv over one row of M pixels; its bytes move at ``DpuParams.fc_bw``.
* CPU layers (``LayerKind.CPU``: ops the DPU cannot run): no steps; the host's time
  (``DpuParams.cpu_cycles``) is the plan's ``fill`` and, with ``DpuParams.cpu_transfer``, the DDR round
  trip (the operand saved, the result loaded back, one byte an element each way) its ``startup`` stall.
* Fidelity switches (``hwmodel.dpu.params``): channel augmentation shortens the tile of a conv with
  Cin < ICP and (``augmented_input_packed``) loads its input unpadded when it comes from DRAM;
  ``min_tile_cycles`` (off by default) floors a conv tile's cycles; ``layer_startup`` opens the input side of the cyclic step sequence and adds the first
  input rows and the last tile's output row as ``startup`` cycles; a feature map that fits ``onchip_fmap_bytes`` moves no DRAM bytes; a
  conv whose output feeds a fused residual add (``Layer.residual_inputs``) keeps it in the banks (no
  save), and the ``fused`` add runs on the ALU loading only its other operands from DRAM.
* The network's input and outputs live in DDR (the host writes and reads them): a layer marked
  ``Layer.dram_input`` loads its input, and one marked ``Layer.dram_output`` saves its output, even
  when the on-chip rule would keep a map that small in the banks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from hwmodel.config.sparse import SparseEngine
from hwmodel.dpu.params import DpuParams
from hwmodel.errors import SparsityError
from hwmodel.workloads.layers import Layer, LayerKind

__all__ = ["DpuPlan", "plan_layer", "rows_new", "mapping_efficiency", "PLANNERS"]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


class DpuUnit(StrEnum):
    """Which unit runs a layer: the conv engine, the ALU (depthwise, pool, elementwise), none (a concat
    is a layout), or the host CPU (ops the DPU cannot run)."""

    CONV = "conv"
    ALU = "alu"
    NONE = "none"
    CPU = "cpu"


@dataclass(frozen=True, slots=True, kw_only=True)
class DpuPlan:
    """Integers that fix a layer's schedule on the DPU (all byte counts are 1-byte words).

    A group's output-channel tiles are cut into ``n_chunks`` balanced chunks (the fewest that fit in
    half the weight bank): ``n_small`` chunks of ``small_tiles`` tiles run first, then chunks of
    ``small_tiles + 1``. With balanced chunks the schedule depends on the channel counts only through
    ``n_chunks`` and the tile counts, which keeps latency monotone in channels.

    Attributes:
        engine: the :class:`DpuUnit` (``CPU``: host work, ``fill`` and ``startup`` only; ``NONE``:
            (concat: no work).
        groups: independent repetitions of the chunk sequence (conv groups).
        n_chunks: weight chunks per group.
        n_small: chunks of ``small_tiles`` tiles (the others have one tile more).
        small_tiles: channel tiles of a small chunk.
        cyc_tile: cycles of one tile (taps x input-channel steps, or the ALU's per-tile cycles).
        row_tiles: pixel tiles per output row.
        out_h: output rows E.
        in_h, pad, stride, eff: input rows (unpadded), top padding, row stride, dilated kernel height.
        in_row_bytes: bytes of one input row (all operands, channels padded).
        out_tile_row_bytes: bytes one channel tile of one output row saves.
        w_small, w_big: weight bytes of a small and of a big chunk (metadata included).
        streamed: weights re-loaded every row (one tile does not fit in half the weight bank).
        bw: DRAM bytes per cycle.
        fill: pipeline fill plus the per-layer overhead (``DpuParams.layer_overhead``), once per layer.
        macs: useful MACs (after N:M weight sparsity).
        lane_macs: lane operations the engine can do per cycle (for mapping efficiency).
        ifmap_port, filter_port: SRAM words read per compute cycle.
        meta_bytes: the part of the layer's weight bytes that is N:M index metadata.
        lane_work: useful lane operations (MACs, or ALU pixel-channel-tap operations).
        half_bank: bytes of half the weight bank (a chunk's budget).
        open_ends: the step sequence starts and ends at the layer (``DpuParams.layer_startup``).
        startup: cycles of the layer's first loads and last save when ``open_ends`` (else 0).
        stretch: a step's compute in percent of its tile cycles (``DpuParams.conv_stretch_pct``; 100
            for the ALU engine).
    """

    engine: DpuUnit
    groups: int = 1
    n_chunks: int = 1
    n_small: int = 1
    small_tiles: int = 1
    cyc_tile: int = 1
    row_tiles: int = 1
    out_h: int = 1
    in_h: int = 1
    pad: int = 0
    stride: int = 1
    eff: int = 1
    in_row_bytes: int = 0
    out_tile_row_bytes: int = 0
    w_small: int = 0
    w_big: int = 0
    streamed: bool = False
    bw: int = 1
    fill: int = 0
    macs: int = 0
    lane_macs: int = 1
    ifmap_port: int = 0
    filter_port: int = 0
    meta_bytes: int = 0
    lane_work: int = 0
    half_bank: int = 0
    open_ends: bool = False
    startup: int = 0
    stretch: int = 100

    @property
    def tiles_per_group(self) -> int:
        return self.n_chunks * self.small_tiles + (self.n_chunks - self.n_small)

    @property
    def stepped(self) -> bool:
        """Whether the layer runs as DPU steps (the kernel's work); concat and CPU layers do not."""
        return self.engine in (DpuUnit.CONV, DpuUnit.ALU)

    @property
    def tiles(self) -> int:
        """Tiles over the whole layer (the report's ``folds``)."""
        if not self.stepped:
            return 0
        return self.groups * self.out_h * self.row_tiles * self.tiles_per_group

    def edge_bytes(self) -> tuple[int, int, int]:
        """(ifmap, filter, ofmap) bytes loaded at the layer's start-up, outside the steps (open ends only)."""
        if not self.open_ends or not self.stepped:
            return 0, 0, 0
        return rows_new(0, self.in_h, self.pad, self.stride, self.eff) * self.in_row_bytes, 0, 0

    def kernel_args(self) -> tuple[int, ...]:
        """The scalars the step kernels take, in their order."""
        return (
            self.groups,
            self.n_chunks,
            self.n_small,
            self.small_tiles,
            self.cyc_tile,
            self.row_tiles,
            self.out_h,
            self.in_h,
            self.pad,
            self.stride,
            self.eff,
            self.in_row_bytes,
            self.out_tile_row_bytes,
            self.w_small,
            self.w_big,
            int(self.streamed),
            int(self.open_ends),
            self.stretch,
            self.bw,
        )


def rows_new(e: int, in_h: int, pad: int, stride: int, eff: int) -> int:
    """Input rows output row ``e`` needs that row ``e - 1`` did not, padding excluded."""
    hi = e * stride + eff - 1
    lo = 0 if e == 0 else max(e * stride, (e - 1) * stride + eff)
    return max(0, min(hi, pad + in_h - 1) - max(lo, pad) + 1)


PLANNERS: dict[LayerKind, Callable[[Layer, DpuParams, SparseEngine | None], DpuPlan]] = {}


_Planner = Callable[[Layer, DpuParams, SparseEngine | None], DpuPlan]


def _planner(*kinds: LayerKind) -> Callable[[_Planner], _Planner]:
    def register(fn: _Planner) -> _Planner:
        for k in kinds:
            PLANNERS[k] = fn
        return fn

    return register


def plan_layer(layer: Layer, dpu: DpuParams, sparse: SparseEngine | None) -> DpuPlan:
    """The DPU schedule of one layer.

    Args:
        layer: the workload.
        dpu: the DPU parameters.
        sparse: the sparse engine, or None for a dense DPU.

    Returns:
        The plan.

    Raises:
        SparsityError: the layer asks for sparsity the hardware does not run.
    """
    _check_sparsity(layer, sparse)
    plan = PLANNERS[layer.kind](layer, dpu, sparse)
    if not plan.stepped:
        return plan
    plan = replace(plan, fill=plan.fill + dpu.layer_overhead)
    if not dpu.layer_startup:
        return plan
    # start-up: the first input rows load before the first tile; drain: the last tile's output row
    # saves after it. Weights and the other saves stay hidden behind neighbouring steps (cyclic), so a
    # finer weight chunking never makes a layer cheaper.
    plan = replace(plan, open_ends=True)
    rows, _, _ = plan.edge_bytes()
    return replace(plan, startup=_cdiv(rows, plan.bw) + _cdiv(plan.out_tile_row_bytes, plan.bw))


def _check_sparsity(layer: Layer, sparse: SparseEngine | None) -> None:
    nm = layer.weight_nm if layer.weight_nm is not None and not layer.weight_nm.dense else None
    if nm is None and layer.act_sparsity == 0.0:
        return
    if layer.kind not in (LayerKind.CONV, LayerKind.GEMM):
        raise SparsityError(
            f"layer {layer.name!r}: N:M or activation sparsity applies to conv and gemm layers only; "
            f"a {layer.kind.value} layer runs on the DPU's ALU engine; clear weight_nm/act_sparsity"
        )
    if sparse is None:
        raise SparsityError(
            f"layer {layer.name!r} asks for weight {nm or 'dense'} / activation sparsity "
            f"{layer.act_sparsity:g}, but this DPU has no sparse engine; use a '-sparse' preset such as "
            f"'dpu-b4096-sparse' or remove the sparsity"
        )
    sparse.check(nm, layer.act_sparsity, layer.name)


def _network_io(layer: Layer, dpu: DpuParams) -> tuple[bool, bool]:
    """Whether the layer's input is loaded from / its output saved to DDR whatever their size: the
    network's input and outputs live there (the host writes and reads them)."""
    return layer.dram_input and dpu.network_io_dram, layer.dram_output and dpu.network_io_dram


@_planner(LayerKind.CONV, LayerKind.GEMM)
def _plan_conv(layer: Layer, dpu: DpuParams, sparse: SparseEngine | None) -> DpuPlan:
    icp, ocp, pp = dpu.icp, dpu.ocp, dpu.pp
    if layer.kind is LayerKind.GEMM:  # M pixels in one row, K input channels, N output channels
        m = layer.ifmap_h * layer.ifmap_w
        in_h, in_w, out_h, out_w, pad, stride, eff, taps = 1, m, 1, m, 0, 1, 1, 1
    else:
        in_h, in_w, out_h, out_w = layer.ifmap_h, layer.ifmap_w, layer.ofmap_h, layer.ofmap_w
        pad, stride, eff, taps = layer.pad_h, layer.stride_h, layer.eff_filt_h, layer.filt_h * layer.filt_w
    cin = layer.channels // layer.groups
    cout = layer.num_filter // layer.groups
    nm = layer.weight_nm if layer.weight_nm is not None and not layer.weight_nm.dense else None
    kept = nm.kept(cin) if nm is not None else cin
    cin_steps = _cdiv(kept, icp)
    kh = layer.filt_h if layer.kind is LayerKind.CONV else 1
    kw = taps // kh
    # channel augmentation (PG338): one kernel row's kw taps share the ICP lanes when Cin < ICP
    augment = dpu.channel_augmentation and nm is None and kw > 1 and cin < icp and _cdiv(kw * cin, icp) < kw
    if sparse is not None and (nm is not None or layer.act_sparsity > 0.0):
        act = sparse.act_pattern(layer.act_sparsity)
        a_kept = act.kept(cin) if act is not None else cin
        cin_steps = max(cin_steps, _cdiv(a_kept, sparse.ifmap_read_factor * icp))
    w_per_oc = (kh * _cdiv(kw * cin, icp) if augment else taps * _cdiv(kept, icp)) * icp
    meta_per_oc = _cdiv(w_per_oc * sparse.index_bits(nm.m), 8) if (nm is not None and sparse) else 0
    w_tile = ocp * (w_per_oc + meta_per_oc)
    half = dpu.weight_chunk_bytes
    oc_tiles = _cdiv(cout, ocp)
    n_chunks = _cdiv(oc_tiles, max(1, min(oc_tiles, half // w_tile)))
    small, n_big = divmod(oc_tiles, n_chunks)
    macs = layer.groups * out_h * out_w * cout * taps * kept
    cyc_tile = kh * _cdiv(kw * cin, icp) if augment else taps * cin_steps
    cyc_tile = max(cyc_tile, dpu.min_tile_cycles)
    in_row = in_w * _cdiv(cin, icp) * icp
    out_row = out_w * ocp
    groups_oc = layer.groups * oc_tiles * ocp  # output channels as stored
    onchip = dpu.onchip_fmap_bytes
    from_dram, to_dram = _network_io(layer, dpu)
    if in_h * layer.groups * in_row <= onchip and not from_dram:  # the input stays in the banks: no loads
        in_row = 0
    elif augment and dpu.augmented_input_packed:  # read as stored in DDR (Cin bytes a pixel), packed on chip
        in_row = in_w * cin
    if layer.residual_inputs and dpu.fuse_eltwise and not to_dram:  # fused add: the sum goes to DRAM
        out_row = 0
    if out_h * out_w * groups_oc <= onchip and not to_dram:
        out_row = 0
    bw = dpu.fc_bw if layer.kind is LayerKind.GEMM else dpu.dram_bytes_per_cycle
    return DpuPlan(
        engine=DpuUnit.CONV,
        groups=layer.groups,
        n_chunks=n_chunks,
        n_small=n_chunks - n_big,
        small_tiles=small,
        cyc_tile=cyc_tile,
        row_tiles=_cdiv(out_w, pp),
        out_h=out_h,
        in_h=in_h,
        pad=pad,
        stride=stride,
        eff=eff,
        in_row_bytes=in_row,
        out_tile_row_bytes=out_row,
        w_small=small * w_tile,
        w_big=(small + 1) * w_tile,
        streamed=w_tile > half,
        bw=bw,
        fill=dpu.pipeline_fill,
        macs=macs,
        lane_macs=dpu.peak_macs_per_cycle,
        ifmap_port=pp * icp,
        filter_port=icp * ocp,
        meta_bytes=layer.groups * oc_tiles * ocp * meta_per_oc,
        lane_work=macs,
        half_bank=half,
        stretch=dpu.conv_stretch_pct,
    )


def _alu_plan(layer: Layer, dpu: DpuParams, *, taps: int, cyc_tile: int, n_in: int, weights: bool) -> DpuPlan:
    c_out = layer.num_filter  # equals channels, or k * channels for a depthwise multiplier k
    tiles = _cdiv(c_out, dpu.alu_cp)
    in_words = _cdiv(layer.channels, dpu.icp) * dpu.icp
    w = taps * _cdiv(c_out, dpu.icp) * dpu.icp if weights else 0
    onchip = dpu.onchip_fmap_bytes
    from_dram, to_dram = _network_io(layer, dpu)
    in_row = layer.ifmap_w * in_words
    in_row = 0 if layer.ifmap_h * in_row <= onchip and not from_dram else n_in * in_row
    out_row = layer.ofmap_w * dpu.alu_cp
    small_out = layer.ofmap_h * layer.ofmap_w * tiles * dpu.alu_cp <= onchip
    out_row = 0 if small_out and not to_dram else out_row
    return DpuPlan(
        engine=DpuUnit.ALU,
        small_tiles=tiles,
        cyc_tile=cyc_tile,
        row_tiles=_cdiv(layer.ofmap_w, dpu.alu_pp),
        out_h=layer.ofmap_h,
        in_h=layer.ifmap_h,
        pad=layer.pad_h,
        stride=layer.stride_h,
        eff=layer.eff_filt_h,
        in_row_bytes=in_row,
        out_tile_row_bytes=out_row,
        w_small=w,
        w_big=w,
        streamed=False,
        bw=dpu.dram_bytes_per_cycle,
        fill=dpu.pipeline_fill,
        macs=layer.macs if weights else 0,
        lane_macs=dpu.alu_pp * dpu.alu_cp,
        ifmap_port=dpu.alu_pp * dpu.alu_cp,
        filter_port=dpu.alu_cp if weights else 0,
        meta_bytes=0,
        lane_work=layer.ofmap_h * layer.ofmap_w * c_out * cyc_tile,
        half_bank=dpu.weight_chunk_bytes,
    )


@_planner(LayerKind.DEPTHWISE)
def _plan_depthwise(layer: Layer, dpu: DpuParams, sparse: SparseEngine | None) -> DpuPlan:
    taps = layer.filt_h * layer.filt_w
    return _alu_plan(layer, dpu, taps=taps, cyc_tile=taps, n_in=1, weights=True)


@_planner(LayerKind.POOL)
def _plan_pool(layer: Layer, dpu: DpuParams, sparse: SparseEngine | None) -> DpuPlan:
    taps = layer.filt_h * layer.filt_w
    return _alu_plan(layer, dpu, taps=taps, cyc_tile=taps, n_in=1, weights=False)


@_planner(LayerKind.ELTWISE_ADD, LayerKind.ELTWISE_MUL)
def _plan_eltwise(layer: Layer, dpu: DpuParams, sparse: SparseEngine | None) -> DpuPlan:
    n = layer.num_inputs
    # fused (ELEW): the conv's output is already in the banks; only the other operands come from DRAM
    loaded = n - 1 if (layer.fused and dpu.fuse_eltwise and layer.kind is LayerKind.ELTWISE_ADD) else n
    return _alu_plan(layer, dpu, taps=1, cyc_tile=max(1, n - 1), n_in=loaded, weights=False)


@_planner(LayerKind.CONCAT)
def _plan_concat(layer: Layer, dpu: DpuParams, sparse: SparseEngine | None) -> DpuPlan:
    return DpuPlan(engine=DpuUnit.NONE, bw=dpu.dram_bytes_per_cycle, lane_macs=dpu.peak_macs_per_cycle)


@_planner(LayerKind.CPU)
def _plan_cpu(layer: Layer, dpu: DpuParams, sparse: SparseEngine | None) -> DpuPlan:
    n = layer.elements
    transfer = 2 * _cdiv(n, dpu.dram_bytes_per_cycle) if dpu.cpu_transfer else 0
    return DpuPlan(
        engine=DpuUnit.CPU,
        bw=dpu.dram_bytes_per_cycle,
        fill=dpu.cpu_cycles(n),
        lane_macs=dpu.peak_macs_per_cycle,
        startup=transfer,
    )


def mapping_efficiency(plan: DpuPlan, compute_cycles: int) -> float:
    """Useful lane work / lane capacity over the compute cycles (pipeline fill excluded)."""
    busy = compute_cycles - plan.fill
    if busy <= 0 or not plan.stepped:
        return 0.0
    return min(1.0, plan.lane_work / (plan.lane_macs * busy))
