"""A board of DPU cores: single-thread latency and multi-core throughput with shared DDR.

Single thread: one core runs the network alone at its full DRAM port (``DpuParams``). Multi-thread
(all ``cores`` busy on different frames): each core's port is capped at its share of the board DDR
(``DpuParams.core_share``), so bandwidth-bound layers slow down; throughput = cores / per-core time.
Host work (pre/post-processing on the CPU) is not modelled here; callers add it.

``FRAME_OVERHEAD_MS``: what a board's core spends on each frame beyond the modelled DPU time. AMD's
Vitis AI zoo figures for the KV260 (one B4096 core at 300 MHz; 1 / multi-thread fps is the core's time
per frame, the host's work overlapped) put the smallest zoo net, MobileNetV1 0.25/128 (13.5 M MACs,
0.15 ms modelled), at 0.41 ms a frame. One constant per frame fitted on half the zoo nets
(``reports/dpu_vs_model_zoo.md``, "Host-free check") is 0.259 ms: job submission, cache maintenance and
the completion interrupt are the likely parts. ~8 us per layer explains the same figures too (better on
the fitted nets, but then MobileNetV1 exceeds its measured time per frame; the report's exploratory
section); per-layer board timings would settle which. It is not in
``latency_ms`` or the planner: no pruning changes it. Reports show it beside planned latencies
(``board_frame_ms``) so a planned speedup is not read as a board's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwmodel.dpu.engine import _engines, estimate_cycles
from hwmodel.workloads.layers import Layer

__all__ = ["FRAME_OVERHEAD_MS", "board_frame_ms", "board_speedup", "latency_ms", "throughput_fps"]

FRAME_OVERHEAD_MS = 0.259  # fitted to the KV260's one-core figures (reports/dpu_vs_model_zoo.md)


def board_frame_ms(dpu_ms: float) -> float:
    """A board's time per frame for ``dpu_ms`` of modelled DPU time: plus ``FRAME_OVERHEAD_MS``."""
    return dpu_ms + FRAME_OVERHEAD_MS


def board_speedup(before_ms: float, after_ms: float) -> float:
    """The speedup of a board's time per frame when the modelled DPU time goes from ``before_ms`` to ``after_ms``."""
    return board_frame_ms(before_ms) / board_frame_ms(after_ms)


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
