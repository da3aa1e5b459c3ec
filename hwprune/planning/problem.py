"""The planning problem as plain data: choose a kept count per group and an N:M pattern per layer.

Latency is a sum over layers of ``cost(cin, cout, pattern)``; a layer's channel counts are sums of the
kept counts of the groups that feed it plus a fixed part. Loss is separable: per group and candidate,
per layer and pattern. The solvers (``greedy``, ``exact``) only see this module's types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["GroupVar", "LayerVar", "Problem", "Solution", "Evaluator", "INFEASIBLE"]

CostFn = Callable[[int, int, int], int]  # (cin, cout, pattern index) -> cycles
INFEASIBLE = 10**15  # the cost of a pattern a layer cannot take at some channel count


@dataclass(frozen=True, slots=True)
class GroupVar:
    """A prunable channel group.

    Attributes:
        key: the group's stable name.
        gid: the group's id in ``channel_groups``.
        candidates: kept counts, ascending; the last is the full size.
        loss: estimated accuracy loss per candidate (0 for the full size), non-increasing.
    """

    key: str
    gid: int
    candidates: tuple[int, ...]
    loss: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.candidates) != len(self.loss) or not self.candidates:
            raise ValueError(f"group {self.key}: candidates and loss must be non-empty and of equal length")


@dataclass(frozen=True, slots=True)
class LayerVar:
    """One accelerator layer whose cost depends on group choices and its own N:M pattern.

    Attributes:
        name: the layer (module) name.
        in_terms / out_terms: ``(index into Problem.groups, channels per member)`` pairs whose kept
            counts sum into cin / cout (a member is H*W features after flatten -> linear).
        in_fixed / out_fixed: channels that no prunable group controls.
        patterns: pattern labels, index 0 dense ("dense", "2:4", ...).
        nm_loss: loss per pattern (0 for dense).
        cost: cycles for (cin, cout, pattern index).
    """

    name: str
    in_terms: tuple[tuple[int, int], ...]
    in_fixed: int
    out_terms: tuple[tuple[int, int], ...]
    out_fixed: int
    patterns: tuple[str, ...]
    nm_loss: tuple[float, ...]
    cost: CostFn = field(repr=False, compare=False)

    @property
    def vars(self) -> tuple[int, ...]:
        """Distinct group indices this layer depends on."""
        return tuple(sorted({v for v, _ in self.in_terms} | {v for v, _ in self.out_terms}))


@dataclass(frozen=True, slots=True)
class Problem:
    """Groups, layers, the cycles no choice affects, and the budget in cycles."""

    groups: tuple[GroupVar, ...]
    layers: tuple[LayerVar, ...]
    const_cycles: int
    budget: int


@dataclass(frozen=True, slots=True)
class Solution:
    """A choice: candidate index per group, pattern index per layer, with its cycles and loss."""

    group_choice: tuple[int, ...]
    pattern_choice: tuple[int, ...]
    cycles: int
    loss: float
    solver: str

    def kept(self, problem: Problem) -> dict[int, int]:
        """Group id -> kept channel count."""
        return {g.gid: g.candidates[i] for g, i in zip(problem.groups, self.group_choice, strict=True)}


class Evaluator:
    """Memoised cost evaluation of choices (the solvers' inner loop)."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self._memo: list[dict[tuple[int, int, int], int]] = [{} for _ in problem.layers]
        self.layers_of: list[list[int]] = [[] for _ in problem.groups]
        self.vars_of: list[tuple[int, ...]] = [layer.vars for layer in problem.layers]
        # per group: (layer, channels per kept member on the input side, on the output side), so a move
        # shifts a layer's channels by these times the change of the kept count
        self.shifts: list[list[tuple[int, int, int]]] = [[] for _ in problem.groups]
        for li, layer in enumerate(problem.layers):
            for v in self.vars_of[li]:
                self.layers_of[v].append(li)
                self.shifts[v].append(
                    (
                        li,
                        sum(m for u, m in layer.in_terms if u == v),
                        sum(m for u, m in layer.out_terms if u == v),
                    )
                )

    def channels(self, li: int, gc: Sequence[int]) -> tuple[int, int]:
        layer, groups = self.p.layers[li], self.p.groups
        cin = layer.in_fixed + sum(m * groups[v].candidates[gc[v]] for v, m in layer.in_terms)
        cout = layer.out_fixed + sum(m * groups[v].candidates[gc[v]] for v, m in layer.out_terms)
        return cin, cout

    def layer_cost(self, li: int, gc: Sequence[int], pat: int) -> int:
        return self.cost_at(li, *self.channels(li, gc), pat)

    def cost_at(self, li: int, cin: int, cout: int, pat: int) -> int:
        """Cycles of layer ``li`` at these channel counts and pattern index."""
        key = (cin, cout, pat)
        memo = self._memo[li]
        c = memo.get(key)
        if c is None:
            c = memo[key] = int(self.p.layers[li].cost(cin, cout, pat))
        return c

    def cycles(self, gc: Sequence[int], pc: Sequence[int]) -> int:
        return self.p.const_cycles + sum(self.layer_cost(li, gc, pc[li]) for li in range(len(self.p.layers)))

    def loss(self, gc: Sequence[int], pc: Sequence[int]) -> float:
        return sum(g.loss[i] for g, i in zip(self.p.groups, gc, strict=True)) + sum(
            layer.nm_loss[i] for layer, i in zip(self.p.layers, pc, strict=True)
        )

    def solution(self, gc: Sequence[int], pc: Sequence[int], solver: str) -> Solution:
        return Solution(tuple(gc), tuple(pc), self.cycles(gc, pc), self.loss(gc, pc), solver)
