"""``AcceleratorConfig``: the frozen, validated description of one accelerator.

A systolic array is described as in SCALE-Sim (rows x cols, dataflow, three double-buffered SRAMs in
KiB of 1-byte words, DRAM bandwidth in words/cycle, CALC or USER bandwidth mode). A DPU engine carries
its parameters in ``dpu`` (a ``hwmodel.dpu.params.DpuParams``) and optionally a ``sparse`` engine.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwmodel.errors import CapacityError, ConfigError

if TYPE_CHECKING:
    from hwmodel.config.sparse import SparseEngine
    from hwmodel.dpu.params import DpuParams

__all__ = ["AcceleratorConfig", "ENGINES", "DATAFLOWS", "BANDWIDTH_MODES"]

ENGINES = ("systolic", "dpu")
DATAFLOWS = ("os", "ws", "is")
BANDWIDTH_MODES = ("CALC", "USER")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"AcceleratorConfig.{name} must be an integer >= {minimum}, got {value!r}")


def _check_pos(name: str, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"AcceleratorConfig.{name} must be a positive number, got {value!r}")


@dataclass(frozen=True, slots=True)
class AcceleratorConfig:
    """One accelerator: a systolic array or a DPU-like engine.

    Attributes:
        name: a label (preset name or SCALE-Sim ``run_name``).
        engine: ``"systolic"`` or ``"dpu"``.
        rows, cols: systolic array height and width (PEs).
        dataflow: ``"os"``, ``"ws"`` or ``"is"`` (output, weight, input stationary).
        ifmap_sram_kb, filter_sram_kb, ofmap_sram_kb: SRAM sizes in KiB (1-byte words by default).
        dram_bw: DRAM bandwidth per buffer in words/cycle (SCALE-Sim's ``Bandwidth``).
        ifmap_dram_bw, filter_dram_bw: DRAM->SRAM words/cycle of the ifmap and filter buffers when
            they differ from ``dram_bw`` (SCALE-Sim v3 USER mode takes them from ``[layout]
            IfmapSRAMBankBandwidth/FilterSRAMBankBandwidth`` and ``Bandwidth`` drives the ofmap drain).
        bandwidth_mode: ``"CALC"`` (bandwidth ample: no stalls, report what is needed) or
            ``"USER"`` (``dram_bw`` limits the fills: stalls appear).
        clock_mhz: clock for latency in ms and FPS.
        word_bytes: bytes per word (SCALE-Sim uses 1).
        read_request_buffer, write_request_buffer: SCALE-Sim request-buffer sizes (kept for round trips).
        nm_support: whether the systolic array skips the zeros of a layer's N:M weight pattern
            (SCALE-Sim's ``SparsitySupport``); when False, N:M layers run dense.
        dpu: DPU engine parameters (engine ``"dpu"`` only).
        sparse: N:M sparse-engine capabilities, or None for a dense engine.
    """

    name: str = "custom"
    engine: str = "systolic"
    rows: int = 32
    cols: int = 32
    dataflow: str = "os"
    ifmap_sram_kb: int = 64
    filter_sram_kb: int = 64
    ofmap_sram_kb: int = 64
    dram_bw: float = 10
    bandwidth_mode: str = "CALC"
    ifmap_dram_bw: float | None = None
    filter_dram_bw: float | None = None
    clock_mhz: float = 1000.0
    word_bytes: int = 1
    read_request_buffer: int = 128
    write_request_buffer: int = 128
    nm_support: bool = True
    dpu: DpuParams | None = None
    sparse: SparseEngine | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"AcceleratorConfig.name must be a non-empty string, got {self.name!r}")
        if self.engine not in ENGINES:
            raise ConfigError(
                f"AcceleratorConfig.engine {self.engine!r} is unknown; use one of {', '.join(ENGINES)}"
            )
        df = self.dataflow.lower() if isinstance(self.dataflow, str) else self.dataflow
        if df not in DATAFLOWS:
            raise ConfigError(
                f"AcceleratorConfig.dataflow {self.dataflow!r} is unknown; use one of {', '.join(DATAFLOWS)}"
            )
        object.__setattr__(self, "dataflow", df)
        mode = self.bandwidth_mode.upper() if isinstance(self.bandwidth_mode, str) else self.bandwidth_mode
        if mode not in BANDWIDTH_MODES:
            raise ConfigError(
                f"AcceleratorConfig.bandwidth_mode {self.bandwidth_mode!r} is unknown; use CALC or USER"
            )
        object.__setattr__(self, "bandwidth_mode", mode)
        for f in (
            "rows",
            "cols",
            "ifmap_sram_kb",
            "filter_sram_kb",
            "ofmap_sram_kb",
            "word_bytes",
            "read_request_buffer",
            "write_request_buffer",
        ):
            _check_int(f, getattr(self, f), 1)
        _check_pos("dram_bw", self.dram_bw)
        for f in ("ifmap_dram_bw", "filter_dram_bw"):
            if getattr(self, f) is not None:
                _check_pos(f, getattr(self, f))
        _check_pos("clock_mhz", self.clock_mhz)
        if not isinstance(self.nm_support, bool):
            raise ConfigError(f"AcceleratorConfig.nm_support must be true or false, got {self.nm_support!r}")
        if self.engine == "systolic":
            self._check_fold_capacity()
        if self.engine == "dpu" and self.dpu is None:
            raise ConfigError(
                f"AcceleratorConfig {self.name!r}: engine 'dpu' needs dpu parameters; "
                "use hwmodel.preset('dpu-b4096') or pass dpu=hwmodel.dpu.params.dpu_params(name)"
            )

    def _check_fold_capacity(self) -> None:
        # the stationary operand of one fold (R x C words) must fit in half of its double-buffered SRAM
        which = {"os": "ofmap", "ws": "filter", "is": "ifmap"}[self.dataflow]
        half = self.sram_words(which) // 2
        if half < self.rows * self.cols:
            need_kb = math.ceil(2 * self.rows * self.cols * self.word_bytes / 1024)
            raise CapacityError(
                f"AcceleratorConfig {self.name!r}: {which}_sram_kb={getattr(self, which + '_sram_kb')} is too small "
                f"for one {self.dataflow} fold: half of it must hold the {self.rows}x{self.cols} stationary tile; "
                f"use {which}_sram_kb >= {need_kb}"
            )

    # derived ------------------------------------------------------------------------------
    @property
    def peak_macs_per_cycle(self) -> int:
        """MACs per cycle at full use: rows*cols, or the DPU's PP*ICP*OCP."""
        if self.engine == "dpu" and self.dpu is not None:
            peak = getattr(self.dpu, "peak_macs_per_cycle", None)
            if peak is None:
                peak = self.dpu.pp * self.dpu.icp * self.dpu.ocp
            return int(peak() if callable(peak) else peak)
        return self.rows * self.cols

    def stream_bw(self, which: str) -> float:
        """DRAM words/cycle of the ``"ifmap"``, ``"filter"`` or ``"ofmap"`` buffer."""
        own = {"ifmap": self.ifmap_dram_bw, "filter": self.filter_dram_bw, "ofmap": None}[which]
        return float(self.dram_bw if own is None else own)

    def sram_words(self, which: str) -> int:
        """Capacity in words of the ``"ifmap"``, ``"filter"`` or ``"ofmap"`` SRAM."""
        kb = {"ifmap": self.ifmap_sram_kb, "filter": self.filter_sram_kb, "ofmap": self.ofmap_sram_kb}[which]
        return kb * 1024 // self.word_bytes

    # changes and serialisation ------------------------------------------------------------
    def replace(self, **changes: Any) -> AcceleratorConfig:
        """A copy with fields replaced (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"AcceleratorConfig has no field(s) {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; nested DPU/sparse parameters become dicts too."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("dpu", "sparse") and v is not None:
                v = v.to_dict() if hasattr(v, "to_dict") else dataclasses.asdict(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AcceleratorConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ConfigError`` naming them."""
        if not isinstance(d, dict):
            raise ConfigError(f"an accelerator config must be a mapping, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(
                f"unknown accelerator config field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}"
            )
        d = dict(d)
        if isinstance(d.get("dpu"), dict):
            from hwmodel.dpu.params import DpuParams

            d["dpu"] = (
                DpuParams.from_dict(d["dpu"]) if hasattr(DpuParams, "from_dict") else DpuParams(**d["dpu"])
            )
        if isinstance(d.get("sparse"), dict):
            from hwmodel.config.sparse import SparseEngine

            s = d["sparse"]
            d["sparse"] = (
                SparseEngine.from_dict(s) if hasattr(SparseEngine, "from_dict") else SparseEngine(**s)
            )
        return cls(**d)
