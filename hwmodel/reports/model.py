"""Simulation results: one frozen ``LayerReport`` per layer and a ``NetworkReport`` over a network.

Both engines (systolic array, DPU) return these types, so the CSV/JSON/Markdown writers and hwprune's
planner never need to know which engine produced a number. Cycle counts are integers; utilizations and
efficiencies are fractions in [0, 1] (the CSV writer prints SCALE-Sim's percentages).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hwmodel.config.accelerator import AcceleratorConfig

__all__ = ["Traffic", "Window", "AccessWindows", "LayerReport", "NetworkReport"]


@dataclass(frozen=True, slots=True)
class Traffic:
    """Word counts of one access type split by operand (ifmap, filter, ofmap)."""

    ifmap: int = 0
    filter: int = 0
    ofmap: int = 0

    @property
    def total(self) -> int:
        return self.ifmap + self.filter + self.ofmap

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(self.ifmap + other.ifmap, self.filter + other.filter, self.ofmap + other.ofmap)

    def scaled(self, k: int) -> Traffic:
        """The traffic of ``k`` identical repetitions (e.g. the groups of a grouped conv)."""
        return Traffic(self.ifmap * k, self.filter * k, self.ofmap * k)


@dataclass(frozen=True, slots=True)
class Window:
    """First and last cycle of an access stream (SCALE-Sim's start/stop columns; may be negative for prefetch)."""

    start: int = 0
    stop: int = 0

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True, slots=True)
class AccessWindows:
    """Start/stop cycles of the six access streams of DETAILED_ACCESS_REPORT.csv."""

    sram_ifmap: Window = Window()
    sram_filter: Window = Window()
    sram_ofmap: Window = Window()
    dram_ifmap: Window = Window()
    dram_filter: Window = Window()
    dram_ofmap: Window = Window()


@dataclass(frozen=True, slots=True)
class LayerReport:
    """The simulated cost of one layer.

    Attributes:
        name: layer name.
        kind: the layer kind's value (``"conv"``, ``"gemm"``, ...).
        compute_cycles: cycles the compute array is busy, fill and drain included.
        stall_cycles: cycles the array waits for DRAM (0 when bandwidth is ample).
        total_cycles: ``compute_cycles + stall_cycles``.
        utilization: useful MACs / (peak MACs per cycle * total_cycles).
        mapping_efficiency: mean fraction of the array that holds work, over folds/tiles.
        macs: useful multiply-accumulates (after N:M; 0 for data movement layers).
        sram_reads: SRAM words read, per operand (ofmap reads are partial sums, usually 0).
        sram_writes: SRAM words written, per operand (ifmap/filter writes are DRAM fills).
        dram_reads: DRAM words read, per operand.
        dram_writes: DRAM words written, per operand (ofmap write-back).
        compute_utilization: useful MACs / (peak MACs per cycle * compute_cycles) (SCALE-Sim's
            "Overall Util %").
        fold_utilization: mean over folds of a fold's used MACs / (peak * fold cycles) (SCALE-Sim's
            "Compute Util %").
        dense_macs: MACs without the N:M mask (SCALE-Sim's utilization numerator); 0 means ``macs``.
        prefetch_cycles: cycles to fill the SRAMs before the first fold (SCALE-Sim's "incl. prefetch").
        folds: folds (systolic) or tiles (DPU) the layer was split into.
        engine: ``"systolic"`` or ``"dpu"``.
        windows: access start/stop cycles, or None when the engine does not track them.
        exact_stalls: False when ``stall_cycles`` is a closed-form estimate rather than a cycle count.
    """

    name: str
    kind: str
    compute_cycles: int
    stall_cycles: int
    total_cycles: int
    utilization: float
    mapping_efficiency: float
    macs: int
    sram_reads: Traffic = Traffic()
    sram_writes: Traffic = Traffic()
    dram_reads: Traffic = Traffic()
    dram_writes: Traffic = Traffic()
    compute_utilization: float = 0.0
    fold_utilization: float = 0.0
    dense_macs: int = 0
    prefetch_cycles: int = 0
    folds: int = 0
    engine: str = "systolic"
    windows: AccessWindows | None = None
    exact_stalls: bool = True

    @property
    def access_windows(self) -> AccessWindows:
        """The six access windows; the whole layer for each stream when the mode did not record them."""
        if self.windows is not None:
            return self.windows
        whole = Window(0, self.total_cycles)
        return AccessWindows(whole, whole, whole, whole, whole, whole)

    def __post_init__(self) -> None:
        if self.total_cycles != self.compute_cycles + self.stall_cycles:
            raise ValueError(
                f"layer {self.name!r}: total_cycles {self.total_cycles} != compute {self.compute_cycles} "
                f"+ stall {self.stall_cycles}; build reports with LayerReport.make"
            )

    @classmethod
    def make(
        cls,
        name: str,
        kind: str,
        compute_cycles: int,
        stall_cycles: int,
        macs: int,
        peak_macs_per_cycle: int,
        mapping_efficiency: float,
        **kw: Any,
    ) -> LayerReport:
        """Build a report, deriving ``total_cycles`` and both utilizations.

        Args:
            name: layer name.
            kind: layer kind value.
            compute_cycles: compute cycles.
            stall_cycles: stall cycles.
            macs: useful MACs.
            peak_macs_per_cycle: MACs the engine can do per cycle (R*C, or PP*ICP*OCP).
            mapping_efficiency: fraction in [0, 1].
            **kw: the remaining optional fields.

        Returns:
            The report.
        """
        total = int(compute_cycles) + int(stall_cycles)
        peak = max(1, int(peak_macs_per_cycle))
        util = macs / (peak * total) if total else 0.0
        cutil = macs / (peak * compute_cycles) if compute_cycles else 0.0
        return cls(
            name,
            str(kind),
            int(compute_cycles),
            int(stall_cycles),
            total,
            util,
            float(mapping_efficiency),
            int(macs),
            compute_utilization=cutil,
            **kw,
        )

    @property
    def total_cycles_with_prefetch(self) -> int:
        return self.total_cycles + self.prefetch_cycles

    @property
    def dram_traffic(self) -> int:
        """All DRAM words moved (reads + writes)."""
        return self.dram_reads.total + self.dram_writes.total

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerReport:
        d = dict(d)
        for key in ("sram_reads", "sram_writes", "dram_reads", "dram_writes"):
            if isinstance(d.get(key), dict):
                d[key] = Traffic(**d[key])
        if isinstance(d.get("windows"), dict):
            d["windows"] = AccessWindows(**{k: Window(**v) for k, v in d["windows"].items()})
        return cls(**d)


@dataclass(frozen=True, slots=True)
class NetworkReport:
    """Per-layer reports of one network on one accelerator.

    Attributes:
        layers: one report per simulated layer, in order.
        config: the accelerator configuration they were simulated on.
        mode: ``"cycle"`` (stepped simulation) or ``"analytic"`` (closed form).
        topology: the topology name (file stem or user label), for report titles.
        notes: caveats the figures carry, one line each (e.g. ops of the network that have no cost
            model and count as 0 cycles); shown in every report.
    """

    layers: tuple[LayerReport, ...]
    config: AcceleratorConfig
    mode: str = "cycle"
    topology: str = "network"
    notes: tuple[str, ...] = ()

    @property
    def total_cycles(self) -> int:
        return sum(r.total_cycles for r in self.layers)

    @property
    def compute_cycles(self) -> int:
        return sum(r.compute_cycles for r in self.layers)

    @property
    def stall_cycles(self) -> int:
        return sum(r.stall_cycles for r in self.layers)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def latency_ms(self) -> float:
        """Latency of one inference at ``config.clock_mhz``."""
        return self.total_cycles / (self.config.clock_mhz * 1e3)

    @property
    def fps(self) -> float:
        """Inferences per second (one at a time, no pipelining across inferences)."""
        ms = self.latency_ms
        return 1e3 / ms if ms > 0 else float("inf")

    @property
    def utilization(self) -> float:
        """MAC-weighted utilization over the whole network."""
        peak = self.config.peak_macs_per_cycle
        total = self.total_cycles
        return self.macs / (peak * total) if total else 0.0

    def layer(self, name: str) -> LayerReport:
        """The report of the layer called ``name`` (KeyError listing names if absent)."""
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(f"no layer {name!r} in the report; layers: {', '.join(r.name for r in self.layers)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "topology": self.topology,
            "mode": self.mode,
            "config": self.config.to_dict(),
            "summary": {
                "total_cycles": self.total_cycles,
                "compute_cycles": self.compute_cycles,
                "stall_cycles": self.stall_cycles,
                "macs": self.macs,
                "latency_ms": self.latency_ms,
                "fps": self.fps,
                "utilization": self.utilization,
            },
            "layers": [r.to_dict() for r in self.layers],
            "notes": list(self.notes),
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkReport:
        from hwmodel.config.accelerator import AcceleratorConfig

        return cls(
            tuple(LayerReport.from_dict(x) for x in d["layers"]),
            AcceleratorConfig.from_dict(d["config"]),
            d.get("mode", "cycle"),
            d.get("topology", "network"),
            tuple(str(n) for n in d.get("notes", ())),
        )
