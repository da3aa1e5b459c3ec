"""The default solver: greedy cost-effective pruning, greedy refill, then swap-based local search.

1. prune: while over budget, take the move (a group down to a smaller candidate, or a layer to a
   sparser N:M pattern) with the least loss per cycle saved;
2. refill: while some move back up fits in the budget, take the one with the most loss recovered per
   cycle spent (no latency is left unused that a kept channel could buy);
3. swap: try each move back up that would recover loss, repair the budget greedily, keep it if the
   total loss fell; stop when no attempt improves.
Moves look up to ``JUMP`` candidates ahead so a flat latency step never traps the search.
"""

from __future__ import annotations

from hwprune.errors import BudgetError
from hwprune.planning.problem import INFEASIBLE, Evaluator, Problem, Solution

__all__ = ["solve_greedy", "min_cycles"]

JUMP = 4
_EPS = 1e-12


class _State:
    def __init__(self, ev: Evaluator, patterns: bool = True) -> None:
        self.ev = ev
        self.patterns = patterns  # False: N:M patterns stay dense (the channel-only start)
        p = ev.p
        self.gc = [len(g.candidates) - 1 for g in p.groups]
        self.pc = [0] * len(p.layers)
        self.cost = [ev.layer_cost(li, self.gc, 0) for li in range(len(p.layers))]
        self.cycles = p.const_cycles + sum(self.cost)
        self.loss = ev.loss(self.gc, self.pc)

    def delta(self, move: tuple[str, int, int]) -> tuple[int, float, list[tuple[int, int, int]]]:
        """(cycles change, loss change, new (layer, cost, pattern)) of a move, without applying it.

        A group move that leaves a layer's N:M pattern unable to fit its channels also moves that
        layer to its cheapest pattern that fits (counted in the move's loss).
        """
        ev, p = self.ev, self.ev.p
        kind, i, new = move
        if kind == "g":
            old = self.gc[i]
            self.gc[i] = new
            changes = []
            dloss = p.groups[i].loss[new] - p.groups[i].loss[old]
            for li in ev.layers_of[i]:
                pat = self.pc[li]
                c = ev.layer_cost(li, self.gc, pat)
                if c >= INFEASIBLE:
                    c, pat = min((ev.layer_cost(li, self.gc, q), q) for q in range(len(p.layers[li].patterns)))
                    dloss += p.layers[li].nm_loss[pat] - p.layers[li].nm_loss[self.pc[li]]
                changes.append((li, c, pat))
            self.gc[i] = old
        else:
            changes = [(i, ev.layer_cost(i, self.gc, new), new)]
            dloss = p.layers[i].nm_loss[new] - p.layers[i].nm_loss[self.pc[i]]
        dcyc = sum(c - self.cost[li] for li, c, _ in changes)
        return dcyc, dloss, changes

    def apply(self, move: tuple[str, int, int], dcyc: int, dloss: float, changes) -> None:
        kind, i, new = move
        if kind == "g":
            self.gc[i] = new
        for li, c, pat in changes:
            self.cost[li] = c
            self.pc[li] = pat
        self.cycles += dcyc
        self.loss += dloss

    def moves(self, down: bool, jump: int = JUMP):
        p = self.ev.p
        for v, g in enumerate(p.groups):
            cur = self.gc[v]
            rng = range(cur - 1, max(-1, cur - 1 - jump), -1) if down else range(
                cur + 1, min(len(g.candidates), cur + 1 + jump))
            for new in rng:
                yield ("g", v, new)
        if not self.patterns:
            return
        for li, layer in enumerate(p.layers):
            for new in range(len(layer.patterns)):
                if new != self.pc[li]:
                    yield ("p", li, new)

    def set_min(self) -> None:
        """Every group at its smallest candidate, every layer at its cheapest pattern there."""
        ev, p = self.ev, self.ev.p
        self.gc = [0] * len(p.groups)
        self.pc, self.cost = [], []
        for li, layer in enumerate(p.layers):
            c, pat = min((ev.layer_cost(li, self.gc, q), q) for q in range(len(layer.patterns)))
            self.pc.append(pat)
            self.cost.append(c)
        self.cycles = p.const_cycles + sum(self.cost)
        self.loss = ev.loss(self.gc, self.pc)

    def snapshot(self):
        return list(self.gc), list(self.pc), list(self.cost), self.cycles, self.loss

    def restore(self, snap) -> None:
        self.gc, self.pc, self.cost, self.cycles, self.loss = (
            list(snap[0]), list(snap[1]), list(snap[2]), snap[3], snap[4])


def _repair(st: _State, budget: int, frozen: tuple[str, int] | None = None) -> bool:
    """Prune greedily until the budget holds; False when no move saves cycles.

    ``frozen`` names a variable ("g", index) or ("p", index) that must not move (the one a swap raised).
    """
    jump = JUMP
    while st.cycles > budget:
        best = None
        for mv in st.moves(down=True, jump=jump):
            if frozen is not None and mv[:2] == frozen:
                continue
            dcyc, dloss, nc = st.delta(mv)
            if dcyc >= 0:
                continue
            # least loss per cycle saved; among equals prefer the bigger saving
            score = (max(dloss, 0.0) / -dcyc, dcyc)
            if best is None or score < best[0]:
                best = (score, mv, dcyc, dloss, nc)
        if best is None:
            if jump < 1 << 30:  # every step within reach is flat here: look all the way down once
                jump = 1 << 30
                continue
            return False
        st.apply(best[1], best[2], best[3], best[4])
        jump = JUMP
    return True


def _refill(st: _State, budget: int) -> None:
    """Buy back loss with leftover cycles, best loss recovered per cycle first."""
    while True:
        best = None
        for mv in st.moves(down=False):
            dcyc, dloss, nc = st.delta(mv)
            if dloss >= -_EPS or st.cycles + dcyc > budget:
                continue
            score = -dloss / max(dcyc, 1)
            if best is None or score > best[0]:
                best = (score, mv, dcyc, dloss, nc)
        if best is None:
            return
        st.apply(best[1], best[2], best[3], best[4])


def min_cycles(problem: Problem) -> int:
    """Smallest reachable latency: every group at its smallest candidate, every layer at its cheapest pattern."""
    ev = Evaluator(problem)
    gc = [0] * len(problem.groups)
    total = problem.const_cycles
    for li, layer in enumerate(problem.layers):
        total += min(ev.layer_cost(li, gc, pi) for pi in range(len(layer.patterns)))
    return total


def solve_greedy(problem: Problem, *, max_swaps: int = 200) -> Solution:
    """Solve ``problem`` with the greedy + local-search heuristic.

    Args:
        problem: the planning problem.
        max_swaps: attempts without improvement before the local search stops.

    Returns:
        A feasible :class:`Solution` (cycles <= budget).

    Raises:
        BudgetError: if the budget is below the smallest reachable latency (the message states it).
    """
    ev = Evaluator(problem)
    # two starts: channels and patterns together, and channels first with patterns added afterwards
    starts = [True, False] if any(len(layer.patterns) > 1 for layer in problem.layers) else [True]
    best = None
    for joint in starts:
        st = _State(ev, patterns=joint)
        if not _repair(st, problem.budget) and joint:
            st.set_min()  # greedy got trapped: start from the floor and buy channels back instead
            if st.cycles > problem.budget:
                raise BudgetError(
                    f"latency budget of {problem.budget} cycles is below the smallest reachable latency "
                    f"({min_cycles(problem)} cycles with every group at its smallest size and the sparsest "
                    "N:M patterns); raise the budget or allow more pruning (fewer excludes, N:M on)"
                )
        elif st.cycles > problem.budget:
            continue
        st.patterns = True
        _local_search(st, problem.budget, max_swaps)
        if best is None or st.loss < best.loss - 1e-12:
            best = st
    return ev.solution(best.gc, best.pc, "greedy")


def _local_search(st: _State, budget: int, max_swaps: int) -> None:
    """Refill, then swaps (raise one variable, repair greedily) and pairwise exchanges until no gain."""
    _refill(st, budget)
    failures = 0
    improved = True
    while improved and failures < max_swaps:
        improved = False
        ups = []
        for mv in st.moves(down=False):
            dcyc, dloss, _ = st.delta(mv)
            if dloss < -_EPS:
                ups.append((dloss / max(dcyc, 1), mv))
        ups.sort()
        for _, mv in ups:
            snap = st.snapshot()
            st.apply(mv, *st.delta(mv))
            if _repair(st, budget, frozen=mv[:2]):
                _refill(st, budget)
                if st.loss < snap[4] - 1e-9:
                    improved = True
                    failures = 0
                    break
            st.restore(snap)
            failures += 1
            if failures >= max_swaps:
                break
    while _exchange(st, budget):
        _refill(st, budget)


def _exchange(st: _State, budget: int, top: int = 32) -> bool:
    """Apply the best pair (one move up, one move down) that stays in budget and lowers the loss."""
    ups = []
    for mv in st.moves(down=False):
        dcyc, dloss, nc = st.delta(mv)
        if dloss < -_EPS:
            ups.append((dloss / max(dcyc, 1), mv, dcyc, dloss, nc))
    ups.sort(key=lambda t: t[0])
    best = None
    for _, up, ucyc, uloss, unc in ups[:top]:
        snap = st.snapshot()
        st.apply(up, ucyc, uloss, unc)
        for dn in st.moves(down=True):
            if dn[:2] == up[:2]:
                continue
            dcyc, dloss, _ = st.delta(dn)
            gain = -(uloss + dloss)
            if st.cycles + dcyc <= budget and gain > 1e-9 and (best is None or gain > best[0]):
                best = (gain, up, dn)
        st.restore(snap)
    if best is None:
        return False
    for mv in best[1:]:
        st.apply(mv, *st.delta(mv))
    return True
