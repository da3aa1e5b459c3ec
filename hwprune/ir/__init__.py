"""The hwprune IR: a small graph of typed ops over values with static shapes."""

from hwprune.ir.graph import Graph, Op, Value
from hwprune.ir.kinds import OpKind

__all__ = ["Graph", "Op", "Value", "OpKind"]
