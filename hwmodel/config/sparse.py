"""The sparse engine: which N:M weight and activation sparsities the hardware runs, and their cost.

Rules follow AMD Vitis AI's sparse pruner (UG1333/UG1414 "Generating a Sparse Model"): weight sparsity
0, 0.5 or 0.75 in blocks of 4, 8 or 16 consecutive input channels; activation sparsity 0 or 0.5, and
0.5 only together with weight sparsity 0.75.

Cost model (assumption; it reproduces why Vitis AI pairs activation 0.5 with weight 0.75): the engine
skips pruned weights, so the input-channel loop shrinks to the kept weights, but the feature-map bank
supplies at most ``ifmap_read_factor`` (2) times ICP dense activations per cycle. Weight 0.5 therefore
gives 2x, weight 0.75 alone is capped at 2x, and weight 0.75 with 2:4 activations (half the activations
to read) gives 4x. Compressed weights carry ``ceil(log2 M)``-bit indices per kept weight (metadata
traffic, counted in DRAM and SRAM filter words).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwmodel.errors import ConfigError, SparsityError
from hwmodel.workloads.layers import DENSE, LayerSparsity, NMPattern

__all__ = ["SparseEngine"]


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-9


@dataclass(frozen=True, slots=True)
class SparseEngine:
    """A sparse engine's supported patterns and stream widths.

    Attributes:
        block_sizes: supported M of weight N:M (consecutive input channels per block).
        weight_sparsities: supported weight sparsities 1 - N/M (dense is always allowed).
        act_sparsities: supported activation sparsities (0 is always allowed).
        act_requires_weight_sparsity: the weight sparsity an activation-sparse layer must have
            (Vitis AI: activation 0.5 only with weight 0.75); None lifts the rule.
        act_block: block size of activation N:M (2:4 -> 4).
        ifmap_read_factor: dense activations per input-channel lane the feature-map bank supplies
            per cycle.
    """

    block_sizes: tuple[int, ...] = (4, 8, 16)
    weight_sparsities: tuple[float, ...] = (0.5, 0.75)
    act_sparsities: tuple[float, ...] = (0.5,)
    act_requires_weight_sparsity: float | None = 0.75
    act_block: int = 4
    ifmap_read_factor: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_sizes", tuple(int(m) for m in self.block_sizes))
        object.__setattr__(self, "weight_sparsities", tuple(float(s) for s in self.weight_sparsities))
        object.__setattr__(self, "act_sparsities", tuple(float(s) for s in self.act_sparsities))
        if not self.block_sizes or any(m < 2 for m in self.block_sizes):
            raise ConfigError(f"sparse engine: block sizes must be integers >= 2, got {self.block_sizes}")
        for s in (*self.weight_sparsities, *self.act_sparsities):
            if not 0.0 < s < 1.0:
                raise ConfigError(f"sparse engine: sparsities must be in (0, 1), got {s}")
        if self.act_block < 2 or self.ifmap_read_factor < 1:
            raise ConfigError(
                f"sparse engine: act_block must be >= 2 and ifmap_read_factor >= 1, got "
                f"{self.act_block} and {self.ifmap_read_factor}"
            )

    # ------------------------------------------------------------------------------------------
    def index_bits(self, m: int) -> int:
        """Bits of one kept weight's position inside its block of ``m``."""
        return max(1, math.ceil(math.log2(m)))

    def patterns(self) -> tuple[NMPattern, ...]:
        """Every supported weight N:M pattern (dense excluded), e.g. 2:4, 1:4, 4:8, 2:8, 8:16, 4:16."""
        out = []
        for m in self.block_sizes:
            for s in self.weight_sparsities:
                n = round(m * (1.0 - s))
                if n >= 1 and _close(1.0 - n / m, s):
                    out.append(NMPattern(n, m))
        return tuple(out)

    def layer_choices(self) -> tuple[LayerSparsity, ...]:
        """Every weight/activation combination the engine runs, dense first."""
        out = [DENSE]
        for nm in self.patterns():
            for act in (0.0, *self.act_sparsities):
                try:
                    self.check(nm, act, "choice")
                except SparsityError:
                    continue
                out.append(LayerSparsity(nm, act))
        return tuple(out)

    def act_pattern(self, act_sparsity: float) -> NMPattern | None:
        """The activation N:M pattern of a sparsity (0.5 -> 2:4), None when dense."""
        if act_sparsity <= 0.0:
            return None
        n = round(self.act_block * (1.0 - act_sparsity))
        return NMPattern(max(1, n), self.act_block)

    def allowed(self) -> str:
        """A human-readable list of the allowed combinations (for error messages)."""
        ws = ", ".join(f"{s:g}" for s in self.weight_sparsities)
        ms = ", ".join(str(m) for m in self.block_sizes)
        text = f"weight sparsity 0 or {ws} with block size M in {{{ms}}}"
        acts = ", ".join(f"{s:g}" for s in self.act_sparsities)
        text += f"; activation sparsity 0 or {acts}"
        if self.act_requires_weight_sparsity is not None:
            text += f" (non-zero only with weight sparsity {self.act_requires_weight_sparsity:g})"
        return text

    def check(self, weight_nm: NMPattern | None, act_sparsity: float, where: str) -> None:
        """Raise unless the engine runs this combination.

        Args:
            weight_nm: the layer's weight N:M pattern, or None for dense weights.
            act_sparsity: the layer's activation sparsity (0 for dense).
            where: the layer name, for the message.

        Raises:
            SparsityError: naming the layer, the offending pattern and the allowed combinations.
        """
        w = 0.0
        if weight_nm is not None and not weight_nm.dense:
            w = weight_nm.sparsity
            if weight_nm.m not in self.block_sizes:
                raise SparsityError(
                    f"layer {where!r}: weight pattern {weight_nm} has block size {weight_nm.m}, which the "
                    f"sparse engine does not support; allowed: {self.allowed()}"
                )
            if not any(_close(w, s) for s in self.weight_sparsities):
                raise SparsityError(
                    f"layer {where!r}: weight pattern {weight_nm} has sparsity {w:g}, which the sparse "
                    f"engine does not support; allowed: {self.allowed()}"
                )
        if act_sparsity > 0.0:
            if not any(_close(act_sparsity, s) for s in self.act_sparsities):
                raise SparsityError(
                    f"layer {where!r}: activation sparsity {act_sparsity:g} is not supported; "
                    f"allowed: {self.allowed()}"
                )
            need = self.act_requires_weight_sparsity
            if need is not None and not _close(w, need):
                raise SparsityError(
                    f"layer {where!r}: activation sparsity {act_sparsity:g} needs weight sparsity {need:g} "
                    f"(got {w:g}, pattern {weight_nm or 'dense'}); allowed: {self.allowed()}"
                )

    def to_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__slots__}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> SparseEngine:
        unknown = set(d) - set(cls.__slots__)
        if unknown:
            raise ConfigError(
                f"unknown sparse engine field(s) {sorted(unknown)}; known: {', '.join(cls.__slots__)}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})  # type: ignore[arg-type]
