"""Per-group pruning ratios for a Vitis ``removal_ratio`` (a MACs target) or ``threshold``.

With a sensitivity analysis, ratios are allocated greedily: while the subnet costs more than the
target, prune a little more of the group that loses the least score per unit of cost saved (scores
read off the measured curves). Without one, every group loses the same fraction (bisection on that
fraction). A latency budget does not come here: it goes through the planner (``hwprune.plan``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from hwprune.errors import BudgetError
from hwprune.vitis.sampling import GroupSlot, kept_count
from hwprune.vitis.sensitivity import Sensitivity

__all__ = ["uniform_keep", "sensitivity_keep", "threshold_keep"]

CostFn = Callable[[Mapping[str, int]], int]
STEP = 0.05


def _keep(slots: Sequence[GroupSlot], ratios: Mapping[str, float], divisible: int) -> dict[str, int]:
    return {s.key: kept_count(s.size, ratios.get(s.key, 0.0), divisible) for s in slots}


def _unreachable(
    cost_fn: CostFn, slots: Sequence[GroupSlot], target: int, max_ratio: float, divisible: int
) -> BudgetError:
    floor = cost_fn(_keep(slots, {s.key: max_ratio for s in slots}, divisible))
    return BudgetError(
        f"target cost {target} is out of reach: pruning every group by {max_ratio:.0%} "
        f"(channel_divisible={divisible}) still costs {floor}; ask for less reduction or exclude fewer modules"
    )


def uniform_keep(
    slots: Sequence[GroupSlot], cost_fn: CostFn, target: int, *, divisible: int = 2, max_ratio: float = 0.9
) -> dict[str, int]:
    """The smallest common ratio (bisection) whose subnet costs at most ``target``.

    Raises:
        BudgetError: even ``max_ratio`` everywhere costs more than ``target``.
    """
    if cost_fn(_keep(slots, {}, divisible)) <= target:
        return _keep(slots, {}, divisible)
    lo, hi = 0.0, max_ratio
    if cost_fn(_keep(slots, {s.key: hi for s in slots}, divisible)) > target:
        raise _unreachable(cost_fn, slots, target, max_ratio, divisible)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if cost_fn(_keep(slots, {s.key: mid for s in slots}, divisible)) <= target:
            hi = mid
        else:
            lo = mid
    # the common ratio moves every group's rounding at once, so `hi` can overshoot by a whole
    # rounding step of the network (asked 0.3, got 0.341 on ResNet-20); from the last ratio that
    # misses the target, step groups down one at a time, least-pruned first, until it is met
    keep = _keep(slots, {s.key: lo for s in slots}, divisible)
    cost = cost_fn(keep)
    floor = _keep(slots, {s.key: max_ratio for s in slots}, divisible)
    stuck: set[str] = set()
    while cost > target:
        open_ = [s for s in slots if s.key not in stuck and keep[s.key] > floor[s.key]]
        if not open_:
            return _keep(slots, {s.key: hi for s in slots}, divisible)
        trials = []
        for s in open_:
            trial = dict(keep, **{s.key: _step_down(s.size, keep[s.key], divisible)})
            trials.append((s, trial, cost_fn(trial)))
        landing = [t for t in trials if t[2] <= target]
        if landing:  # one step meets the target: take the one that lands closest to it
            _, keep, cost = max(landing, key=lambda t: t[2])
            break
        moving = [t for t in trials if t[2] < cost]
        stuck.update(t[0].key for t in trials if t[2] >= cost)  # channels that cost nothing here
        if not moving:
            continue
        _, keep, cost = min(moving, key=lambda t: (keep[t[0].key] / t[0].size, t[0].key))
    # give back steps the target leaves room for, most-pruned groups first
    for s in sorted(slots, key=lambda s: (keep[s.key] / s.size, s.key)):
        while keep[s.key] < s.size:
            up = min(s.size, (keep[s.key] // divisible + 1) * divisible)
            trial = dict(keep, **{s.key: up})
            c = cost_fn(trial)
            if c > target:
                break
            keep, cost = trial, c
    return keep


def _step_down(size: int, k: int, divisible: int) -> int:
    """The next smaller kept count allowed by ``channel_divisible`` (see ``kept_count``)."""
    if k % divisible:
        return (k // divisible) * divisible
    return k - divisible


def sensitivity_keep(
    slots: Sequence[GroupSlot],
    sens: Sensitivity,
    cost_fn: CostFn,
    target: int,
    *,
    divisible: int = 2,
    max_ratio: float = 0.9,
    step: float = STEP,
) -> dict[str, int]:
    """Greedy allocation weighted by measured sensitivity: least score lost per cost saved first.

    Raises:
        BudgetError: the target cannot be reached within ``max_ratio`` per group.
    """
    ratios = {s.key: 0.0 for s in slots}
    keep = _keep(slots, ratios, divisible)
    cost = cost_fn(keep)
    while cost > target:
        best = None
        for s in slots:
            r = ratios[s.key]
            nxt = r + step
            # step on until the kept count actually changes (channel_divisible can swallow a step)
            while (
                nxt <= max_ratio + 1e-9 and kept_count(s.size, min(nxt, max_ratio), divisible) == keep[s.key]
            ):
                nxt += step
            nxt = min(nxt, max_ratio)
            k = kept_count(s.size, nxt, divisible)
            if k == keep[s.key]:
                continue
            trial = dict(keep, **{s.key: k})
            c = cost_fn(trial)
            saved = cost - c
            if saved <= 0:
                continue
            lost = max(0.0, sens.drop(s.key, nxt) - sens.drop(s.key, r))
            rank = (lost / saved, -saved)
            if best is None or rank < best[0]:
                best = (rank, s.key, nxt, k, c)
        if best is None:
            raise _unreachable(cost_fn, slots, target, max_ratio, divisible)
        _, key, nxt, k, cost = best
        ratios[key] = nxt
        keep[key] = k
    return keep


def threshold_keep(
    slots: Sequence[GroupSlot],
    sens: Sensitivity,
    threshold: float,
    ratios: Sequence[float],
    *,
    divisible: int = 2,
) -> dict[str, int]:
    """Vitis ``threshold``: each group pruned by the largest analysed ratio whose relative score drop
    stays within ``threshold`` (e.g. 0.01 = 1% of the baseline score)."""
    return {
        s.key: kept_count(s.size, sens.max_ratio_within(s.key, threshold, ratios), divisible) for s in slots
    }
