"""A board of DPU cores: single-thread latency and multi-core throughput with shared DDR.

Single thread: one core runs the network alone at its full DRAM port (``DpuParams``). Multi-thread
(all ``cores`` busy on different frames): each core's port is capped at its share of the board DDR
(``DpuParams.core_share``), so bandwidth-bound layers slow down; throughput = cores / per-core time.
Host work (pre/post-processing on the CPU) is not modelled here; callers add it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwmodel.dpu.engine import _engines, estimate_cycles
from hwmodel.workloads.layers import Layer

__all__ = ["latency_ms", "throughput_fps"]


def latency_ms(layers: Sequence[Layer], cfg: Any) -> float:
    """DPU time of one frame on one core (ms).

    Args:
        layers: the network's workloads.
        cfg: an AcceleratorConfig with DPU parameters, or DpuParams.

    Returns:
        Milliseconds at the DPU clock.
    """
    dpu, _ = _engines(cfg)
    return sum(estimate_cycles(x, cfg) for x in layers) / (dpu.clock_mhz * 1e3)


def throughput_fps(layers: Sequence[Layer], cfg: Any) -> float:
    """Frames per second with every core busy, cores sharing the board DDR.

    Args:
        layers: the network's workloads.
        cfg: an AcceleratorConfig with DPU parameters, or DpuParams.

    Returns:
        Frames per second of the DPU cores alone (no host limit).
    """
    dpu, sparse = _engines(cfg)
    shared = dpu.core_share()
    target = shared if sparse is None else cfg.replace(dpu=shared)
    cycles = sum(estimate_cycles(x, target) for x in layers)
    return dpu.cores * dpu.clock_mhz * 1e6 / cycles if cycles else float("inf")
