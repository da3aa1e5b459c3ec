"""DPU (AMD DPUCZDX8G-like) engine parameters and the eight PG338 architectures.

Sources and assumptions (see also ``reports/dpu_resnet50_vs_zoo.md``):

* PP x ICP x OCP per architecture: AMD PG338 "Architecture of the DPUCZDX8G" table
  (B512 = 4x8x8, B800 = 4x10x10, B1024 = 8x8x8, B1152 = 4x12x12, B1600 = 8x10x10,
  B2304 = 8x12x12, B3136 = 8x14x14, B4096 = 8x16x16; peak ops/cycle = 2 * PP * ICP * OCP).
* ALU engine (depthwise conv, pooling, elementwise): PG338 "DepthwiseConv (ALU)": ALU parallelism
  1..PP, PP/2 recommended; each ALU pixel lane works on ICP channels.
* On-chip banks (assumption): a bank unit is ICP bytes wide and 2048 deep. Weights: OCP units
  (ICP*OCP*2 KiB); feature maps in: PP units (PP*ICP*2 KiB); out: PP units (PP*OCP*2 KiB). The sum is
  within 12% of PG338's "Low RAM Usage" BRAM36K count for every architecture (B4096: 1 MiB = 256
  BRAM36K vs 255 listed). Every bank is double-buffered: half computes while half loads.
* DRAM: two 128-bit AXI data ports (DPU0_M_AXI_DATA0/1) at the DPU clock, i.e. 32 bytes/cycle.
  PG338's measured ResNet-50 peak on B4096 (5298 MB/s, about 17.7 bytes/cycle at 300 MHz) fits.
* Clock: 300 MHz, the DPU clock of the ZCU102/ZCU104 reference designs (DSPs double-pumped at 600 MHz).
* Pipeline fill: 16 cycles per layer (assumption; PG338 does not publish the pipeline depth).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hwmodel.errors import ConfigError

__all__ = ["DpuParams", "DPU_NAMES", "DPU_ARCHS", "dpu_params"]

# name -> (pp, icp, ocp), AMD PG338 table "Deep Neural Network Features and Parameters"
DPU_ARCHS: dict[str, tuple[int, int, int]] = {
    "dpu-b512": (4, 8, 8),
    "dpu-b800": (4, 10, 10),
    "dpu-b1024": (8, 8, 8),
    "dpu-b1152": (4, 12, 12),
    "dpu-b1600": (8, 10, 10),
    "dpu-b2304": (8, 12, 12),
    "dpu-b3136": (8, 14, 14),
    "dpu-b4096": (8, 16, 16),
}

DPU_NAMES: tuple[str, ...] = tuple(DPU_ARCHS)

BANK_DEPTH = 2048  # words per bank unit (assumption, see module docstring)


@dataclass(frozen=True, slots=True)
class DpuParams:
    """Parameters of one DPU core.

    Attributes:
        pp: pixel parallelism (output pixels along a row computed per cycle).
        icp: input-channel parallelism.
        ocp: output-channel parallelism.
        clock_mhz: core clock in MHz.
        dram_bytes_per_cycle: bytes the load and save engines move per cycle together.
        weight_bank_kb: weight bank in KiB (double-buffered: half holds the chunk being used).
        ifmap_bank_kb: input feature-map bank in KiB.
        ofmap_bank_kb: output feature-map bank in KiB.
        alu_pp: ALU engine pixel parallelism (PP/2 by default, PG338's recommendation).
        alu_cp: ALU engine channel parallelism (ICP by default).
        pipeline_fill: cycles to fill the conv/ALU pipeline once per layer.
        name: architecture label, e.g. ``"B4096"``.
    """

    pp: int
    icp: int
    ocp: int
    clock_mhz: float = 300.0
    dram_bytes_per_cycle: int = 32
    weight_bank_kb: int = 0
    ifmap_bank_kb: int = 0
    ofmap_bank_kb: int = 0
    alu_pp: int = 0
    alu_cp: int = 0
    pipeline_fill: int = 16
    name: str = "custom"

    def __post_init__(self) -> None:
        for f in ("pp", "icp", "ocp", "dram_bytes_per_cycle"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"DPU {self.name!r}: {f} must be an integer >= 1, got {v!r}")
        for f in ("weight_bank_kb", "ifmap_bank_kb", "ofmap_bank_kb", "alu_pp", "alu_cp", "pipeline_fill"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"DPU {self.name!r}: {f} must be an integer >= 0 (0 = default), got {v!r}")
        if not isinstance(self.clock_mhz, (int, float)) or not self.clock_mhz > 0:
            raise ConfigError(f"DPU {self.name!r}: clock_mhz must be > 0, got {self.clock_mhz!r}")
        # zero means "derive from the array size", so a custom DPU needs only pp/icp/ocp
        defaults = {
            "weight_bank_kb": self.icp * self.ocp * BANK_DEPTH // 1024,
            "ifmap_bank_kb": self.pp * self.icp * BANK_DEPTH // 1024,
            "ofmap_bank_kb": self.pp * self.ocp * BANK_DEPTH // 1024,
            "alu_pp": max(1, self.pp // 2),
            "alu_cp": self.icp,
        }
        for f, v in defaults.items():
            if getattr(self, f) == 0:
                object.__setattr__(self, f, max(1, v))
        if self.alu_pp > self.pp:
            raise ConfigError(f"DPU {self.name!r}: alu_pp {self.alu_pp} exceeds pp {self.pp} (PG338 allows 1..PP)")
        object.__setattr__(self, "clock_mhz", float(self.clock_mhz))

    @property
    def peak_macs_per_cycle(self) -> int:
        """PP * ICP * OCP multiply-accumulates per cycle."""
        return self.pp * self.icp * self.ocp

    @property
    def peak_ops_per_cycle(self) -> int:
        """PG338's "peak ops": two operations per MAC."""
        return 2 * self.peak_macs_per_cycle

    @property
    def weight_chunk_bytes(self) -> int:
        """Bytes of weights one half of the double-buffered weight bank holds."""
        return self.weight_bank_kb * 1024 // 2

    def with_(self, **changes) -> DpuParams:
        """A copy with fields replaced."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__slots__}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> DpuParams:
        unknown = set(d) - set(cls.__slots__)
        if unknown:
            raise ConfigError(f"unknown DPU parameter(s) {sorted(unknown)}; known: {', '.join(cls.__slots__)}")
        return cls(**d)  # type: ignore[arg-type]


def dpu_params(name: str, **overrides) -> DpuParams:
    """The parameters of a named DPUCZDX8G architecture.

    Args:
        name: ``"dpu-b512"`` ... ``"dpu-b4096"`` (case-insensitive; ``"B4096"`` also accepted).
        **overrides: fields to change, e.g. ``clock_mhz=200``.

    Returns:
        The DpuParams.

    Raises:
        ConfigError: the name is not one of ``DPU_NAMES``.
    """
    key = str(name).strip().lower()
    if not key.startswith("dpu-"):
        key = "dpu-" + key
    key = key.removesuffix("-sparse")
    if key not in DPU_ARCHS:
        raise ConfigError(f"unknown DPU architecture {name!r}; use one of {', '.join(DPU_NAMES)}")
    pp, icp, ocp = DPU_ARCHS[key]
    return DpuParams(pp, icp, ocp, name=key.removeprefix("dpu-").upper(), **overrides)
