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

Switches for fidelity against AMD's published latencies (``reports/dpu_vs_model_zoo.md``), each with
AMD's default:

* ``channel_augmentation`` (on): PG338 "Channel Augmentation" configuration option, enabled in the
  ZCU102/ZCU104 DPU TRD builds: for a layer with fewer input channels than ICP, the kernel-width taps of
  one kernel row are packed into the ICP lanes, so a tile takes ``kh * ceil(kw * Cin / ICP)`` cycles
  instead of ``kh * kw * ceil(Cin / ICP)`` (a 7x7 conv on RGB: 14 instead of 49).
* ``augmented_input_packed`` (on): an augmented layer (see above) reads its input from DDR as stored,
  ``Cin`` bytes a pixel (the XIR tensor of an image is its 3 channels; the DPU's load engine packs the
  kernel-width taps into the ICP lanes on chip), not padded to ICP. Physically required by channel
  augmentation itself: the packing is what makes the padded copy unnecessary. Whether such an input stays
  on chip is still decided on its bank image (channels padded), so latency stays monotone in ``Cin``. Off:
  the input is loaded padded to ICP like any other (5.3x the bytes for an RGB image on B4096).
* ``network_io_dram`` (on): the network's input and its outputs are in DDR whatever their size: the
  host writes the input there and reads the outputs from there (Vitis AI runtime: the input and output
  tensors of a DPU subgraph are buffers in DDR the host maps), so the layer that reads the input
  (``Layer.dram_input``) loads it and a layer that produces an output (``Layer.dram_output``) saves it,
  even when ``onchip_fmap_kb`` would keep a map that small on chip (a 32x32 image; a 10-class logits
  row). Off: the size rule decides for them too (the model before this switch; kept for the ablation).
* ``layer_startup`` (on): a layer's first input rows load before its first tile and its last tile's
  output row saves after its last (PG338: LOAD -> CONV -> SAVE dependencies within a layer); weights
  and the other saves stay hidden behind the neighbouring layers' steps (PG338's engines run
  concurrently), which keeps latency monotone in channels. Off: the steady-state cyclic model.
* ``fc_bytes_per_cycle``: the DRAM bytes/cycle a GEMM (fully connected) layer's weight stream sustains;
  0 means ``dram_bytes_per_cycle``. PG338 measures 5.3 GB/s peak for ResNet-50 on B4096 (17.7 B/cycle
  at 300 MHz); FC weights are one long sequential burst, so the default is the full port.
* ``fuse_eltwise`` (on): the Vitis AI compiler fuses conv + BN + ReLU always, and conv + elementwise add
  through the ELEW path (workloads mark this with ``Layer.residual_inputs`` / ``Layer.fused``): the
  conv's output stays in the banks, the ALU adds the other operand loaded from DRAM and saves the sum.
  (An add that is free inside the conv's save fits AMD's figures worse: ResNet-50 0.82 of its time.)
* ``onchip_fmap_kb``: a feature map whose bank image (channels padded to ICP) fits in this many KiB
  stays in the on-chip banks between producer and consumer and never goes to DRAM (the compiler's
  memory allocation; PG338's measured per-model bandwidths are far below a load/save-everything
  model). 0 means half the input feature-map bank; -1 disables it.
* ``conv_stretch_pct``: the conv engine's cycles per step in percent of its ideal tile cycles (100 =
  every cycle does PP x ICP x OCP MACs). PG338 publishes peak ops only; the measured zoo latencies
  say the engine sustains less (bubbles between tiles, weight switching): this is one of the two
  constants fitted against the model zoo (``reports/dpu_vs_model_zoo.md``, on half the models), with
  no model's simulated time above the most its core can take per frame: 112 since the KV260's one-core
  figures (1 / multi-thread fps, the same core at the same clock) joined the bound; 116 before, which put
  MobileNetV1 1.0 and Inception-v3 just above the time the KV260's core takes per frame.
* ``layer_overhead``: cycles every layer with work costs besides its tiles and transfers (instruction
  fetch and engine synchronisation between layers). PG338 publishes no figure; 0 by default (fitted
  against the model zoo it came out at ~4,500 cycles, but then the small MobileNets exceed the DPU time
  their multi-thread fps allows, so it is left out).
* ``min_tile_cycles`` (0 = off): the fewest cycles one conv tile may take. A candidate mechanism for
  the model-zoo residual, not AMD's: an output stage that requantises and writes fewer than PP x OCP
  results a cycle would cap 1x1 convs over few input channels (a B4096 tile of a 16-channel 1x1 conv is 1
  cycle). PG338 publishes no output-stage rate, so it is off; ``reports/dpu_vs_model_zoo.md``'s ablation
  shows what it would buy (MobileNetV2 closer, SqueezeNet and MobileNetV1 0.5 further off).
* ``cpu_elems_per_us`` (25): how fast the host CPU runs the ops the DPU cannot (``LayerKind.CPU``:
  sigmoid, SiLU/swish, tanh, GELU, ELU, mish, softplus, PReLU, exp/log/sqrt, softmax), in elements per
  microsecond. Which ops those are: UG1414 (Vitis AI 3.0) "Currently Supported Operators" lists, for
  DPUCZDX8G_ISA1_B4096 on ZCU102/ZCU104, the activations ReLU, LeakyReLU, ReLU6, Hard-Swish and
  Hard-Sigmoid only; every other op is assigned to the CPU (PG338's optional hardware softmax is not in
  the ZCU102/ZCU104 builds the zoo figures come from). The rate is an assumption, not a measurement: the
  Vitis AI runtime runs such ops as scalar float code on one Cortex-A53 core (1.2 GHz on ZCU104), about
  50 CPU cycles per element for an exp-based function with its int8 dequantise/requantise, i.e. ~25
  elements/us. A CPU layer costs ``ceil(elements * clock_mhz / cpu_elems_per_us)`` DPU cycles.
  No AMD figure measures it. The one zoo figure that seemed to bound it does not: efficientnet-b0_tf2
  (ZCU104 83.7 fps, UG1354 2.5) would imply >= ~800 elements/us if its ~7 M swish elements ran on the host,
  but UG1414 (3.0, "vai_q_tensorflow2 Supported Operations and APIs") states that ``sigmoid`` and
  ``swish`` activations "will be converted to hard-sigmoid or hard-swish and then be quantized by
  default", and Hard-Swish/Hard-Sigmoid run on DPUCZDX8G_ISA1_B4096: that model's swish runs on the DPU,
  so its fps says nothing about the host rate. The value stays the stated assumption.
* ``cpu_transfer`` (on): a CPU op's operand leaves the DPU and its result comes back through DDR: the
  DPU saves ``elements`` bytes and loads ``elements`` bytes over its DRAM port (int8 feature maps), as
  stall cycles of the CPU layer. Off: only the CPU's own time.
* ``cores`` / ``ddr_bytes_per_cycle``: DPU cores on the board and the board DDR bandwidth they share
  (bytes per DPU cycle; 0 = unlimited). Single-thread latency uses one core at its full port;
  multi-core throughput gives each core ``min(port, ddr / cores)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

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

BANK_DEPTH = 2048
CONV_STRETCH_PCT = 112  # fitted against the Vitis AI model zoo (reports/dpu_vs_model_zoo.md)
LAYER_OVERHEAD = (
    0  # cycles per layer: no published figure; a constant fitted here breaks the zoo's throughput bounds
)
CPU_ELEMS_PER_US = (
    25.0  # host CPU elements per microsecond for ops the DPU cannot run (assumption, see above)
)


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
        channel_augmentation: pack kernel-width taps into ICP lanes when Cin < ICP (PG338; on).
        augmented_input_packed: an augmented layer loads its input unpadded, Cin bytes a pixel (on).
        layer_startup: cost each layer's first input rows and last tile save (on) instead of steady state.
        network_io_dram: the network's input and outputs move through DDR whatever their size (on).
        fc_bytes_per_cycle: DRAM bytes/cycle of GEMM weight streams (0: ``dram_bytes_per_cycle``).
        fuse_eltwise: keep a marked conv's output on chip for its residual add (ELEW; on).
        onchip_fmap_kb: feature maps up to this size stay on chip (0: half the ifmap bank; -1: never).
        conv_stretch_pct: conv step cycles in percent of the ideal tile cycles (fitted; see above).
        layer_overhead: cycles per layer for instruction fetch and synchronisation (0; see above).
        min_tile_cycles: fewest cycles of one conv tile (0 = off; a candidate, not AMD's; see above).
        cpu_elems_per_us: host CPU speed on ops the DPU cannot run, elements per microsecond (see above).
        cpu_transfer: a CPU op's operand and result cross DDR over the DPU's port (on; see above).
        cores: DPU cores on the board (throughput; latency uses one).
        ddr_bytes_per_cycle: board DDR bandwidth shared by all cores, bytes per DPU cycle (0: unlimited).
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
    channel_augmentation: bool = True
    augmented_input_packed: bool = True
    layer_startup: bool = True
    network_io_dram: bool = True
    fc_bytes_per_cycle: int = 0
    fuse_eltwise: bool = True
    onchip_fmap_kb: int = 0
    layer_overhead: int = LAYER_OVERHEAD
    min_tile_cycles: int = 0
    conv_stretch_pct: int = CONV_STRETCH_PCT
    cpu_elems_per_us: float = CPU_ELEMS_PER_US
    cpu_transfer: bool = True
    cores: int = 1
    ddr_bytes_per_cycle: int = 0

    def __post_init__(self) -> None:
        for f in ("pp", "icp", "ocp", "dram_bytes_per_cycle"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"DPU {self.name!r}: {f} must be an integer >= 1, got {v!r}")
        for f in ("weight_bank_kb", "ifmap_bank_kb", "ofmap_bank_kb", "alu_pp", "alu_cp", "pipeline_fill"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"DPU {self.name!r}: {f} must be an integer >= 0 (0 = default), got {v!r}")
        for f in (
            "channel_augmentation",
            "augmented_input_packed",
            "layer_startup",
            "network_io_dram",
            "fuse_eltwise",
            "cpu_transfer",
        ):
            if not isinstance(getattr(self, f), bool):
                raise ConfigError(f"DPU {self.name!r}: {f} must be true or false, got {getattr(self, f)!r}")
        for f, lo in (
            ("fc_bytes_per_cycle", 0),
            ("onchip_fmap_kb", -1),
            ("layer_overhead", 0),
            ("min_tile_cycles", 0),
            ("conv_stretch_pct", 100),
            ("cores", 1),
            ("ddr_bytes_per_cycle", 0),
        ):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ConfigError(f"DPU {self.name!r}: {f} must be an integer >= {lo}, got {v!r}")
        for f in ("clock_mhz", "cpu_elems_per_us"):
            v = getattr(self, f)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v < float("inf"):
                raise ConfigError(f"DPU {self.name!r}: {f} must be a number > 0, got {v!r}")
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
            raise ConfigError(
                f"DPU {self.name!r}: alu_pp {self.alu_pp} exceeds pp {self.pp} (PG338 allows 1..PP)"
            )
        object.__setattr__(self, "clock_mhz", float(self.clock_mhz))
        object.__setattr__(self, "cpu_elems_per_us", float(self.cpu_elems_per_us))

    @property
    def peak_macs_per_cycle(self) -> int:
        """PP * ICP * OCP multiply-accumulates per cycle."""
        return self.pp * self.icp * self.ocp

    @property
    def peak_ops_per_cycle(self) -> int:
        """PG338's "peak ops": two operations per MAC."""
        return 2 * self.peak_macs_per_cycle

    @property
    def onchip_fmap_bytes(self) -> int:
        """Largest feature map (bytes, channels padded) kept on chip; 0 when disabled."""
        if self.onchip_fmap_kb < 0:
            return 0
        return (self.onchip_fmap_kb or self.ifmap_bank_kb // 2) * 1024

    def cpu_cycles(self, elements: int) -> int:
        """DPU cycles the host CPU takes for ``elements`` elements of an op the DPU cannot run."""
        return math.ceil(elements * self.clock_mhz / self.cpu_elems_per_us)

    @property
    def fc_bw(self) -> int:
        """DRAM bytes/cycle of a GEMM layer's weight stream."""
        return self.fc_bytes_per_cycle or self.dram_bytes_per_cycle

    def core_share(self) -> DpuParams:
        """This core while every core runs: its DRAM port capped at its share of the board DDR."""
        if not self.ddr_bytes_per_cycle:
            return self
        share = max(1, self.ddr_bytes_per_cycle // self.cores)
        return replace(
            self,
            dram_bytes_per_cycle=min(self.dram_bytes_per_cycle, share),
            fc_bytes_per_cycle=min(self.fc_bw, share),
        )

    @property
    def weight_chunk_bytes(self) -> int:
        """Bytes of weights one half of the double-buffered weight bank holds."""
        return self.weight_bank_kb * 1024 // 2

    def with_(self, **changes: Any) -> DpuParams:
        """A copy with fields replaced."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__slots__}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> DpuParams:
        unknown = set(d) - set(cls.__slots__)
        if unknown:
            raise ConfigError(
                f"unknown DPU parameter(s) {sorted(unknown)}; known: {', '.join(cls.__slots__)}"
            )
        return cls(**d)  # type: ignore[arg-type]


def dpu_params(name: str, **overrides: Any) -> DpuParams:
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
