"""The DPU engine's entry points: cycle mode (Numba kernel), analytic mode (closed form), fast cycles.

Layers the DPU cannot run (``LayerKind.CPU``) are host work: their report (``engine="cpu"``) carries
the CPU's time as compute cycles and the DDR round trip as stall cycles (``hwmodel.dpu.tiling``).

All three share one schedule (``hwmodel.dpu.tiling.plan_layer``) and agree exactly, stalls (and the per-layer start-up/drain of ``DpuParams.layer_startup``) included:
``estimate_layer(l, cfg) == simulate_layer(l, cfg)`` field by field, so the planner's latency model is
the latency that cycle mode checks.

Notes on the report fields: ``compute_cycles`` are the stepped compute cycles plus one pipeline fill;
``stall_cycles`` are the steps' waits for DRAM (layer boundaries in steady state, so no separate
prologue: ``prefetch_cycles`` is 0); ``folds`` counts conv/ALU tiles; traffic is in 1-byte words. The DPU
always models its DRAM port at ``DpuParams.dram_bytes_per_cycle`` (``AcceleratorConfig.bandwidth_mode``
and ``dram_bw`` apply to the systolic engine only).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from hwmodel.config.sparse import SparseEngine
from hwmodel.dpu.analytic import analytic_totals
from hwmodel.dpu.kernels import OUT_FIELDS, run_kernel
from hwmodel.dpu.params import DpuParams
from hwmodel.dpu.tiling import DpuPlan, DpuUnit, mapping_efficiency, plan_layer
from hwmodel.errors import ConfigError
from hwmodel.reports.model import LayerReport, Traffic
from hwmodel.workloads.layers import Layer

__all__ = ["simulate_layer", "estimate_layer", "estimate_cycles", "layer_plan"]


def _engines(cfg: Any) -> tuple[DpuParams, SparseEngine | None]:
    dpu = getattr(cfg, "dpu", None)
    if isinstance(cfg, DpuParams):
        return cfg, None
    if not isinstance(dpu, DpuParams):
        raise ConfigError(
            f"accelerator {getattr(cfg, 'name', cfg)!r} has no DPU parameters; use a DPU preset such as "
            f"hwmodel.preset('dpu-b4096') or set dpu=hwmodel.dpu.params.dpu_params(name)"
        )
    return dpu, getattr(cfg, "sparse", None)


@lru_cache(maxsize=1 << 16)
def _plan_cached(layer: Layer, dpu: DpuParams, sparse: SparseEngine | None) -> DpuPlan:
    return plan_layer(layer, dpu, sparse)


def layer_plan(layer: Layer, cfg: Any) -> DpuPlan:
    """The DPU schedule of ``layer`` on ``cfg`` (an AcceleratorConfig with ``dpu``, or DpuParams).

    Raises:
        ConfigError: ``cfg`` carries no DPU parameters.
        SparsityError: the layer's N:M / activation sparsity is not supported by ``cfg``.
    """
    dpu, sparse = _engines(cfg)
    return _plan_cached(layer, dpu, sparse)


def _report(layer: Layer, plan: DpuPlan, totals: dict[str, int], dpu: DpuParams) -> LayerReport:
    busy = totals["compute"]
    fill = plan.fill if plan.engine is not DpuUnit.NONE else 0
    compute = busy + fill
    # the layer's first loads and last save (layer_startup) wait on DRAM: stall cycles
    stall = totals["stall"] + (plan.startup if plan.engine is not DpuUnit.NONE else 0)
    if plan.engine is DpuUnit.CPU:  # host work: the CPU's time, and the DDR round trip as stall
        moved = layer.elements if dpu.cpu_transfer else 0
        return LayerReport.make(
            layer.name,
            layer.kind.value,
            compute,
            stall,
            0,
            dpu.peak_macs_per_cycle,
            0.0,
            dram_reads=Traffic(moved, 0, 0),
            dram_writes=Traffic(0, 0, moved),
            engine="cpu",
            exact_stalls=True,
        )
    e_if, e_w, e_of = plan.edge_bytes()
    totals = {
        **totals,
        "dram_ifmap": totals["dram_ifmap"] + e_if,
        "dram_filter": totals["dram_filter"] + e_w,
        "dram_ofmap": totals["dram_ofmap"] + e_of,
    }
    return LayerReport.make(
        layer.name,
        layer.kind.value,
        compute,
        stall,
        plan.macs,
        dpu.peak_macs_per_cycle,
        mapping_efficiency(plan, compute),
        sram_reads=Traffic(busy * plan.ifmap_port, busy * plan.filter_port, 0),
        sram_writes=Traffic(totals["dram_ifmap"], totals["dram_filter"], totals["dram_ofmap"]),
        dram_reads=Traffic(totals["dram_ifmap"], totals["dram_filter"], 0),
        dram_writes=Traffic(0, 0, totals["dram_ofmap"]),
        folds=plan.tiles,
        engine="dpu",
        exact_stalls=True,
    )


def simulate_layer(layer: Layer, cfg: Any) -> LayerReport:
    """Cycle mode: step the Numba kernel through every output row of every weight chunk.

    Args:
        layer: the workload.
        cfg: an AcceleratorConfig whose ``dpu`` is a DpuParams (``sparse`` may be None), or DpuParams.

    Returns:
        The layer's report.

    Raises:
        ConfigError: ``cfg`` has no DPU parameters.
        SparsityError: unsupported sparsity (the message names the layer and the allowed patterns).
    """
    dpu, _ = _engines(cfg)
    plan = layer_plan(layer, cfg)
    totals = run_kernel(plan.kernel_args()) if plan.stepped else dict.fromkeys(OUT_FIELDS, 0)
    return _report(layer, plan, totals, dpu)


def estimate_layer(layer: Layer, cfg: Any) -> LayerReport:
    """Analytic mode: the same report as :func:`simulate_layer`, from the closed form.

    Args:
        layer: the workload.
        cfg: as for :func:`simulate_layer`.

    Returns:
        The layer's report (equal to cycle mode's).
    """
    dpu, _ = _engines(cfg)
    plan = layer_plan(layer, cfg)
    return _report(layer, plan, analytic_totals(plan), dpu)


def estimate_cycles(layer: Layer, cfg: Any) -> int:
    """Total cycles of ``layer`` (compute + fill + stalls), closed form and cached: the planner's cost.

    Args:
        layer: the workload.
        cfg: as for :func:`simulate_layer`.

    Returns:
        Total cycles, equal to ``simulate_layer(layer, cfg).total_cycles``.
    """
    plan = layer_plan(layer, cfg)
    if plan.engine is DpuUnit.NONE:
        return 0
    if not plan.stepped:  # host work (CPU layers): its time and its transfers
        return plan.fill + plan.startup
    t = analytic_totals(plan)
    return t["compute"] + plan.fill + t["stall"] + plan.startup
