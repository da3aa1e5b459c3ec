"""What lowering produces: a priced workload tied to its channels, an op left unpriced, and both lists."""

from __future__ import annotations

from dataclasses import dataclass

from hwmodel.workloads.layers import Layer

__all__ = ["Lowered", "Unmodelled", "Lowering"]


@dataclass(frozen=True, slots=True)
class Lowered:
    """One workload and where its channel counts come from.

    Attributes:
        op: the IR op (module) name; the workload has the same name.
        layer: the workload at the model's full size.
        in_value / out_value: the IR values whose channel dim (``in_dim`` / ``out_dim``) gives the
            layer's input / output channels (None when the count cannot change).
        in_scale: features per input channel (flatten -> linear: H*W), 1 otherwise.
        tied: the layer's input and output channels are the same channels (depthwise, pool, eltwise).
    """

    op: str
    layer: Layer
    in_value: str | None
    in_dim: int
    out_value: str | None
    out_dim: int
    in_scale: int = 1
    tied: bool = False


@dataclass(frozen=True, slots=True)
class Unmodelled:
    """An op whose accelerator time the lowering does not model (it adds 0 cycles to every figure).

    Attributes:
        name: the IR op name (module qualified name where there is one).
        op: the torch op: module type (``"LSTM"``) or function/method (``"torch.fft.fft2"``).
        kind: the IR kind (``"opaque"``, ``"conv"``, ...).
        why: why it is not modelled, in words.
    """

    name: str
    op: str
    kind: str
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "kind": self.kind, "why": self.why}


@dataclass(frozen=True, slots=True)
class Lowering:
    """Result of :func:`lower_graph`: the priced workloads and the ops left unpriced."""

    layers: tuple[Lowered, ...]
    unmodelled: tuple[Unmodelled, ...]
