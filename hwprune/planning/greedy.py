"""The default solver: greedy cost-effective pruning, greedy refill, then swap-based local search.

1. prune: while over budget, take the move (a group down to a smaller candidate, or a layer to a
   sparser N:M pattern) with the least loss per cycle saved;
2. refill: while some move back up fits in the budget, take the one with the most loss recovered per
   cycle spent (no latency is left unused that a kept channel could buy);
3. swap: try each move back up that would recover loss, repair the budget greedily, keep it if the
   total loss fell; stop when no attempt improves.
Moves look up to ``JUMP`` candidates ahead so a flat latency step never traps the search.

Speed: a layer's channels and cycles are kept up to date move by move, and every variable's moves
(with their cycle and loss changes) are cached until a layer they touch changes. A step of any phase
then re-evaluates only the variables next to the last change and takes, per variable, its cached best
move; scanning variables in a fixed order with strict comparisons picks the same move as scanning
every move one by one.
"""

from __future__ import annotations

from collections.abc import Iterator

from hwprune.errors import BudgetError
from hwprune.planning.problem import INFEASIBLE, Evaluator, Problem, Solution

__all__ = ["solve_greedy", "min_cycles"]

JUMP = 4
_EPS = 1e-12


Move = tuple[str, int, int]  # ("g", group, candidate index) or ("p", layer, pattern index)
Var = tuple[str, int]  # ("g", group) or ("p", layer)
Change = tuple[int, int, int, int, int]  # (layer, cycles, pattern, cin, cout) after a move
Eval = tuple[Move, int, float, list[Change]]  # (move, cycles change, loss change, changes)


class _State:
    """A choice under search, each layer's channels and cycles kept up to date move by move.

    Every variable carries a stamp; changing a layer (its channels or pattern) restamps the layer and
    every group feeding it. Per-variable results (its moves' deltas, its best move for a phase) are
    cached under the stamp they were computed at and reused while it is unchanged.
    """

    def __init__(self, ev: Evaluator, patterns: bool = True) -> None:
        self.ev = ev
        self.patterns = patterns  # False: N:M patterns stay dense (the channel-only start)
        p = ev.p
        self.gc = [len(g.candidates) - 1 for g in p.groups]
        self.pc = [0] * len(p.layers)
        chans = [ev.channels(li, self.gc) for li in range(len(p.layers))]
        self.cin = [c[0] for c in chans]
        self.cout = [c[1] for c in chans]
        self.cost = [ev.cost_at(li, self.cin[li], self.cout[li], 0) for li in range(len(p.layers))]
        self.cycles = p.const_cycles + sum(self.cost)
        self.loss = ev.loss(self.gc, self.pc)
        self._clock = 0
        self._gstamp = [0] * len(p.groups)
        self._lstamp = [0] * len(p.layers)
        self._memo: dict[tuple, tuple[int, object]] = {}

    def delta(self, move: Move) -> tuple[int, float, list[Change]]:
        """(cycles change, loss change, changes) of a move, without applying it.

        A group move that leaves a layer's N:M pattern unable to fit its channels also moves that
        layer to its cheapest pattern that fits (counted in the move's loss).
        """
        ev, p = self.ev, self.ev.p
        kind, i, new = move
        if kind == "g":
            g, old = p.groups[i], self.gc[i]
            dk = g.candidates[new] - g.candidates[old]
            changes = []
            dloss = g.loss[new] - g.loss[old]
            for li, m_in, m_out in ev.shifts[i]:
                cin, cout, pat = self.cin[li] + m_in * dk, self.cout[li] + m_out * dk, self.pc[li]
                c = ev.cost_at(li, cin, cout, pat)
                if c >= INFEASIBLE:
                    c, pat = min((ev.cost_at(li, cin, cout, q), q) for q in range(len(p.layers[li].patterns)))
                    dloss += p.layers[li].nm_loss[pat] - p.layers[li].nm_loss[self.pc[li]]
                changes.append((li, c, pat, cin, cout))
        else:
            cin, cout = self.cin[i], self.cout[i]
            changes = [(i, ev.cost_at(i, cin, cout, new), new, cin, cout)]
            dloss = p.layers[i].nm_loss[new] - p.layers[i].nm_loss[self.pc[i]]
        dcyc = sum(c - self.cost[li] for li, c, *_ in changes)
        return dcyc, dloss, changes

    def apply(self, move: Move, dcyc: int, dloss: float, changes: list[Change]) -> None:
        kind, i, new = move
        self._clock += 1
        if kind == "g":
            self.gc[i] = new
            self._gstamp[i] = self._clock
        for li, c, pat, cin, cout in changes:
            self.cost[li] = c
            self.pc[li] = pat
            self.cin[li] = cin
            self.cout[li] = cout
            self._touch_layer(li)
        self.cycles += dcyc
        self.loss += dloss

    def _touch_layer(self, li: int) -> None:
        self._lstamp[li] = self._clock
        for v in self.ev.vars_of[li]:
            self._gstamp[v] = self._clock

    def variables(self) -> Iterator[Var]:
        """Every variable that may move, in the fixed scan order: groups, then layers' patterns."""
        for v in range(len(self.gc)):
            yield ("g", v)
        if self.patterns:
            for li in range(len(self.pc)):
                yield ("p", li)

    def _cached(self, key: tuple, var: Var, compute):
        stamp = self._gstamp[var[1]] if var[0] == "g" else self._lstamp[var[1]]
        hit = self._memo.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        out = compute()
        self._memo[key] = (stamp, out)
        return out

    def var_moves(self, var: Var, down: bool, jump: int = JUMP) -> list[Eval]:
        """A variable's moves down (or up), nearest first, each with its delta.

        Pattern variables have the same moves either way: every other pattern, in index order.
        """
        kind, i = var
        if kind == "p":
            return self._cached(("m", var), var, lambda: [
                (mv, *self.delta(mv)) for mv in (("p", i, new) for new in range(len(self.ev.p.layers[i].patterns)))
                if mv[2] != self.pc[i]])

        def compute() -> list[Eval]:
            cur, n = self.gc[i], len(self.ev.p.groups[i].candidates)
            rng = range(cur - 1, max(-1, cur - 1 - jump), -1) if down else range(cur + 1, min(n, cur + 1 + jump))
            return [(mv, *self.delta(mv)) for mv in (("g", i, new) for new in rng)]
        return self._cached(("m", var, down, jump), var, compute)

    def best_saving(self, var: Var, jump: int) -> tuple | None:
        """The variable's down move with the least loss per cycle saved (ties: the bigger saving, then the
        nearer move), as (score, move, dcyc, dloss, changes); None when no move saves cycles."""
        def compute():
            best = None
            for mv, dcyc, dloss, nc in self.var_moves(var, True, jump):
                if dcyc >= 0:
                    continue
                score = (max(dloss, 0.0) / -dcyc, dcyc)
                if best is None or score < best[0]:
                    best = (score, mv, dcyc, dloss, nc)
            return best
        return self._cached(("s", var, jump), var, compute)

    def gains(self, var: Var) -> list[tuple]:
        """The variable's up moves that recover loss, as (loss recovered per cycle, move, dcyc, dloss,
        changes), best first (ties: the nearer move first)."""
        def compute():
            out = [(-dloss / max(dcyc, 1), mv, dcyc, dloss, nc)
                   for mv, dcyc, dloss, nc in self.var_moves(var, False) if dloss < -_EPS]
            out.sort(key=lambda t: -t[0])  # stable: equal scores keep move order
            return out
        return self._cached(("u", var), var, compute)

    def set_min(self) -> None:
        """Every group at its smallest candidate, every layer at its cheapest pattern there."""
        ev, p = self.ev, self.ev.p
        self.gc = [0] * len(p.groups)
        self.pc, self.cost, self.cin, self.cout = [], [], [], []
        for li, layer in enumerate(p.layers):
            cin, cout = ev.channels(li, self.gc)
            c, pat = min((ev.cost_at(li, cin, cout, q), q) for q in range(len(layer.patterns)))
            self.pc.append(pat)
            self.cost.append(c)
            self.cin.append(cin)
            self.cout.append(cout)
        self.cycles = p.const_cycles + sum(self.cost)
        self.loss = ev.loss(self.gc, self.pc)
        self._memo.clear()

    def snapshot(self):
        return list(self.gc), list(self.pc), list(self.cost), self.cycles, self.loss, list(self.cin), list(self.cout)

    def restore(self, snap) -> None:
        gc, pc, cost, cycles, loss, cin, cout = snap
        self._clock += 1
        for v, (a, b) in enumerate(zip(self.gc, gc, strict=True)):
            if a != b:
                self._gstamp[v] = self._clock
        for li in range(len(pc)):
            if self.pc[li] != pc[li] or self.cin[li] != cin[li] or self.cout[li] != cout[li] or self.cost[li] != cost[li]:
                self._touch_layer(li)
        self.gc, self.pc, self.cost, self.cycles, self.loss = list(gc), list(pc), list(cost), cycles, loss
        self.cin, self.cout = list(cin), list(cout)


def _repair(st: _State, budget: int, frozen: Var | None = None) -> bool:
    """Prune greedily until the budget holds; False when no move saves cycles.

    ``frozen`` names a variable ("g", index) or ("p", index) that must not move (the one a swap raised).
    """
    jump = JUMP
    while st.cycles > budget:
        best = None
        for var in st.variables():
            if var == frozen:
                continue
            # least loss per cycle saved; among equals prefer the bigger saving
            b = st.best_saving(var, jump)
            if b is not None and (best is None or b[0] < best[0]):
                best = b
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
        slack = budget - st.cycles
        for var in st.variables():
            for g in st.gains(var):
                if g[2] <= slack:  # the variable's best move that fits
                    if best is None or g[0] > best[0]:
                        best = g
                    break
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
        ups = _ups(st)
        ups.sort(key=lambda t: t[:2])
        for _, mv, dcyc, dloss, nc in ups:
            snap = st.snapshot()
            st.apply(mv, dcyc, dloss, nc)
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


def _ups(st: _State) -> list[tuple]:
    """Every move up that recovers loss, as (loss change per cycle, move, dcyc, dloss, changes), in move order."""
    ups = []
    for var in st.variables():
        for mv, dcyc, dloss, nc in st.var_moves(var, False):
            if dloss < -_EPS:
                ups.append((dloss / max(dcyc, 1), mv, dcyc, dloss, nc))
    return ups


def _exchange(st: _State, budget: int, top: int = 32) -> bool:
    """Apply the best pair (one move up, one move down) that stays in budget and lowers the loss."""
    ups = _ups(st)
    ups.sort(key=lambda t: t[0])
    best = None
    for _, up, ucyc, uloss, unc in ups[:top]:
        snap = st.snapshot()
        st.apply(up, ucyc, uloss, unc)
        for var in st.variables():
            if var == up[:2]:
                continue
            for dn, dcyc, dloss, _ in st.var_moves(var, True):
                gain = -(uloss + dloss)
                if st.cycles + dcyc <= budget and gain > 1e-9 and (best is None or gain > best[0]):
                    best = (gain, up, dn)
        st.restore(snap)
    if best is None:
        return False
    for mv in best[1:]:
        st.apply(mv, *st.delta(mv))
    return True
