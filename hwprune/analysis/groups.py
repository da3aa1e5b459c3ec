"""Channel groups: sets of (op, dim) channel slots that must be pruned with the same indices.

Built from the channel flow (:mod:`hwprune.analysis.flow`): elements joined by unions form components;
components that occupy the same slots side by side form a group, ordered by their position in the
group's first slot. A group is prunable unless one of its elements is pinned; the reason names the op.

Rules (each proven by the flow handlers, never guessed):

* residual add/mul: all operands' channels are one group; concat/split/slicing carry offsets;
* flatten -> linear: one channel is H*W consecutive features (``Slot.reps``);
* depthwise conv: output channel = input channel; a depth multiplier k ties k outputs to each input;
* grouped conv (1 < groups < C): position j of every conv group is one member, so a group is pruned in
  multiples of ``groups`` channels and stays a valid grouped conv (``granularity`` = groups);
* channel shuffle (view -> transpose -> view): followed element by element; the channels that the view
  puts side by side are tied, so shuffled layouts stay rectangular;
* LayerNorm over channels (ConvNeXt), a mean/norm over channels (GRN), a weight standardised over input
  channels: prunes with the group but marks it ``exact=False``;
* ConvTranspose1d/2d/3d: input channels are weight rows, output channels its columns (dense, grouped
  or depthwise, as convs);
* GroupNorm: a member is a whole group of channels (``granularity`` = channels per group);
* functional norms/convs/linears: their parameters (PARAM ops) are sliced with the group;
* layer scale / any parameter broadcast along channels: sliced with the group.

Pinned (not prunable, with the reason): model inputs and outputs, opaque ops (unknown functions, leaf
modules, with the reason), other reductions or softmax over channels, integer indexing of a
channel, reshapes that mix channels with other dims in a way that cannot be tracked, and excludes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hwprune.analysis.flow import WEIGHT_ROLES, Flow, SlotRec, SlotRole, run_flow
from hwprune.errors import ExcludeError
from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind

__all__ = [
    "Slot",
    "ChannelGroup",
    "GroupSpan",
    "OpChannels",
    "Analysis",
    "analyze",
    "channel_groups",
    "op_channel_groups",
    "check_excludes",
    "format_groups",
]


@dataclass(frozen=True, slots=True)
class Slot:
    """Where the members of a group sit in one op's tensor dim.

    Member ``i`` of the group occupies positions ``offset + i*stride + r*rep_stride`` for
    ``r in range(reps)`` along ``dim`` (``reps > 1``: flatten -> linear, where one channel is H*W features,
    or a grouped conv, where one member is the same position in every conv group).

    Attributes:
        op: op name.
        role: what the slot is (:class:`~hwprune.analysis.flow.SlotRole`).
        dim: the op's dim (weight dim for out/in, parameter dim for param; -1 for pin/mix).
    """

    op: str
    role: SlotRole
    dim: int
    offset: int
    length: int
    stride: int = 1
    reps: int = 1
    rep_stride: int = 0
    note: str = ""

    def positions(self) -> np.ndarray:
        """Positions along ``dim``, shape ``(length, reps)``."""
        i = np.arange(self.length)[:, None]
        r = np.arange(self.reps)[None, :]
        return self.offset + i * self.stride + r * self.rep_stride


@dataclass(frozen=True, slots=True)
class ChannelGroup:
    """Coupled channels, pruned together.

    Attributes:
        id: index in the list ``channel_groups`` returns.
        key: stable human-readable name (the producer op, with a range when it owns only part of it);
            plans and .sens files use it.
        size: number of members (prunable units).
        slots: every place the members occur (see :class:`Slot`).
        prunable: False when any element is pinned; ``reason`` says why.
        reason: why not prunable (names the blocking op), else "".
        exact: False when an op normalises over the channels (LayerNorm over C): the slim model then
            differs from the masked original until fine-tuned.
        granularity: channels of the widest op dim one member stands for (> 1 for grouped convs).
        blockers: names of the ops that pinned the group (empty when prunable).
    """

    id: int
    key: str
    size: int
    slots: tuple[Slot, ...]
    prunable: bool
    reason: str = ""
    exact: bool = True
    granularity: int = 1
    blockers: tuple[str, ...] = ()

    def slots_of(self, role: SlotRole | str) -> tuple[Slot, ...]:
        role = SlotRole(role)
        return tuple(s for s in self.slots if s.role is role)

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.op for s in self.slots if s.role in WEIGHT_ROLES))


@dataclass(frozen=True, slots=True)
class GroupSpan:
    """A group's share of one op's channel dim: positions as in :class:`Slot`."""

    group: int
    offset: int
    length: int
    stride: int = 1
    reps: int = 1
    rep_stride: int = 0


@dataclass(frozen=True, slots=True)
class OpChannels:
    """For a conv/linear: which groups drive its input and its output channels.

    Channels not covered by any span cannot be pruned (they come from the model input or an opaque op).
    ``in_after``/``out_after`` give the channel counts after keeping ``kept[g]`` members of each group.
    """

    op: str
    in_channels: int
    out_channels: int
    in_spans: tuple[GroupSpan, ...]
    out_spans: tuple[GroupSpan, ...]

    def in_after(self, kept: Mapping[int, int]) -> int:
        return self.in_channels - sum(
            (s.length - kept.get(s.group, s.length)) * s.reps for s in self.in_spans
        )

    def out_after(self, kept: Mapping[int, int]) -> int:
        return self.out_channels - sum(
            (s.length - kept.get(s.group, s.length)) * s.reps for s in self.out_spans
        )


@dataclass(frozen=True, slots=True, eq=False)
class Analysis:
    """Groups plus what transforms need: the flow and each group's member -> component map."""

    graph: Graph
    flow: Flow
    groups: tuple[ChannelGroup, ...]
    members: tuple[np.ndarray, ...] = field(repr=False)  # group id -> component id per member


def check_excludes(graph: Graph, excludes: Iterable[str]) -> tuple[str, ...]:
    """Validate module names; raise :class:`ExcludeError` for one that names no op or module."""
    import difflib

    names = [op.name for op in graph.ops]
    out = []
    for ex in excludes:
        if not isinstance(ex, str):
            raise ExcludeError(f"excludes must be module names (str), got {ex!r}")
        if not any(n == ex or n.startswith(ex + ".") or n.startswith(ex + "#") for n in names):
            close = difflib.get_close_matches(ex, names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ExcludeError(
                f"exclude {ex!r} names no module of the model{hint} "
                "(use qualified names as in model.named_modules())"
            )
        out.append(ex)
    return tuple(out)


def analyze(graph: Graph, excludes: Sequence[str] = ()) -> Analysis:
    """Run the channel flow and build groups (cached per graph object, on its source)."""
    ex = check_excludes(graph, excludes)
    cache = graph.source.cache if graph.source is not None else {}
    key = ("analysis", id(graph), ex)
    hit = cache.get(key)
    if isinstance(hit, Analysis) and hit.graph is graph:
        return hit
    flow = run_flow(graph)
    a = _build(graph, flow, ex)
    if len(cache) >= 8:
        cache.clear()
    cache[key] = a
    return a


def channel_groups(graph: Graph, *, excludes: Sequence[str] = ()) -> list[ChannelGroup]:
    """The channel groups of ``graph``.

    Args:
        graph: a traced graph.
        excludes: module names (or prefixes) whose channels must not be pruned.

    Returns:
        Groups in graph order of their first slot; ``group.id`` is the index.

    Raises:
        ExcludeError: an exclude names no module.
    """
    return list(analyze(graph, excludes).groups)


def op_channel_groups(graph: Graph, groups: Sequence[ChannelGroup]) -> dict[str, OpChannels]:
    """For every conv/linear op, the groups (with offsets) behind its input and output channels."""
    spans: dict[str, dict[str, list[GroupSpan]]] = {}
    for g in groups:
        for s in g.slots:
            if s.role in (SlotRole.IN, SlotRole.OUT):
                spans.setdefault(s.op, {SlotRole.IN: [], SlotRole.OUT: []})[s.role].append(
                    GroupSpan(g.id, s.offset, s.length, s.stride, s.reps, s.rep_stride)
                )
    out = {}
    for op in graph.ops_of(OpKind.CONV, OpKind.LINEAR):
        x = graph.tensor_shape(op.inputs[0])
        y = graph.tensor_shape(op.output)
        cin, cout = (x[1], y[1]) if op.kind is OpKind.CONV else (x[-1], y[-1])
        sp = spans.get(op.name, {SlotRole.IN: [], SlotRole.OUT: []})
        out[op.name] = OpChannels(
            op.name,
            cin,
            cout,
            tuple(sorted(sp[SlotRole.IN], key=lambda s: s.offset)),
            tuple(sorted(sp[SlotRole.OUT], key=lambda s: s.offset)),
        )
    return out


def _build(graph: Graph, flow: Flow, excludes: tuple[str, ...]) -> Analysis:
    order = {op.name: i for i, op in enumerate(graph.ops)}
    slots = list(flow.slots)
    for s in flow.slots:  # an excluded module pins every element it holds
        if s.role in WEIGHT_ROLES and any(
            s.op == e or s.op.startswith(e + ".") or s.op.startswith(e + "#") for e in excludes
        ):
            slots.append(type(s)(s.op, SlotRole.PIN, -1, s.ids, f"module {s.op!r} is excluded"))
    if not slots:
        return Analysis(graph, flow, (), ())
    sid = np.concatenate([np.full(len(s.ids), i, dtype=np.int64) for i, s in enumerate(slots)])
    pos = np.concatenate([np.arange(len(s.ids), dtype=np.int64) for s in slots])
    comp = flow.comp[np.concatenate([s.ids for s in slots])]
    idx = np.lexsort((pos, sid, comp))
    sid, pos, comp = sid[idx], pos[idx], comp[idx]
    cuts = np.flatnonzero(np.diff(comp)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(comp)]])
    by_sig: dict[bytes, list[int]] = {}
    for k in range(len(starts)):
        by_sig.setdefault(sid[starts[k] : ends[k]].tobytes(), []).append(k)
    raw = []
    for ks in by_sig.values():
        s0, e0 = starts[ks[0]], ends[ks[0]]
        sig = sid[s0:e0]
        pmat = np.stack([pos[starts[k] : ends[k]] for k in ks])  # members x occurrences
        comps = comp[starts[ks]]
        first = np.argsort(pmat[:, 0], kind="stable")
        raw.extend(_runs(sig, pmat[first], comps[first]))
    raw.sort(key=lambda r: (min(order[slots[i].op] for i in set(r[0].tolist())), int(r[1][0, 0])))
    groups: list[ChannelGroup] = []
    members: list[np.ndarray] = []
    keys: set[str] = set()
    for gid, (sig, pmat, comps) in enumerate(raw):
        gslots = _slots(sig, pmat, slots)
        pins = list(dict.fromkeys(s.note for s in gslots if s.role is SlotRole.PIN))
        mixes = list(dict.fromkeys(s.note for s in gslots if s.role is SlotRole.MIX))
        key = _key(gslots, graph, keys)
        gran = max((s.reps for s in gslots if s.role in (SlotRole.IN, SlotRole.OUT)), default=1)
        blockers = tuple(dict.fromkeys(s.op for s in gslots if s.role is SlotRole.PIN))
        groups.append(
            ChannelGroup(gid, key, len(comps), gslots, not pins, "; ".join(pins), not mixes, gran, blockers)
        )
        members.append(comps)
    return Analysis(graph, flow, tuple(groups), tuple(members))


def _runs(
    sig: np.ndarray, pmat: np.ndarray, comps: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Split members into maximal runs whose positions advance by a constant stride in every column."""
    n = len(pmat)
    if n <= 2:
        return [(sig, pmat, comps)]
    d = np.diff(pmat, axis=0)
    out, start = [], 0
    for i in range(1, n - 1):
        if i > start and np.any(d[i] != d[i - 1]):
            out.append((sig, pmat[start : i + 1], comps[start : i + 1]))
            start = i + 1
    out.append((sig, pmat[start:], comps[start:]))
    return out


def _slots(sig: np.ndarray, pmat: np.ndarray, slots: list[SlotRec]) -> tuple[Slot, ...]:
    out = []
    n = len(pmat)
    col = 0
    for s_index in dict.fromkeys(sig.tolist()):
        k = int(np.sum(sig == s_index))
        block = pmat[:, col : col + k]
        col += k
        rec = slots[s_index]
        stride = int(block[1, 0] - block[0, 0]) if n > 1 else 1
        if k == 1:
            out.append(Slot(rec.op, rec.role, rec.dim, int(block[0, 0]), n, stride, 1, 0, rec.note))
            continue
        rs = np.diff(block, axis=1)
        if np.all(rs == rs[0, 0]):
            out.append(
                Slot(rec.op, rec.role, rec.dim, int(block[0, 0]), n, stride, k, int(rs[0, 0]), rec.note)
            )
        else:
            for r in range(k):
                st = int(block[1, r] - block[0, r]) if n > 1 else 1
                out.append(Slot(rec.op, rec.role, rec.dim, int(block[0, r]), n, st, 1, 0, rec.note))
    return tuple(out)


def _key(slots: tuple[Slot, ...], graph: Graph, taken: set[str]) -> str:
    prod = (
        [s for s in slots if s.role is SlotRole.OUT]
        or [s for s in slots if s.role in (SlotRole.PARAM, SlotRole.IN)]
        or list(slots)
    )
    s = prod[0]
    key = s.op
    if s.role in WEIGHT_ROLES and graph.has_op(s.op):
        full = _dim_size(graph, s)
        if not (s.offset == 0 and s.length * s.reps == full):
            key = f"{s.op}[{s.offset}:{s.offset + s.length * s.stride}" + (
                f":{s.stride}]" if s.stride != 1 else "]"
            )
        if s.role is SlotRole.IN:
            key = f"{key}.in"
    base, k = key, 1
    while key in taken:
        key = f"{base}#{k}"
        k += 1
    taken.add(key)
    return key


def _dim_size(graph: Graph, s: Slot) -> int | None:
    op = graph.op(s.op)
    if s.role is SlotRole.OUT:
        shape = graph.tensor_shape(op.output)
        return shape[1] if op.kind is OpKind.CONV else shape[-1]
    if s.role is SlotRole.IN:
        shape = graph.tensor_shape(op.inputs[0])
        return shape[1] if op.kind is OpKind.CONV else shape[-1]
    return None


def format_groups(groups: Sequence[ChannelGroup]) -> str:
    """A plain-text table of groups: key, size, prunable, and why not (or which ops share the channels)."""
    lines = [f"{'id':>4}  {'key':40s} {'size':>5}  {'prunable':8s}  notes"]
    for g in groups:
        if g.prunable:
            note = (
                ("inexact: " if not g.exact else "")
                + ", ".join(g.ops[:6])
                + (" ..." if len(g.ops) > 6 else "")
            )
        else:
            note = g.reason
        lines.append(f"{g.id:>4}  {g.key:40s} {g.size:>5}  {'yes' if g.prunable else 'no':8s}  {note}")
    return "\n".join(lines)
