"""Workload descriptions: one frozen ``Layer`` per accelerator operation.

A conv is described with its *unpadded* input and explicit padding (SCALE-Sim topology files give the
padded size and padding 0). Derived quantities (padded size, output size, GEMM view) are properties.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace
from typing import Any

from hwmodel.errors import SparsityError, TopologyError

__all__ = ["LayerKind", "NMPattern", "LayerSparsity", "DENSE", "Layer"]


class LayerKind(str, enum.Enum):
    """What a layer computes; decides which engine runs it."""

    CONV = "conv"  # dense or grouped convolution, lowered by im2col to a GEMM per group
    DEPTHWISE = "depthwise"  # groups == channels; systolic: Cin single-channel layers, DPU: ALU engine
    GEMM = "gemm"  # M x K times K x N (a linear layer: M = batch*tokens)
    POOL = "pool"  # max/avg pooling window over each channel
    ELTWISE_ADD = "add"  # elementwise sum of ``num_inputs`` tensors of the same shape
    ELTWISE_MUL = "mul"  # elementwise product (squeeze-excitation scaling, layer scale)
    CONCAT = "concat"  # channel concatenation: pure data movement
    # work the accelerator cannot run (sigmoid, SiLU, softmax, ...): the host CPU does it, elementwise over
    # ifmap_h * ifmap_w * channels elements; each engine prices it with its host model (the DPU's
    # ``DpuParams.cpu_elems_per_us``)
    CPU = "cpu"


@dataclass(frozen=True, slots=True)
class NMPattern:
    """Weight N:M sparsity along the reduction (input-channel) dimension: every M weights keep N."""

    n: int
    m: int

    def __post_init__(self) -> None:
        if (
            not (isinstance(self.n, int) and isinstance(self.m, int))
            or self.m <= 0
            or not 0 < self.n <= self.m
        ):
            raise SparsityError(f"invalid N:M pattern {self.n}:{self.m}: need integers 0 < N <= M")

    @property
    def sparsity(self) -> float:
        """Fraction of weights removed, 1 - N/M."""
        return 1.0 - self.n / self.m

    @property
    def dense(self) -> bool:
        return self.n == self.m

    def kept(self, k: int) -> int:
        """Reduction length left of ``k`` after the mask: full blocks keep N, a partial block keeps min(N, rest)."""
        full, rest = divmod(k, self.m)
        return full * self.n + min(self.n, rest)

    @classmethod
    def parse(cls, text: str) -> NMPattern:
        """Parse ``"2:4"``."""
        try:
            n, m = (int(p) for p in str(text).strip().split(":"))
        except ValueError as e:
            raise SparsityError(f"cannot parse N:M pattern {text!r}; write it as 'N:M', e.g. '2:4'") from e
        return cls(n, m)

    def __str__(self) -> str:
        return f"{self.n}:{self.m}"


@dataclass(frozen=True, slots=True)
class LayerSparsity:
    """What a sparse engine skips in one layer: weight N:M along input channels and activation sparsity.

    The one definition of a layer's sparsity, shared by the IR (``Op.sparsity``), workloads, the
    planner and plan files. Written ``"dense"``, ``"4:16"`` or ``"4:16+act0.5"``.

    Attributes:
        weight: the weight N:M pattern, or None for dense weights.
        act: the activation sparsity (0 for dense; 0.5 is 2:4 on the sparse engine).
    """

    weight: NMPattern | None = None
    act: float = 0.0

    def __post_init__(self) -> None:
        if self.weight is not None and not isinstance(self.weight, NMPattern):
            raise SparsityError(f"weight pattern must be an NMPattern or None, got {self.weight!r}")
        if not 0.0 <= self.act < 1.0:
            raise SparsityError(f"activation sparsity must be in [0, 1), got {self.act}")

    @property
    def dense(self) -> bool:
        return (self.weight is None or self.weight.dense) and self.act == 0.0

    def __str__(self) -> str:
        if self.weight is None:
            return "dense" if not self.act else f"act{self.act:g}"
        return f"{self.weight}" + (f"+act{self.act:g}" if self.act else "")

    @classmethod
    def parse(cls, text: str | None) -> LayerSparsity:
        """Parse ``"4:16"``, ``"4:16+act0.5"``, ``"dense"`` or None (dense)."""
        if text is None or str(text).strip() in ("", "dense"):
            return cls()
        nm, _, act = str(text).strip().partition("+act")
        try:
            a = float(act) if act else 0.0
        except ValueError as e:
            raise SparsityError(
                f"cannot parse layer sparsity {text!r}; write 'N:M' or 'N:M+actS', e.g. '4:16+act0.5'"
            ) from e
        return cls(NMPattern.parse(nm), a)


DENSE = LayerSparsity()


def _nm(nm: NMPattern | str | None) -> NMPattern | None:
    return NMPattern.parse(nm) if isinstance(nm, str) else nm


def _positive(name: str, layer: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise TopologyError(f"layer {layer!r}: {name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Layer:
    """One accelerator workload.

    Attributes:
        name: layer name (hwprune uses the module's qualified name).
        kind: the operation.
        ifmap_h, ifmap_w: input height/width *before* padding (GEMM: M rows, width 1).
        channels: input channels (GEMM: K).
        num_filter: output channels (GEMM: N; pool/eltwise/concat: equal to the output channels).
        filt_h, filt_w: kernel size (1 for GEMM and elementwise).
        stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w: conv/pool geometry (pad per side).
        groups: conv groups (depthwise: groups == channels).
        num_inputs: operand tensors for elementwise ops and concat.
        weight_nm: N:M weight sparsity, or None for dense.
        act_sparsity: activation sparsity fraction (0 or 0.5 on the sparse engine).
        residual_inputs: conv only: ofmap-sized operands a following elementwise add sums into this
            conv's output; an engine that fuses the add (the DPU's ELEW path) keeps this conv's
            output on chip for it; other engines ignore the field.
        fused: elementwise add only: one operand comes straight from the producing conv
            (``residual_inputs``) on an engine that fuses adds; other engines run it as usual.
        dram_input: the layer reads the network's input, which is in DRAM whatever its size (the host
            writes it there): an engine that keeps small feature maps on chip (the DPU) still loads
            it. Every operand the layer loads counts as in DRAM. False: where the input lives is the
            engine's rule (hand-written workloads; a topology file marks its first row, see
            ``hwmodel.workloads.topology``). hwprune's lowering sets it for layers that read a graph
            input, directly or through free ops (flatten, view, BN).
        dram_output: the layer's output is a network output and must be written to DRAM (the host
            reads it there), even when an engine would keep a map that small on chip.
    """

    name: str
    kind: LayerKind
    ifmap_h: int
    ifmap_w: int
    channels: int
    num_filter: int
    filt_h: int = 1
    filt_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    dilation_h: int = 1
    dilation_w: int = 1
    groups: int = 1
    num_inputs: int = 1
    weight_nm: NMPattern | None = None
    act_sparsity: float = 0.0
    residual_inputs: int = 0
    fused: bool = False
    dram_input: bool = False
    dram_output: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.kind, LayerKind):
            try:
                object.__setattr__(self, "kind", LayerKind(self.kind))
            except ValueError as e:
                kinds = ", ".join(k.value for k in LayerKind)
                raise TopologyError(
                    f"layer {self.name!r}: unknown kind {self.kind!r}; use one of {kinds}"
                ) from e
        for f in (
            "ifmap_h",
            "ifmap_w",
            "channels",
            "num_filter",
            "filt_h",
            "filt_w",
            "stride_h",
            "stride_w",
            "dilation_h",
            "dilation_w",
            "groups",
            "num_inputs",
        ):
            _positive(f, self.name, getattr(self, f))
        _positive("pad_h", self.name, self.pad_h, 0)
        _positive("pad_w", self.name, self.pad_w, 0)
        _positive("residual_inputs", self.name, self.residual_inputs, 0)
        for flag in ("fused", "dram_input", "dram_output"):
            if not isinstance(getattr(self, flag), bool):
                raise TopologyError(
                    f"layer {self.name!r}: {flag} must be true or false, got {getattr(self, flag)!r}"
                )
        if self.channels % self.groups or self.num_filter % self.groups:
            raise TopologyError(
                f"layer {self.name!r}: channels {self.channels} and num_filter {self.num_filter} "
                f"must both be divisible by groups {self.groups}"
            )
        if self.kind is LayerKind.DEPTHWISE and self.groups != self.channels:
            raise TopologyError(
                f"layer {self.name!r}: a depthwise layer needs groups == channels ({self.channels})"
            )
        if self.padded_h < self.eff_filt_h or self.padded_w < self.eff_filt_w:
            raise TopologyError(
                f"layer {self.name!r}: filter {self.filt_h}x{self.filt_w} (dilated "
                f"{self.eff_filt_h}x{self.eff_filt_w}) is larger than the padded input "
                f"{self.padded_h}x{self.padded_w}"
            )
        if not 0.0 <= self.act_sparsity < 1.0:
            raise SparsityError(
                f"layer {self.name!r}: activation sparsity must be in [0, 1), got {self.act_sparsity}"
            )
        if self.weight_nm is not None and not isinstance(self.weight_nm, NMPattern):
            object.__setattr__(self, "weight_nm", NMPattern.parse(self.weight_nm))

    # geometry -------------------------------------------------------------------------------
    @property
    def padded_h(self) -> int:
        return self.ifmap_h + 2 * self.pad_h

    @property
    def padded_w(self) -> int:
        return self.ifmap_w + 2 * self.pad_w

    @property
    def eff_filt_h(self) -> int:
        return self.dilation_h * (self.filt_h - 1) + 1

    @property
    def eff_filt_w(self) -> int:
        return self.dilation_w * (self.filt_w - 1) + 1

    @property
    def ofmap_h(self) -> int:
        """E = ceil((H - Rf + s) / s) on the padded input (SCALE-Sim's formula)."""
        return math.ceil((self.padded_h - self.eff_filt_h + self.stride_h) / self.stride_h)

    @property
    def ofmap_w(self) -> int:
        return math.ceil((self.padded_w - self.eff_filt_w + self.stride_w) / self.stride_w)

    # GEMM view (per group) ------------------------------------------------------------------
    @property
    def gemm_m(self) -> int:
        """Output pixels, M = E * F."""
        return self.ofmap_h * self.ofmap_w

    @property
    def gemm_k(self) -> int:
        """Dense reduction length per group, K = Rf * Sf * Cin / groups."""
        return self.filt_h * self.filt_w * (self.channels // self.groups)

    @property
    def gemm_k_sparse(self) -> int:
        """Reduction length after the N:M weight mask (K' <= K)."""
        return self.gemm_k if self.weight_nm is None else self.weight_nm.kept(self.gemm_k)

    @property
    def gemm_n(self) -> int:
        """Output channels per group."""
        return self.num_filter // self.groups

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates of a conv/GEMM layer (0 for data movement ops)."""
        if self.kind in (LayerKind.CONV, LayerKind.DEPTHWISE, LayerKind.GEMM):
            return self.gemm_m * self.gemm_k * self.gemm_n * self.groups
        return 0

    @property
    def elements(self) -> int:
        """Elements of the input tensor (per sample): what a CPU layer processes."""
        return self.ifmap_h * self.ifmap_w * self.channels

    @property
    def sparsity(self) -> LayerSparsity:
        """The layer's weight N:M and activation sparsity."""
        return LayerSparsity(self.weight_nm, self.act_sparsity)

    def with_sparsity(self, sparsity: LayerSparsity) -> Layer:
        """The same layer with another weight N:M / activation sparsity."""
        return self.with_(weight_nm=sparsity.weight, act_sparsity=sparsity.act)

    def with_(self, **changes: Any) -> Layer:
        """A copy with fields replaced (the only way a layer changes)."""
        return replace(self, **changes)

    # constructors ---------------------------------------------------------------------------
    @classmethod
    def conv(
        cls,
        name: str,
        h: int,
        w: int,
        cin: int,
        cout: int,
        k: int | tuple[int, int] = 1,
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        weight_nm: NMPattern | str | None = None,
        act_sparsity: float = 0.0,
    ) -> Layer:
        """A convolution; ``groups == cin == cout`` gives a depthwise layer."""
        kh, kw = _pair(k)
        sh, sw = _pair(stride)
        ph, pw = _pair(padding)
        dh, dw = _pair(dilation)
        kind = LayerKind.DEPTHWISE if groups > 1 and groups == cin else LayerKind.CONV
        return cls(
            name,
            kind,
            h,
            w,
            cin,
            cout,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            dh,
            dw,
            groups,
            weight_nm=_nm(weight_nm),
            act_sparsity=act_sparsity,
        )

    @classmethod
    def gemm(
        cls,
        name: str,
        m: int,
        k: int,
        n: int,
        *,
        weight_nm: NMPattern | str | None = None,
        act_sparsity: float = 0.0,
    ) -> Layer:
        """A GEMM (M x K) @ (K x N), e.g. a linear layer with M = batch."""
        return cls(name, LayerKind.GEMM, m, 1, k, n, weight_nm=_nm(weight_nm), act_sparsity=act_sparsity)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))
