"""SCALE-Sim v3 trace files of one layer: ``layer<i>/{IFMAP,FILTER,OFMAP}_{SRAM,DRAM}_TRACE.csv``.

Each row is a cycle followed by the addresses asked for in it (-1 = none). SRAM traces: one row per
demand line, the cycle it was served, integers. DRAM traces: one row per DRAM line of ``bw`` words,
the cycle it arrived (read) or left (ofmap write), written as floats (``-65.0,10000000.0,...``)
exactly as SCALE-Sim's ``numpy.savetxt(fmt='%s')`` writes them, so files compare byte for byte.
Built by ``hwmodel.systolic.memory_model`` (USER bandwidth mode, address-level), so keep layers small.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.errors import HwModelError
from hwmodel.systolic.memory_model import MemoryRun, run_memory
from hwmodel.systolic.operands import Offsets, operand_matrices
from hwmodel.workloads.layers import Layer

__all__ = ["TRACE_FILES", "layer_memory_run", "write_layer_traces"]

TRACE_FILES = tuple(
    f"{op}_{mem}_TRACE.csv" for mem in ("SRAM", "DRAM") for op in ("IFMAP", "FILTER", "OFMAP")
)


def layer_memory_run(layer: Layer, cfg: AcceleratorConfig, offsets: Offsets | None = None) -> MemoryRun:
    """Run one conv/GEMM layer (one group) through the address-level memory model.

    Raises:
        HwModelError: CALC bandwidth mode (SCALE-Sim's estimating buffers are not modelled), or a
            layer SCALE-Sim cannot express.
    """
    if cfg.engine != "systolic":
        raise HwModelError(f"trace files exist for the systolic engine only, not {cfg.engine!r} ({cfg.name})")
    if cfg.bandwidth_mode != "USER":
        raise HwModelError(
            f"trace files are written in USER bandwidth mode only ({cfg.name} uses "
            f"{cfg.bandwidth_mode}); set InterfaceBandwidth: USER in the config, or use -s N"
        )
    ops = operand_matrices(layer, cfg.nm_support, offsets or Offsets())
    words = (cfg.sram_words("ifmap"), cfg.sram_words("filter"), cfg.sram_words("ofmap"))
    bws = (cfg.stream_bw("ifmap"), cfg.stream_bw("filter"), cfg.stream_bw("ofmap"))
    return run_memory(cfg.dataflow, cfg.rows, cfg.cols, ops, words, bws)


def _sram_text(cycles: np.ndarray, demand: np.ndarray) -> str:
    rows = np.column_stack((cycles, demand))
    buf = io.StringIO()
    for row in rows.tolist():
        buf.write(",".join(map(str, row)))
        buf.write("\n")
    return buf.getvalue()


def _dram_text(cycles: np.ndarray, lines: np.ndarray) -> str:
    rows = np.column_stack((cycles, lines)).astype(np.float64)
    buf = io.StringIO()
    for row in rows.tolist():
        buf.write(",".join(map(repr, row)))
        buf.write("\n")
    return buf.getvalue()


def write_layer_traces(run: MemoryRun, folder: Path) -> list[Path]:
    """Write the six trace files of one layer into ``folder`` (created); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for op in ("ifmap", "filter", "ofmap"):
        path = folder / f"{op.upper()}_SRAM_TRACE.csv"
        path.write_text(_sram_text(run.service[op], run.demand[op]))
        out.append(path)
        path = folder / f"{op.upper()}_DRAM_TRACE.csv"
        cycles, lines = run.dram_trace[op]
        if len(cycles) == 0:
            raise HwModelError(
                f"no {op} DRAM traffic to trace in {folder.name}"
            )  # SCALE-Sim cannot write it either
        path.write_text(_dram_text(cycles, lines))
        out.append(path)
    return out
