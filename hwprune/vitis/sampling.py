"""EagleEye-style sampling of subnets: random per-group pruning ratios that sit on a budget.

EagleEye (Li et al., ECCV 2020) draws layer-wise pruning ratios at random and keeps the draws that
meet a FLOPs constraint. Drawing blindly wastes most draws when the constraint is tight, so here each
candidate draws a random *direction* (a weight per group) and a bisection on one scale factor finds
the least pruning along that direction that meets the budget. The candidates are diverse, all
feasible and all close to the budget (none wastes latency it was allowed to spend). The budget is
a cost: simulated cycles for a latency budget, MACs for a Vitis ``removal_ratio``.

Candidate ``i`` depends only on ``(seed, i)``: a rerun regenerates the same list, and a larger
``num_subnet`` extends it without changing the first candidates (resumable searches rely on this).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hwprune.errors import BudgetError, PruneConfigError

__all__ = ["GroupSlot", "Candidate", "kept_count", "ratios_to_keep", "sample_candidates", "relative_target"]

CostFn = Callable[[Mapping[str, int]], int]  # kept channels per group key -> cost


@dataclass(frozen=True, slots=True)
class GroupSlot:
    """A prunable group as the sampler sees it: its key and channel count."""

    key: str
    size: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """One sampled subnet.

    Attributes:
        index: position in the deterministic candidate sequence.
        keep: ``(group key, kept channels)`` for every prunable group.
        ratios: ``(group key, pruning ratio)`` drawn for every group.
        cost: the subnet's cost (cycles or MACs).
    """

    index: int
    keep: tuple[tuple[str, int], ...]
    ratios: tuple[tuple[str, float], ...]
    cost: int

    def keep_map(self) -> dict[str, int]:
        return dict(self.keep)


def kept_count(size: int, ratio: float, divisible: int = 1) -> int:
    """Channels kept when ``ratio`` of ``size`` is pruned, a multiple of ``divisible``, at least one.

    Args:
        size: the group's channels.
        ratio: fraction to remove, in [0, 1).
        divisible: the kept count is rounded to a multiple of it (Vitis ``channel_divisible``);
            a group smaller than ``divisible`` is never pruned.

    Returns:
        The kept count in ``[min(divisible, size), size]``.
    """
    if not 0 <= ratio < 1:
        raise PruneConfigError(f"pruning ratio {ratio} must be in [0, 1)")
    if divisible < 1:
        raise PruneConfigError(f"channel_divisible={divisible} must be a positive integer")
    if size <= divisible:
        return size
    raw = size * (1.0 - ratio)
    k = int(round(raw / divisible)) * divisible
    return int(min(size, max(divisible, k)))


def ratios_to_keep(
    slots: Sequence[GroupSlot], ratios: Sequence[float] | np.ndarray, divisible: int
) -> dict[str, int]:
    """Kept channels per group key for per-group ratios."""
    return {s.key: kept_count(s.size, float(r), divisible) for s, r in zip(slots, ratios, strict=True)}


def _along(direction: np.ndarray, scale: float, max_ratio: float) -> np.ndarray:
    return np.minimum(direction * scale, max_ratio)


def sample_candidates(
    slots: Sequence[GroupSlot],
    cost_fn: CostFn,
    target: int,
    num: int,
    *,
    seed: int = 0,
    max_ratio: float = 0.9,
    divisible: int = 2,
    start: int = 0,
    steps: int = 20,
) -> list[Candidate]:
    """Candidates ``start .. start+num-1`` of the deterministic sequence for ``seed``.

    Args:
        slots: the prunable groups.
        cost_fn: the cost of a subnet given kept channels per group key; non-increasing as channels
            are removed (latency on the modelled hardware, or MACs).
        target: the largest allowed cost.
        num: how many candidates to return.
        seed: seed of the sequence.
        max_ratio: the most any one group may lose.
        divisible: kept channels are multiples of it.
        start: index of the first candidate.
        steps: bisection steps on the scale.

    Returns:
        ``num`` candidates, each with ``cost <= target``. Duplicate draws are kept (each has its own
        index) since they are rare for real models and removing them would shift the sequence.

    Raises:
        BudgetError: even the most pruned subnet (every group at ``max_ratio``) costs more than
            ``target``; the message states that minimum.
        PruneConfigError: no group can be pruned.
    """
    if not slots:
        raise PruneConfigError("no prunable channel group: check excludes, or the model has nothing to prune")
    if not 0 < max_ratio < 1:
        raise PruneConfigError(f"max_ratio={max_ratio} must be in (0, 1)")
    floor_keep = ratios_to_keep(slots, [max_ratio] * len(slots), divisible)
    floor_cost = int(cost_fn(floor_keep))
    if floor_cost > target:
        raise BudgetError(
            f"the budget of {target} cannot be met: pruning every group by {max_ratio:.0%} (with "
            f"channel_divisible={divisible}) still costs {floor_cost}; raise the budget or max_ratio"
        )
    out: list[Candidate] = []
    for index in range(start, start + num):
        rng = np.random.default_rng([seed, index])
        direction = rng.uniform(0.05, 1.0, size=len(slots))
        direction /= direction.max()
        lo, hi = 0.0, max_ratio / direction.min()  # at hi every group is at max_ratio
        if int(cost_fn(ratios_to_keep(slots, _along(direction, 0.0, max_ratio), divisible))) <= target:
            hi = 0.0  # the unpruned model already fits
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            if int(cost_fn(ratios_to_keep(slots, _along(direction, mid, max_ratio), divisible))) <= target:
                hi = mid
            else:
                lo = mid
        ratios = _along(direction, hi, max_ratio)
        keep = ratios_to_keep(slots, ratios, divisible)
        cost = int(cost_fn(keep))
        if cost > target:  # a non-monotone staircase: fall back to the floor, which fits
            keep, cost = floor_keep, floor_cost
        out.append(
            Candidate(
                index=index,
                keep=tuple((s.key, keep[s.key]) for s in slots),
                ratios=tuple((s.key, round(float(r), 4)) for s, r in zip(slots, ratios, strict=True)),
                cost=cost,
            )
        )
    return out


def relative_target(full_cost: int, removal_ratio: float) -> int:
    """The cost target for removing ``removal_ratio`` of ``full_cost`` (Vitis ``removal_ratio``)."""
    if not 0 < removal_ratio < 1:
        raise PruneConfigError(f"removal_ratio={removal_ratio} must be in (0, 1)")
    return int(math.floor(full_cost * (1.0 - removal_ratio)))
