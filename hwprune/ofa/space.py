"""The once-for-all search space: elastic width per channel group, as plain (picklable) data.

A subnet keeps, of every elastic group, one of a few channel counts (its *choices*), always the most
important channels first (the ranking is fixed when the supernet is built, as OFA's progressive
shrinking sorts channels). Choices come from the expand ratios, rounded to ``channel_divisible`` and
then moved up to the top of their latency step on the hardware: a choice never costs the latency of a
wider one, so the search never spends a step on channels that buy nothing.

Coupled channels (residual adds, concats, depthwise convs, flatten -> linear ...) are one group and
change together, so every subnet is a valid network. A subnet is dynamic in the supernet by masking
the removed channels where they are *consumed* (the input side of every conv/linear that reads them),
exactly as :func:`hwprune.transforms.mask.masked_model` defines what pruning must compute; the
:class:`MaskSite` tables say which weight entries each removed channel zeroes.

Settings travel as JSON: ``{"width": {group key: kept channels}, "kernel": {conv: kernel size},
"depth": {residual add: 0 skip | 1 keep}}`` (``kernel`` only with elastic kernels,
:mod:`hwprune.ofa.kernel`; ``depth`` only with elastic depth, :mod:`hwprune.ofa.depth`). A code is one
choice index per elastic group, then one per elastic kernel, then one 0/1 gene per skippable block.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hwprune.analysis.flow import SlotRole
from hwprune.analysis.groups import Analysis, ChannelGroup
from hwprune.emit.rules import get_attr
from hwprune.errors import PruneConfigError, SpecError
from hwprune.ir.graph import Graph, Op
from hwprune.ir.kinds import OpKind
from hwprune.ofa.depth import SkipBlock
from hwprune.ofa.kernel import ElasticKernel

Code = Sequence[int] | np.ndarray  # choice index per gene: [groups][kernels][blocks]

__all__ = [
    "MaskSite",
    "ElasticGroup",
    "SearchSpace",
    "check_expand_ratios",
    "width_choices",
    "mask_sites",
    "SETTING_KEYS",
    "depthwise_heavy",
    "kernel_groups",
]

SETTING_KEYS = ("width", "kernel", "depth")


@dataclass(frozen=True, slots=True, eq=False)
class MaskSite:
    """The weight entries of one parameter that a group's members feed, in member-rank order.

    Attributes:
        param: dotted path of the parameter in the model (``"layer1.0.conv1.weight"``).
        rows / cols: the mask's shape (the weight's first two dims; kernel dims broadcast).
        flat: flat indices into the ``rows x cols`` mask, the entries of the rank-0 member first.
        offsets: ``flat[offsets[r]:offsets[r + 1]]`` belong to the member ranked ``r``; keeping ``k``
            members zeroes ``flat[offsets[k]:]``.
    """

    param: str
    rows: int
    cols: int
    flat: np.ndarray = field(repr=False)
    offsets: np.ndarray = field(repr=False)


@dataclass(frozen=True, slots=True, eq=False)
class ElasticGroup:
    """A channel group whose width the supernet varies.

    Attributes:
        key: the group's key (as in ``hwprune.channel_groups``).
        gid: its id in the analysis.
        size: its full member count.
        choices: kept counts offered, ascending.
        order: member indices, most important first.
        sites: where its members are consumed.
    """

    key: str
    gid: int
    size: int
    choices: tuple[int, ...]
    order: tuple[int, ...] = field(repr=False)
    sites: tuple[MaskSite, ...] = field(repr=False)

    def kept_indices(self, k: int) -> list[int]:
        """The member indices a subnet keeping ``k`` of them keeps (sorted)."""
        return sorted(self.order[:k])


def check_expand_ratios(expand_ratio: object) -> tuple[float, ...]:
    """Validate Vitis ``expand_ratio``: a non-empty list of numbers in (0, 1].

    Raises:
        PruneConfigError: empty, not numbers, or a ratio outside (0, 1].
    """
    if isinstance(expand_ratio, (int, float)) and not isinstance(expand_ratio, bool):
        expand_ratio = [expand_ratio]
    if not isinstance(expand_ratio, Sequence) or isinstance(expand_ratio, str) or not expand_ratio:
        raise PruneConfigError(
            f"expand_ratio must be a non-empty list of ratios in (0, 1] such as [0.5, 0.75, 1], "
            f"got {expand_ratio!r}"
        )
    out = []
    for r in expand_ratio:
        if (
            isinstance(r, bool)
            or not isinstance(r, (int, float))
            or not (0.0 < float(r) <= 1.0)
            or math.isnan(r)
        ):
            raise PruneConfigError(
                f"expand_ratio {r!r} is outside (0, 1]: each ratio is the fraction of a "
                f"group's channels a subnet keeps (got {list(expand_ratio)!r})"
            )
        out.append(float(r))
    return tuple(sorted(set(out)))


def width_choices(
    size: int, ratios: Sequence[float], divisible: int, step_cost: Callable[[int], int]
) -> tuple[int, ...]:
    """Kept counts for one group: each ratio rounded to ``divisible``, moved up to its latency step's top.

    Args:
        size: the group's members.
        ratios: expand ratios in (0, 1].
        divisible: kept counts are rounded to a multiple of it first (Vitis ``channel_divisible``).
        step_cost: ``step_cost(k)``: cycles of the layers the group touches when keeping ``k`` members.

    Returns:
        Distinct counts, ascending: the widest ``k'`` with the latency of the rounded count.
    """
    out = set()
    for r in ratios:
        if size <= divisible:
            k = size if r >= 1.0 else max(1, min(size, math.ceil(r * size)))
        else:
            k = int(min(size, max(divisible, round(r * size / divisible) * divisible)))
        cost = step_cost(k)
        while k < size and step_cost(k + 1) <= cost:  # the top of the step: more channels, no more cycles
            k += 1
        out.add(k)
    return tuple(sorted(out))


def _param_path(graph: Graph, op_name: str) -> str:
    op = graph.op(op_name)
    return op.attr("weight_param") or f"{op.target}.weight"


def mask_sites(graph: Graph, group: ChannelGroup, order: Sequence[int]) -> tuple[MaskSite, ...]:
    """Where the members of ``group`` are consumed, as weight entries in rank order (see :class:`MaskSite`).

    Depthwise consumers are skipped: their output is the same channel, consumed (and masked) further on.
    """
    rank = np.asarray(order, dtype=np.int64)
    out = []
    for s in group.slots_of(SlotRole.IN):
        op = graph.op(s.op)
        if op.kind not in (OpKind.CONV, OpKind.LINEAR, OpKind.CONV_TRANSPOSE):
            continue
        path = _param_path(graph, s.op)
        assert graph.source is not None, "a traced graph keeps its fx source"
        w = get_attr(graph.source.gm, path)
        rows, cols = int(w.shape[0]), int(w.shape[1])
        pos = s.positions()[rank]  # (members by rank, reps)
        per_member = []
        if op.kind is OpKind.LINEAR:
            r = np.arange(rows)[None, :]
            per_member = [(r * cols + p[:, None]).reshape(-1) for p in pos]
        elif op.kind is OpKind.CONV_TRANSPOSE:
            g, cin = op.attr("groups"), op.attr("in_channels")
            if cin // g == 1 and g > 1:
                continue
            c = np.arange(cols)[None, :]
            per_member = [(p[:, None] * cols + c).reshape(-1) for p in pos]
        else:
            g, cin, cout = op.attr("groups"), op.attr("in_channels"), op.attr("out_channels")
            cpg, opg = cin // g, cout // g
            if cpg == 1 and g > 1:
                continue
            for p in pos:
                grp, col = p // cpg, p % cpg
                r = grp[:, None] * opg + np.arange(opg)[None, :]
                per_member.append((r * cols + col[:, None]).reshape(-1))
        sizes = np.array([0] + [len(m) for m in per_member], dtype=np.int64)
        out.append(MaskSite(path, rows, cols, np.concatenate(per_member).astype(np.int64), np.cumsum(sizes)))
    return tuple(out)


@dataclass(frozen=True, slots=True, eq=False)
class SearchSpace:
    """Every elastic group and its choices, plus what identifies the space (for checkpoints and files).

    Attributes:
        groups: the elastic groups, in graph order.
        identity: JSON-able description (structure hash, hardware, ratios, divisible, excludes);
            a checkpoint or search file made for another space is refused by comparing it.
    """

    groups: tuple[ElasticGroup, ...]
    identity: Mapping[str, object]
    blocks: tuple[SkipBlock, ...] = ()  # elastic depth: genes after the kernels' (0 skip, 1 keep)
    kernels: tuple[ElasticKernel, ...] = ()  # elastic kernel size: genes after the groups'

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(g.key for g in self.groups)

    def n_choices(self) -> np.ndarray:
        return np.array(
            [len(g.choices) for g in self.groups]
            + [len(k.choices) for k in self.kernels]
            + [2] * len(self.blocks),
            dtype=np.int64,
        )

    def kernel_sizes(self, code: Code) -> dict[str, int]:
        """Conv op name -> kernel size, for the elastic kernels a code crops (below their full size)."""
        n = len(self.groups)
        out = {}
        for i, k in enumerate(self.kernels):
            size = k.choices[int(code[n + i])]
            if size < k.size:
                out[k.op] = size
        return out

    def size(self) -> int:
        """Number of distinct subnets."""
        return int(np.prod([int(n) for n in self.n_choices()], dtype=object))

    def skipped(self, code: Code) -> tuple[SkipBlock, ...]:
        """The blocks a code skips."""
        n = len(self.groups) + len(self.kernels)
        return tuple(b for i, b in enumerate(self.blocks) if int(code[n + i]) == 0)

    # ----------------------------------------------------------------------------- settings <-> codes
    def max_code(self) -> np.ndarray:
        return self.n_choices() - 1

    def min_code(self) -> np.ndarray:
        return np.zeros(len(self.groups) + len(self.kernels) + len(self.blocks), dtype=np.int64)

    def random_codes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniformly random subnets as choice-index rows."""
        nc = self.n_choices()
        return rng.integers(0, nc[None, :], size=(n, len(nc)), dtype=np.int64)

    def kept(self, code: Code) -> dict[int, int]:
        """Group id -> kept members of a code."""
        return {g.gid: g.choices[int(c)] for g, c in zip(self.groups, code[: len(self.groups)], strict=True)}

    def setting(self, code: Code) -> dict[str, dict[str, int]]:
        """The JSON setting of a code."""
        n, nk = len(self.groups), len(self.kernels)
        out = {"width": {g.key: int(g.choices[int(c)]) for g, c in zip(self.groups, code[:n], strict=True)}}
        if self.kernels:
            out["kernel"] = {k.op: int(k.choices[int(code[n + i])]) for i, k in enumerate(self.kernels)}
        if self.blocks:
            out["depth"] = {b.add: int(code[n + nk + i]) for i, b in enumerate(self.blocks)}
        return out

    def code(self, setting: Mapping[str, object]) -> np.ndarray:
        """The code of a setting (groups it does not name keep their widest choice).

        Raises:
            SpecError: unknown keys, a group that is not elastic, or a width that is not a choice.
        """
        if not isinstance(setting, Mapping) or not set(setting) <= set(SETTING_KEYS):
            raise SpecError(
                "a subnet setting is a dict with keys 'width' (group key -> kept channels), 'kernel' (conv "
                f"-> kernel size) and 'depth' (residual add -> 0/1), got {setting!r:.200}"
            )
        width = setting.get("width", {})
        if not isinstance(width, Mapping):
            raise SpecError(
                f"subnet setting 'width' must map group keys to kept channels, got {width!r:.200}"
            )
        by_key = {g.key: i for i, g in enumerate(self.groups)}
        code = self.max_code()
        for key, k in width.items():
            i = by_key.get(key)
            if i is None:
                raise SpecError(
                    f"subnet setting names group {key!r}, which is not an elastic group of this "
                    f"supernet (elastic: {', '.join(self.keys[:8])}{' ...' if len(self.keys) > 8 else ''});"
                    " was it made for another model or supernet?"
                )
            g = self.groups[i]
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) not in g.choices:
                raise SpecError(
                    f"subnet setting keeps {k!r} channels of group {key!r}; its choices are {list(g.choices)}"
                )
            code[i] = g.choices.index(int(k))
        kernel = setting.get("kernel", {})
        if not isinstance(kernel, Mapping):
            raise SpecError(f"subnet setting 'kernel' must map convs to kernel sizes, got {kernel!r:.200}")
        by_op = {k.op: (len(self.groups) + i, k) for i, k in enumerate(self.kernels)}
        for op, size in kernel.items():
            if op not in by_op:
                raise SpecError(
                    f"subnet setting sets the kernel of {op!r}, which is not an elastic-kernel conv of this "
                    f"supernet (elastic: {', '.join(list(by_op)[:8])}{' ...' if len(by_op) > 8 else ''})"
                )
            i, k = by_op[op]
            if (
                isinstance(size, bool)
                or not isinstance(size, (int, np.integer))
                or int(size) not in k.choices
            ):
                raise SpecError(
                    f"subnet setting gives {op!r} kernel size {size!r}; its choices are {list(k.choices)}"
                )
            code[i] = k.choices.index(int(size))
        depth = setting.get("depth", {})
        by_add = {b.add: len(self.groups) + len(self.kernels) + i for i, b in enumerate(self.blocks)}
        if not isinstance(depth, Mapping):
            raise SpecError(
                f"subnet setting 'depth' must map residual adds to 0 (skip) or 1 (keep), got {depth!r:.200}"
            )
        for add, keep in depth.items():
            if add not in by_add:
                raise SpecError(
                    f"subnet setting skips block {add!r}, which is not an elastic block of this supernet"
                )
            if keep not in (0, 1) or isinstance(keep, bool):
                raise SpecError(f"subnet setting depth of {add!r} must be 0 (skip) or 1 (keep), got {keep!r}")
            code[by_add[add]] = int(keep)
        return code

    def code_key(self, code: Code) -> str:
        """A short stable string for a code (search-file record keys)."""
        return ".".join(str(int(c)) for c in code)


def build_groups(
    graph: Graph,
    analysis: Analysis,
    scores: Mapping[int, np.ndarray],
    ratios: Sequence[float],
    divisible: int,
    step_costs: Mapping[int, Callable[[int], int]],
) -> tuple[ElasticGroup, ...]:
    """The elastic groups: prunable, exact, more than one member, and a choice below the full size."""
    out = []
    for g in analysis.groups:
        if not g.prunable or not g.exact or g.size < 2 or g.id not in scores or g.id not in step_costs:
            continue
        choices = width_choices(g.size, ratios, divisible, step_costs[g.id])
        if choices == (g.size,):
            continue
        order = tuple(int(i) for i in np.argsort(-np.asarray(scores[g.id], dtype=np.float64), kind="stable"))
        out.append(ElasticGroup(g.key, g.id, g.size, choices, order, mask_sites(graph, g, order)))
    return tuple(out)


def _conv_kernel(op: Op) -> tuple[int, ...]:
    k = op.attr("kernel_size") or (1,)
    return tuple(k) if isinstance(k, (tuple, list)) else (int(k),)


def _is_depthwise(op: Op) -> bool:
    g = op.attr("groups", 1) or 1
    return g > 1 and g == op.attr("in_channels")


def depthwise_heavy(graph: Graph) -> bool:
    """Vitis AI's test for a mobile-style net: more depthwise than regular convs among the convs whose
    kernel is at least 3x3 (``pytorch_nndct``'s ``group_nodes_for_ofa_dynamic_conv``)."""
    dw = reg = 0
    for op in graph.ops_of(OpKind.CONV):
        if min(_conv_kernel(op)) >= 3:
            if _is_depthwise(op):
                dw += 1
            else:
                reg += 1
    return dw > reg


def kernel_groups(graph: Graph, analysis: Analysis) -> set[int]:
    """Ids of the channel groups a conv with a kernel larger than 1x1 produces (writes as output
    channels; a depthwise conv's channels are its input's too).

    Vitis AI's rule for depthwise-heavy nets (:func:`depthwise_heavy`): only these groups are
    compressed (a depthwise conv's channels through the conv that feeds it); channels produced by 1x1
    convs alone (MobileNetV2's projections and last conv) keep their width.
    """
    out = set()
    for g in analysis.groups:
        for s in g.slots:
            if s.role not in (SlotRole.OUT, SlotRole.IN):
                continue
            op = graph.op(s.op)
            if op.kind is not OpKind.CONV or max(_conv_kernel(op)) <= 1:
                continue
            if s.role is SlotRole.OUT or _is_depthwise(op):
                out.add(g.id)
                break
    return out
