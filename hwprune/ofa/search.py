"""Evolutionary search of a supernet under a simulated-latency (or MACs) range.

The range ``[lo, hi]`` is cut into buckets with upper edges (targets) ``lo + step, lo + 2 step, ..., hi``. A population of subnets whose
cost lies in the range is evolved by mutation and crossover, one population per target (see
:func:`evolve`), so the whole front improves, not only its best end. Costs come
from the latency tables (:class:`hwprune.ofa.costs.CostTable`): thousands of candidates are priced
in milliseconds and only feasible ones are evaluated. Each evaluation activates the subnet in a copy
of the supernet, re-estimates its batch norms (``calibration_fn``, adaptive BN) and scores it
(``eval_fn``) on a runtime backend (serial, process pool or Ray).

Every score is appended to the search file as it arrives. Generation ``i`` draws from
``default_rng([seed, i])`` and reads scores from the file, so a rerun replays the same generations,
evaluates only what the file lacks, and ends where an uninterrupted run ends. The file records the
supernet (structure, space, weights) and the search settings; another supernet's file is refused.

The Pareto set holds, per target, the best evaluated subnet whose cost lies in ``[lo, target]`` (on equal
scores the costlier one: see :func:`rank_key`); with a latency range each pick is re-simulated in cycle mode and must lie in ``[lo, target]`` there too.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from torch import nn

from hwprune.analysis.hashing import weights_hash
from hwprune.errors import BudgetError, PruneConfigError
from hwprune.ofa.costs import CostTable
from hwprune.ofa.space import SearchSpace
from hwprune.ofa.supernet import OFASupernet
from hwprune.planning.budget import Budget, parse_budget
from hwprune.planning.reuse import config_hash
from hwprune.runtime.parallel import Backend, shares_memory
from hwprune.runtime.store import ResultStore
from hwprune.runtime.userfn import call_eval, identity
from hwprune.train.calibrate import adaptive_bn

WRITE_EVERY = 1.0  # seconds between rewrites of the search file while results arrive

__all__ = ["Range", "latency_range", "flops_range", "SearchPayload", "evaluate_code", "evolve", "pareto_set"]


@dataclass(frozen=True, slots=True)
class Range:
    """Targets of a search: costs in the table's unit (cycles or MACs) and their keys.

    Attributes:
        kind: "latency" (cycles) or "flops" (MACs).
        lo / hi: the range.
        targets: ascending targets, the last equal to ``hi``.
        keys: the Pareto-set key of each target, in the user's unit ("0.5", "2.5ms", "230").
    """

    kind: str
    lo: int
    hi: int
    targets: tuple[int, ...]
    keys: tuple[str, ...]


def _key(b: Budget) -> str:
    return {"fraction": f"{b.value:g}", "ms": f"{b.value:g}ms"}.get(b.kind, str(int(b.value)))


def _targets(lo: float, hi: float, step: float) -> list[float]:
    """Bucket edges ``lo + step, lo + 2 step, ..., hi`` (``hi`` alone when the range is narrower than a step)."""
    n = int(math.floor((hi - lo) / step + 1e-9))
    out = [lo + i * step for i in range(1, n + 1)]
    if not out or out[-1] < hi - 1e-9 * max(1.0, abs(hi)):
        out.append(hi)
    return out


def latency_range(
    min_latency: Any,
    max_latency: Any,
    latency_step: Any,
    *,
    unpruned: int,
    clock_mhz: float,
    reachable: tuple[int, int],
) -> Range:
    """Targets of a latency range given as fractions of the unpruned latency, "ms" strings or cycles.

    The targets are ``min + step, ..., max``; ``min`` is the floor of the first bucket and may lie
    below the smallest subnet, but every target must be reachable.

    Raises:
        BudgetError: malformed values, mixed units, ``min > max``, or a target outside ``reachable``
            (the message states the reachable range).
    """
    lo_b, hi_b, st_b = parse_budget(min_latency), parse_budget(max_latency), parse_budget(latency_step)
    if not lo_b.kind == hi_b.kind == st_b.kind:
        raise BudgetError(
            f"min_latency, max_latency and latency_step must use one unit, got {lo_b}, {hi_b}, {st_b}"
        )
    if lo_b.value > hi_b.value:
        raise BudgetError(f"min_latency {lo_b} is above max_latency {hi_b}")
    vals = _targets(lo_b.value, hi_b.value, st_b.value)
    budgets = [Budget(lo_b.kind, round(v, 9) if lo_b.kind != "cycles" else float(int(v))) for v in vals]
    cycles = [b.cycles(unpruned, clock_mhz) for b in budgets]
    lo, hi = lo_b.cycles(unpruned, clock_mhz), hi_b.cycles(unpruned, clock_mhz)
    r_lo, r_hi = reachable
    if cycles[0] < r_lo or hi > r_hi:  # every target must be reachable; lo itself is only a floor

        def say(c: int) -> str:
            return f"{c} cycles = {c / (clock_mhz * 1e3):.4g} ms = {c / unpruned:.3g} of unpruned"

        raise BudgetError(
            f"latency targets {cycles[0]}..{hi} cycles of the range [{lo_b}, {hi_b}] lie outside what this supernet's "
            f"subnets reach: [{say(r_lo)}, {say(r_hi)}] (smallest and largest subnet); choose a range "
            "inside it, or change expand_ratio / excludes"
        )
    return Range("latency", lo, hi, tuple(cycles), tuple(_key(b) for b in budgets))


def flops_range(
    min_flops: float, max_flops: float, flops_step: float, *, reachable: tuple[int, int]
) -> Range:
    """Targets of a Vitis FLOPs range, in millions of multiply-accumulates (Vitis counts MACs as FLOPs).

    Raises:
        BudgetError: non-positive values, ``min > max``, or a range outside ``reachable`` (stated).
    """
    for name, v in (("min_flops", min_flops), ("max_flops", max_flops), ("flops_step", flops_step)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v):
            raise BudgetError(f"{name} must be a positive number of MMACs (Vitis FLOPs), got {v!r}")
    if min_flops > max_flops:
        raise BudgetError(f"min_flops {min_flops} is above max_flops {max_flops}")
    vals = _targets(float(min_flops), float(max_flops), float(flops_step))
    macs = [int(v * 1e6) for v in vals]
    lo = int(min_flops * 1e6)
    r_lo, r_hi = reachable
    if macs[0] < r_lo or macs[-1] > r_hi:
        raise BudgetError(
            f"FLOPs range [{min_flops}, {max_flops}] MMACs is outside what this supernet's subnets "
            f"reach: [{r_lo / 1e6:.4g}, {r_hi / 1e6:.4g}] MMACs (smallest and largest subnet)"
        )
    return Range("flops", lo, macs[-1], tuple(macs), tuple(f"{v:g}" for v in vals))


# ----------------------------------------------------------------------------- evaluation
@dataclass(frozen=True, slots=True)
class SearchPayload:
    """What every evaluation shares: the supernet (or what rebuilds it) and the user's functions."""

    supernet: OFASupernet | None  # an evaluation copy, where it reaches workers without pickling
    model: nn.Module | None  # otherwise: the original model, the space and the supernet's state
    space: SearchSpace | None
    state: Mapping[str, Any] | None
    eval_fn: Callable[..., Any]
    eval_args: tuple[Any, ...]
    calibration_fn: Callable[..., Any] | None
    calib_args: tuple[Any, ...]


_REBUILT: dict[int, OFASupernet] = {}


def _supernet(payload: SearchPayload) -> OFASupernet:
    if payload.supernet is not None:
        return payload.supernet
    key = id(payload)
    if key not in _REBUILT:  # a worker that got a pickled payload rebuilds the supernet once
        assert payload.model is not None and payload.space is not None and payload.state is not None
        sup = OFASupernet(payload.model, payload.space)
        sup.load_state_dict(payload.state)
        _REBUILT.clear()
        _REBUILT[key] = sup
    return _REBUILT[key]


def evaluate_code(payload: SearchPayload, code: tuple[int, ...]) -> float:
    """Activate subnet ``code``, calibrate its batch norms (if asked) and return the eval score."""
    sup = _supernet(payload)
    sup.set_code(np.asarray(code, dtype=np.int64))
    where = f"subnet {'.'.join(map(str, code))}"
    if payload.calibration_fn is not None:
        adaptive_bn(sup, payload.calibration_fn, payload.calib_args, where=where)
    else:
        sup.eval()
    return call_eval(payload.eval_fn, sup, payload.eval_args, where=where)


def make_payload(
    supernet: OFASupernet,
    model: nn.Module,
    backend: Backend,
    eval_fn: Callable[..., Any],
    eval_args: Sequence[Any],
    calibration_fn: Callable[..., Any] | None,
    calib_args: Sequence[Any],
) -> SearchPayload:
    """A payload for ``backend``: the supernet itself travels only where memory is shared."""
    work = copy.deepcopy(supernet)  # calibration changes BN statistics: never the caller's supernet
    if shares_memory(backend):
        return SearchPayload(
            work, None, None, None, eval_fn, tuple(eval_args), calibration_fn, tuple(calib_args)
        )
    return SearchPayload(
        None,
        model,
        supernet.space,
        work.state_dict(),
        eval_fn,
        tuple(eval_args),
        calibration_fn,
        tuple(calib_args),
    )


def search_config(
    supernet: OFASupernet,
    rng_: Range,
    *,
    metric: str,
    direction: str,
    sizes: Mapping[str, Any],
    seed: int,
    eval_fn: Callable[..., Any],
    calibration_fn: Callable[..., Any] | None,
    eval_args: Sequence[Any],
    calib_args: Sequence[Any],
) -> dict[str, Any]:
    """What a search file must match to be reused: supernet, weights, range, settings, functions."""
    from hwprune.ofa.supernet import weights_state

    class _Raw(nn.Module):
        def state_dict(self, *a: Any, **k: Any) -> Any:  # weights_hash reads state_dict()
            return weights_state(supernet)

    return {
        "supernet": config_hash(dict(supernet.space.identity)),
        "weights": weights_hash(_Raw()),
        "range": {"kind": rng_.kind, "targets": list(rng_.targets)},
        "metric": metric,
        "direction": direction,
        "sizes": dict(sizes),
        "seed": seed,
        "eval_fn": identity(eval_fn),
        "calibration_fn": identity(calibration_fn),
        "eval_args": config_hash([repr(type(a)) for a in eval_args]),
        "calib_args": config_hash([repr(type(a)) for a in calib_args]),
    }


# ----------------------------------------------------------------------------- evolution
def rank_key(sign: float, r: Mapping[str, Any]) -> tuple[float, int, int, str]:
    """Order of evaluated subnets inside a target: best score first; on equal scores the *higher* cost.

    A target's latency is the user's to spend: two subnets that the proxy scores the same are equally
    good as far as the search can tell, and the wider one keeps more of the trained network (more
    capacity to recover in fine-tuning) at no cost the target forbids. Preferring the cheaper one made
    every target of a coarse proxy collapse onto the same narrow subnet (a proxy of a few hundred
    images ties many subnets). Then the earlier generation, then the code, so the order is total.
    """
    return (-sign * float(r["value"]), -int(r["cost"]), int(r["gen"]), ".".join(map(str, r["code"])))


class _Pool:
    """Evaluated subnets: code key -> (code, cost, macs, cycles, value), scored through the store."""

    def __init__(
        self,
        space: SearchSpace,
        table: CostTable,
        store: ResultStore,
        rng_: Range,
        sign: float,
        evaluate: Callable[[list[np.ndarray]], Iterator[tuple[int, float]]],
    ) -> None:
        self.space, self.table, self.store, self.rng, self.sign = space, table, store, rng_, sign
        self.evaluate = evaluate
        self.seen: dict[str, dict[str, Any]] = {}
        self.evaluated = 0  # evaluations run by this process (not read back from the file)

    def costs(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cycles, macs = self.table.price(codes)
        return (cycles if self.rng.kind == "latency" else macs), cycles, macs

    def feasible(
        self, codes: np.ndarray, lo: int | None = None, hi: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The codes whose cost lies in ``[lo, hi]`` (default: the range), with their costs."""
        cost, _, _ = self.costs(codes)
        lo = self.rng.lo if lo is None else lo
        hi = self.rng.hi if hi is None else hi
        ok = (cost >= lo) & (cost <= hi)
        return codes[ok], cost[ok]

    def add(self, codes: Sequence[np.ndarray], gen: int) -> None:
        new: list[np.ndarray] = []
        for code in codes:
            key = self.space.code_key(code)
            if key in self.seen or any(key == self.space.code_key(c) for c in new):
                continue
            new.append(np.asarray(code, dtype=np.int64))
        if not new:
            return
        arr = np.stack(new)
        cost, cycles, macs = self.costs(arr)
        todo = [i for i, c in enumerate(new) if self.space.code_key(c) not in self.store]
        last = time.monotonic()
        try:
            for j, value in self.evaluate([new[i] for i in todo]):  # stored as each arrives
                i = todo[j]
                now = time.monotonic()
                # the file is rewritten at most every WRITE_EVERY seconds: a kill loses less than that
                self.store.add(
                    self.space.code_key(new[i]),
                    {"value": value, "cycles": int(cycles[i]), "macs": int(macs[i]), "gen": gen},
                    write=now - last >= WRITE_EVERY,
                )
                last = now if now - last >= WRITE_EVERY else last
                self.evaluated += 1
        finally:  # an error or Ctrl-C keeps every finished evaluation
            if todo:
                self.store.save()
        for i, c in enumerate(new):
            rec = self.store.get(self.space.code_key(c))
            self.seen[self.space.code_key(c)] = {
                "code": c,
                "cost": int(cost[i]),
                "cycles": int(cycles[i]),
                "macs": int(macs[i]),
                "value": float(rec["value"]),
                "gen": int(rec.get("gen", gen)),
            }

    def parents(self, target: int, size: int) -> list[np.ndarray]:
        """The ``size`` best evaluated subnets whose cost lies in ``[lo, target]``."""
        cell = [r for r in self.seen.values() if self.rng.lo <= r["cost"] <= target]
        cell.sort(key=lambda r: rank_key(self.sign, r))
        return [r["code"] for r in cell[:size]]


def _random_codes(space: SearchSpace, rng: np.random.Generator, m: int) -> np.ndarray:
    """``64 m`` random codes: plenty to find ``m`` inside a latency slice."""
    return space.random_codes(rng, 64 * m)


def _mutate(rng: np.random.Generator, parents: np.ndarray, n: np.ndarray, prob: float, m: int) -> np.ndarray:
    """``m`` children: random parents with each gene changed with probability ``prob`` (at least one)."""
    p = parents[rng.integers(0, len(parents), m)]
    flip = rng.random(p.shape) < prob
    flip[np.arange(m), rng.integers(0, p.shape[1], m)] = True
    shift = 1 + (rng.random(p.shape) * np.maximum(n - 1, 1)[None, :]).astype(np.int64)
    return np.where(flip & (n[None, :] > 1), (p + shift) % n[None, :], p)


def _cross(rng: np.random.Generator, parents: np.ndarray, m: int) -> np.ndarray:
    """``m`` children: uniform crossover of two random parents."""
    a = parents[rng.integers(0, len(parents), m)]
    b = parents[rng.integers(0, len(parents), m)]
    return np.where(rng.random(a.shape) < 0.5, a, b)


def _draw_feasible(
    pool: _Pool, make: Callable[[int], np.ndarray], n: int, lo: int, hi: int, taken: set[str], tries: int = 50
) -> list[np.ndarray]:
    """Up to ``n`` new codes from ``make`` whose cost lies in ``[lo, hi]`` (not evaluated, not in ``taken``)."""
    out: list[np.ndarray] = []
    for _ in range(tries):
        if len(out) >= n:
            break
        cand, _ = pool.feasible(make(4 * n), lo, hi)
        for c in cand:
            k = pool.space.code_key(c)
            if k not in taken and k not in pool.seen:
                taken.add(k)
                out.append(c)
            if len(out) >= n:
                break
    return out


def _slices(rng_: Range) -> list[tuple[int, int, int]]:
    """(target, slice low, slice high) per target: children of target t cost in (previous target, t]."""
    out, lo = [], rng_.lo
    for t in rng_.targets:
        out.append((t, lo, t))
        lo = t + 1
    return out


def evolve(
    space: SearchSpace,
    table: CostTable,
    store: ResultStore,
    rng_: Range,
    *,
    direction: str,
    evaluate: Callable[[list[np.ndarray]], Iterator[tuple[int, float]]],
    parent_popu_size: int,
    iteration: int,
    mutate_size: int,
    mutate_prob: float,
    crossover_size: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> _Pool:
    """Run the evolution (see the module docstring); returns every evaluated subnet.

    Every target has its own population (as Vitis runs one search per FLOPs target), sharing one pool
    of evaluated subnets: the parents of target ``t`` are the best subnets costing at most ``t``, its
    children cost between the previous target and ``t`` (where its optimum is when wider is better;
    where it is not, a lower target's search finds it and it counts for ``t`` too).
    """
    sign = 1.0 if direction == "max" else -1.0
    pool = _Pool(space, table, store, rng_, sign, evaluate)
    n = space.n_choices()
    # generation 0: random subnets of every slice, plus the extremes that fit
    rng = np.random.default_rng([seed, 0])
    init: list[np.ndarray] = [
        c for c in (space.min_code(), space.max_code()) if len(pool.feasible(c[None, :])[0])
    ]
    taken: set[str] = {space.code_key(c) for c in init}
    for _, lo, hi in _slices(rng_):
        init += _draw_feasible(pool, partial(_random_codes, space, rng), parent_popu_size, lo, hi, taken)
    pool.add(init, 0)
    if progress:
        progress(0)
    for gen in range(1, iteration + 1):
        rng = np.random.default_rng([seed, gen])
        kids: list[np.ndarray] = []
        taken = set()
        for t, lo, hi in _slices(rng_):
            parents = pool.parents(t, parent_popu_size)
            if not parents:
                continue
            par = np.stack(parents)
            if mutate_size:
                kids += _draw_feasible(
                    pool, partial(_mutate, rng, par, n, mutate_prob), mutate_size, lo, hi, taken
                )
            if crossover_size and len(parents) > 1:
                kids += _draw_feasible(pool, partial(_cross, rng, par), crossover_size, lo, hi, taken)
        pool.add(kids, gen)
        if progress:
            progress(gen)
    return pool


def pareto_set(
    pool: _Pool,
    rng_: Range,
    *,
    metric: str,
    recheck: Callable[[np.ndarray], int] | None,
    describe: Callable[[dict[str, Any]], dict[str, Any]],
    score_tolerance: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """Per target: the best evaluated subnet with cost <= target (cycle-mode re-checked for latency).

    Subnets whose score lies within ``score_tolerance`` of the target's best count as tied with it, and
    of tied subnets the costliest wins (:func:`rank_key`). With a tolerance the metric of the picks may
    drop by up to the tolerance from one target to the next; with 0 it never drops.
    """
    ranked = sorted(pool.seen.values(), key=lambda r: rank_key(pool.sign, r))
    checked: dict[str, int] = {}
    out: dict[str, dict[str, Any]] = {}
    for t, key in zip(rng_.targets, rng_.keys, strict=True):
        near: list[dict[str, Any]] = []  # the best fitting subnet and those within the tolerance of it
        for r in ranked:
            if not rng_.lo <= r["cost"] <= t:
                continue
            if near and pool.sign * (near[0]["value"] - r["value"]) > score_tolerance:
                break  # ranked by score: nothing further is within the tolerance
            ck = pool.space.code_key(r["code"])
            if recheck is not None:
                if ck not in checked:
                    checked[ck] = recheck(r["code"])
                if not rng_.lo <= checked[ck] <= t:
                    continue
            near.append(r)
        if near:
            r = max(near, key=lambda q: q["cost"])  # the first of the costliest: ties keep the rank order
            ck = pool.space.code_key(r["code"])
            entry = {
                "net_id": f"net_evo_{r['gen']}_{ck}",
                "mode": rng_.kind,
                metric: r["value"],
                **describe(r),
                "subnet_setting": pool.space.setting(r["code"]),
            }
            if recheck is not None:
                entry["latency_cycles_cycle_mode"] = checked[ck]
            out[key] = entry
    if not out:
        raise PruneConfigError(
            "no evaluated subnet lies inside the range; raise iteration or parent_popu_size"
        )
    return out
