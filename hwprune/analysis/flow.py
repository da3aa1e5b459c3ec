"""Channel flow: which channel *elements* every tensor dim carries, and which must be pruned together.

Every producer of channels (conv/linear outputs, model inputs, parameters) creates fresh element ids.
Each value records, for the dims that carry channels, an array of element ids (a :class:`Chan`).
Handlers (``flow_rules``) move those arrays through ops (concat, split, flatten, reshape, permute...),
declare *unions* (a residual add makes two elements one), *slots* (the weight dims that hold an element)
and *pins* (elements that must not be pruned, with the reason). Connected components of the unions
are the units of pruning; :mod:`hwprune.analysis.groups` turns them into channel groups.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from hwprune.ir.graph import Graph, Op
from hwprune.ir.handlers import lookup

__all__ = ["Chan", "SlotRole", "WEIGHT_ROLES", "SlotRec", "Flow", "FlowCtx", "run_flow"]


class SlotRole(str, enum.Enum):
    """What a slot (a tensor dim of an op that holds channel elements) is."""

    OUT = "out"  # output channels: weight dim 0 of a conv/linear (the producer)
    IN = "in"  # input channels of a conv/linear (a consumer's weight dim 1)
    PARAM = "param"  # a per-channel parameter: BN/LN affine, layer scale
    PIN = "pin"  # a reason the elements cannot be pruned
    MIX = "mix"  # an op that mixes the channels

    def __str__(self) -> str:
        return self.value


WEIGHT_ROLES = frozenset({SlotRole.OUT, SlotRole.IN, SlotRole.PARAM})  # slots that hold weights

# Larger expanded id arrays (flatten of a huge feature map) are not tracked; their channels are pinned.
MAX_IDS = 1 << 22


@dataclass(frozen=True, slots=True, eq=False)
class Chan:
    """Channel elements of a tensor value.

    Attributes:
        dims: the value's dims that carry channels, ascending.
        ids: element ids, shaped like the value along ``dims``.
        axis: index into ``dims`` of the dim that shrinks when elements are removed (the others stay,
            their fibres were unified so removals keep the tensor rectangular).
    """

    dims: tuple[int, ...]
    ids: np.ndarray
    axis: int = 0

    @property
    def prune_dim(self) -> int:
        return self.dims[self.axis]


@dataclass(frozen=True, slots=True, eq=False)
class SlotRec:
    """A tensor dim of an op that holds channel elements: ``ids[p]`` is the element at position ``p``."""

    op: str
    role: SlotRole
    dim: int
    ids: np.ndarray
    note: str = ""


@dataclass(slots=True)
class FlowCtx:
    """Mutable state of one flow run; handlers read and write it through its methods."""

    graph: Graph
    chans: dict[str, object] = field(default_factory=dict)
    slots: list[SlotRec] = field(default_factory=list)
    unions: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    count: int = 0

    def fresh(self, n: int) -> np.ndarray:
        ids = np.arange(self.count, self.count + n, dtype=np.int64)
        self.count += n
        return ids

    def chan(self, value: str) -> Chan | None:
        c = self.chans.get(value)
        return c if isinstance(c, Chan) else None

    def parts(self, value: str) -> tuple[Chan | None, ...] | None:
        c = self.chans.get(value)
        return c if isinstance(c, tuple) else None

    def set(self, value: str, chan: object) -> None:
        self.chans[value] = chan

    def slot(self, op: Op, role: SlotRole | str, dim: int, ids: np.ndarray, note: str = "") -> None:
        self.slots.append(
            SlotRec(op.name, SlotRole(role), dim, np.asarray(ids, dtype=np.int64).reshape(-1), note)
        )

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
        self.unions.append((a.reshape(-1), b.reshape(-1)))

    def pin(self, op: Op, chan: Chan | np.ndarray | None, reason: str) -> None:
        if chan is None:
            return
        ids = chan.ids if isinstance(chan, Chan) else chan
        self.slots.append(
            SlotRec(op.name, SlotRole.PIN, -1, np.asarray(ids, dtype=np.int64).reshape(-1), reason)
        )

    def pin_value(self, op: Op, value: str, reason: str) -> None:
        c = self.chans.get(value)
        for part in c if isinstance(c, tuple) else (c,):
            if isinstance(part, Chan):
                self.pin(op, part, reason)

    def mix(self, op: Op, chan: Chan, reason: str) -> None:
        self.slots.append(SlotRec(op.name, SlotRole.MIX, -1, chan.ids.reshape(-1), reason))

    def shape(self, value: str) -> tuple[int, ...] | None:
        return self.graph.value(value).shape

    def known_shape(self, value: str) -> tuple[int, ...]:
        """The static shape of ``value``, which the rule asking needs (a tensor carrying channels)."""
        return self.graph.tensor_shape(value)

    def tensor_inputs(self, op: Op) -> list[str]:
        return [v for v in op.inputs if self.graph.value(v).shape is not None or self.graph.value(v).parts]

    def first_input(self, op: Op) -> str | None:
        """The op's first tensor input, or None."""
        ins = self.tensor_inputs(op)
        return ins[0] if ins else None

    def ids_along(self, op: Op, value: str, dim: int) -> np.ndarray | None:
        """1-D element ids of ``value`` along ``dim``, or None (pinning them) if channels lie elsewhere."""
        c = self.chan(value)
        if c is None:
            return None
        if c.dims == (dim,):
            return c.ids
        self.pin(op, c, f"{op.name} reads channels laid out across dims {c.dims}, not dim {dim}")
        return None


@dataclass(frozen=True, slots=True, eq=False)
class Flow:
    """Result of a flow run: per-value channels, slots, and the component (root) of every element."""

    chans: dict[str, object]
    slots: tuple[SlotRec, ...]
    comp: np.ndarray  # element id -> component id
    n_comp: int


def run_flow(graph: Graph) -> Flow:
    """Propagate channel elements through ``graph`` with the per-kind ``flow`` handlers."""
    ctx = FlowCtx(graph)
    for op in graph.ops:
        lookup("flow", op.kind)(op, ctx)
    _tie_shared_modules(graph, ctx)
    n = ctx.count
    if ctx.unions:
        a = np.concatenate([u[0] for u in ctx.unions])
        b = np.concatenate([u[1] for u in ctx.unions])
    else:
        a = b = np.zeros(0, dtype=np.int64)
    adj = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    n_comp, comp = connected_components(adj, directed=False)
    return Flow(ctx.chans, tuple(ctx.slots), comp.astype(np.int64), int(n_comp))


def _tie_shared_modules(graph: Graph, ctx: FlowCtx) -> None:
    # a module called twice has one weight: the slots of all its calls must be pruned alike
    by_target: dict[tuple[str, str, int], np.ndarray] = {}
    names = {op.name: op for op in graph.ops}
    for s in ctx.slots:
        op = names[s.op]
        if s.role in (SlotRole.PIN, SlotRole.MIX) or op.call == 0:
            key = (op.target, s.role, s.dim)
            by_target.setdefault(key, s.ids)
            continue
        key = (op.target, s.role, s.dim)
        first = by_target.get(key)
        if first is not None and len(first) == len(s.ids):
            ctx.union(first, s.ids)
