"""The default solver: greedy cost-effective pruning, greedy refill, then swap-based local search.

1. prune: while over budget, take the move (a group down to a smaller candidate, or a layer to a
   sparser N:M pattern) with the least loss per cycle saved;
2. refill: while some move back up fits in the budget, take the one with the most loss recovered per
   cycle spent (no latency is left unused that a kept channel could buy);
3. swap: try each move back up that would recover loss, repair the budget greedily, keep it if the
   total loss fell; stop when no attempt improves;
4. cut: try each group's move down to any smaller candidate, spend the freed cycles greedily (refill),
   keep it if the total loss fell. This finds what one-move-at-a-time pruning cannot: halving a wide
   residual group costs more than any single small cut, yet buys back more than it costs.
Moves look up to ``JUMP`` candidates ahead so a flat latency step never traps the search.

Speed: a layer's channels and cycles are kept up to date move by move, and every variable's moves
(with their cycle and loss changes) are cached until a layer they touch changes. A step of any phase
then re-evaluates only the variables next to the last change and takes, per variable, its cached best
move; scanning variables in a fixed order with strict comparisons picks the same move as scanning
every move one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any, TypeVar, cast

from hwprune.errors import BudgetError
from hwprune.planning.problem import INFEASIBLE, Evaluator, GroupVar, Problem, Solution

__all__ = ["solve_greedy", "min_cycles", "VarKind"]

JUMP = 4
_EPS = 1e-12


class VarKind(StrEnum):
    """What a planning variable chooses: a group's kept-channel candidate or a layer's N:M pattern."""

    GROUP = "g"
    PATTERN = "p"


GROUP, PATTERN = VarKind.GROUP, VarKind.PATTERN
Move = tuple[VarKind, int, int]  # (GROUP, group, candidate index) or (PATTERN, layer, pattern index)
Var = tuple[VarKind, int]  # (GROUP, group) or (PATTERN, layer)
Change = tuple[int, int, int, int, int]  # (layer, cycles, pattern, cin, cout) after a move
Eval = tuple[Move, int, float, list[Change]]  # (move, cycles change, loss change, changes)
# (score, move, cycles change, loss change, changes); a saving's score is (loss per cycle saved, cycles change)
Saving = tuple[tuple[float, int], Move, int, float, list[Change]]
Ranked = tuple[float, Move, int, float, list[Change]]  # a move up, scored by loss change per cycle
# (cycles change, loss change, changes, per-layer cycle changes, {position: forced pattern loss}) of a group move
GroupEval = tuple[int, float, list[Change], list[int], dict[int, float]]
# a group's cached moves: (stamp, moves, kept index, layer stamps seen, (cycle terms, forced losses) per move)
GroupMoves = tuple[int, list[Eval], int, list[int], list[tuple[list[int], dict[int, float]]]]
Undo = tuple[int, int, list[Change]]  # (group or -1, its old candidate, the layers before the move)
_T = TypeVar("_T")


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
        # per variable, under the stamp they were computed at: its best saving (per jump), its gains
        self._savings: dict[tuple[Var, int], tuple[int, Saving | None]] = {}
        self._gains: dict[Var, tuple[int, list[Ranked]]] = {}
        self._moves: dict[tuple[Var, bool, int], GroupMoves] = {}  # (group var, down, jump) -> its moves
        self._pattern_moves: dict[Var, tuple[int, list[Eval]]] = {}  # pattern var -> (stamp, its moves)
        # per-variable tables (groups, then layers' patterns), each refreshed only where variables
        # were restamped since its last use: name -> (entries, positions restamped since); each table
        # holds the entry type of the function _table fills it with
        self._tables: dict[str, tuple[list[Any], set[int]]] = {}
        self._journal: list[Undo] | None = None  # undo records while a snapshot is open

    def delta(self, move: Move) -> tuple[int, float, list[Change]]:
        """(cycles change, loss change, changes) of a move, without applying it.

        A group move that leaves a layer's N:M pattern unable to fit its channels also moves that
        layer to its cheapest pattern that fits (counted in the move's loss).
        """
        kind, i, new = move
        if kind == GROUP:
            return self._group_move(i, new)[:3]
        ev, p = self.ev, self.ev.p
        cin, cout = self.cin[i], self.cout[i]
        changes = [(i, ev.cost_at(i, cin, cout, new), new, cin, cout)]
        dloss = p.layers[i].nm_loss[new] - p.layers[i].nm_loss[self.pc[i]]
        return changes[0][1] - self.cost[i], dloss, changes

    def _layer_change(self, li: int, m_in: int, m_out: int, dk: int) -> tuple[Change, float | None]:
        """Layer ``li`` after its channels shift by ``m_in * dk`` / ``m_out * dk``, and the loss of the
        pattern change this forces (None when its pattern still fits)."""
        ev = self.ev
        cin, cout, pat = self.cin[li] + m_in * dk, self.cout[li] + m_out * dk, self.pc[li]
        c = ev.cost_at(li, cin, cout, pat)
        dl = None
        if c >= INFEASIBLE:
            layer = ev.p.layers[li]
            c, pat = min((ev.cost_at(li, cin, cout, q), q) for q in range(len(layer.patterns)))
            dl = layer.nm_loss[pat] - layer.nm_loss[self.pc[li]]
        return (li, c, pat, cin, cout), dl

    def _group_move(self, i: int, new: int) -> GroupEval:
        """(dcyc, dloss, changes, per-layer cycle changes, {position: forced pattern loss}) of group ``i``
        moving to candidate ``new``."""
        g, old = self.ev.p.groups[i], self.gc[i]
        dk = g.candidates[new] - g.candidates[old]
        changes: list[Change] = []
        terms: list[int] = []
        forced: dict[int, float] = {}
        for pos, (li, m_in, m_out) in enumerate(self.ev.shifts[i]):
            ch, dl = self._layer_change(li, m_in, m_out, dk)
            changes.append(ch)
            terms.append(ch[1] - self.cost[li])
            if dl is not None:
                forced[pos] = dl
        return sum(terms), self._group_loss(g, new, old, forced), changes, terms, forced

    @staticmethod
    def _group_loss(g: GroupVar, new: int, old: int, forced: dict[int, float]) -> float:
        dloss: float = g.loss[new] - g.loss[old]
        for pos in sorted(forced):  # layer order, as the moves are summed everywhere
            dloss += forced[pos]
        return dloss

    def _patch(
        self,
        i: int,
        new: int,
        terms: list[int],
        changes: list[Change],
        forced: dict[int, float],
        positions: list[int],
    ) -> GroupEval:
        """``_group_move(i, new)`` from its result before only the layers at ``positions`` changed."""
        g = self.ev.p.groups[i]
        dk = g.candidates[new] - g.candidates[self.gc[i]]
        terms, changes, forced = list(terms), list(changes), dict(forced)
        shifts = self.ev.shifts[i]
        for pos in positions:
            li, m_in, m_out = shifts[pos]
            ch, dl = self._layer_change(li, m_in, m_out, dk)
            changes[pos] = ch
            terms[pos] = ch[1] - self.cost[li]
            if dl is None:
                forced.pop(pos, None)
            else:
                forced[pos] = dl
        return sum(terms), self._group_loss(g, new, self.gc[i], forced), changes, terms, forced

    def apply(self, move: Move, dcyc: int, dloss: float, changes: list[Change]) -> None:
        kind, i, new = move
        self._clock += 1
        if self._journal is not None:  # what restore() needs to undo this move
            self._journal.append(
                (
                    i if kind == GROUP else -1,
                    self.gc[i] if kind == GROUP else 0,
                    [(li, self.cost[li], self.pc[li], self.cin[li], self.cout[li]) for li, *_ in changes],
                )
            )
        if kind == GROUP:
            self.gc[i] = new
            self._gstamp[i] = self._clock
            self._restamped(i)
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
        self._restamped(len(self.gc) + li)
        for v in self.ev.vars_of[li]:
            self._gstamp[v] = self._clock
            self._restamped(v)

    def _restamped(self, idx: int) -> None:
        for _, dirty in self._tables.values():
            dirty.add(idx)

    def _table(self, name: str, entry: Callable[[Var, int], _T]) -> list[_T]:
        """The per-variable table ``name`` with ``entry(var, index)`` current at every position, in scan
        order; only the groups when patterns are off."""
        n_groups = len(self.gc)
        if name not in self._tables:
            self._tables[name] = ([None] * (n_groups + len(self.pc)), set(range(n_groups + len(self.pc))))
        stored, dirty = self._tables[name]
        table = cast(list[_T], stored)  # filled only by this name's entry function
        for idx in dirty:
            table[idx] = entry((GROUP, idx) if idx < n_groups else (PATTERN, idx - n_groups), idx)
        dirty.clear()
        return table if self.patterns else table[:n_groups]

    def variables(self) -> Iterator[Var]:
        """Every variable that may move, in the fixed scan order: groups, then layers' patterns."""
        for v in range(len(self.gc)):
            yield (GROUP, v)
        if self.patterns:
            for li in range(len(self.pc)):
                yield (PATTERN, li)

    def _stamp(self, var: Var) -> int:
        return self._gstamp[var[1]] if var[0] == GROUP else self._lstamp[var[1]]

    def var_moves(self, var: Var, down: bool, jump: int = JUMP) -> list[Eval]:
        """A variable's moves down (or up), nearest first, each with its delta.

        Pattern variables have the same moves either way: every other pattern, in index order. A group
        whose kept count has not moved since its moves were last evaluated has only the layers
        restamped since then re-evaluated (a stage-wide residual group feeds a hundred layers).
        """
        kind, i = var
        stamp = self._stamp(var)
        if kind == PATTERN:
            phit = self._pattern_moves.get(var)
            if phit is not None and phit[0] == stamp:
                return phit[1]
            out: list[Eval] = [
                (mv, *self.delta(mv))
                for mv in ((PATTERN, i, new) for new in range(len(self.ev.p.layers[i].patterns)))
                if mv[2] != self.pc[i]
            ]
            self._pattern_moves[var] = (stamp, out)
            return out
        key = (var, down, jump)
        hit = self._moves.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        lstamp = self._lstamp
        layers = [li for li, _, _ in self.ev.shifts[i]]
        seen = [lstamp[li] for li in layers]
        if hit is not None and hit[2] == self.gc[i]:
            positions = [pos for pos, (a, b) in enumerate(zip(hit[3], seen, strict=True)) if a != b]
            full = [
                self._patch(i, mv[2], terms, nc, forced, positions)
                for (mv, _, _, nc), (terms, forced) in zip(hit[1], hit[4], strict=True)
            ]
            moves: list[Move] = [mv for mv, *_ in hit[1]]
        else:
            cur, n = self.gc[i], len(self.ev.p.groups[i].candidates)
            rng = (
                range(cur - 1, max(-1, cur - 1 - jump), -1)
                if down
                else range(cur + 1, min(n, cur + 1 + jump))
            )
            moves = [(GROUP, i, new) for new in rng]
            full = [self._group_move(i, mv[2]) for mv in moves]
        out = [(mv, f[0], f[1], f[2]) for mv, f in zip(moves, full, strict=True)]
        self._moves[key] = (stamp, out, self.gc[i], seen, [(f[3], f[4]) for f in full])
        return out

    def best_saving(self, var: Var, jump: int) -> Saving | None:
        """The variable's down move with the least loss per cycle saved (ties: the bigger saving, then the
        nearer move), as (score, move, dcyc, dloss, changes); None when no move saves cycles."""
        key, stamp = (var, jump), self._stamp(var)
        hit = self._savings.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        best: Saving | None = None
        for mv, dcyc, dloss, nc in self.var_moves(var, True, jump):
            if dcyc >= 0:
                continue
            score = (max(dloss, 0.0) / -dcyc, dcyc)
            if best is None or score < best[0]:
                best = (score, mv, dcyc, dloss, nc)
        self._savings[key] = (stamp, best)
        return best

    def best_saving_all(self, frozen: Var | None) -> Saving | None:
        """``best_saving(var, JUMP)`` of the first variable (in scan order) whose is least, skipping
        ``frozen``."""

        def entry(var: Var, idx: int) -> tuple[tuple[float, int], int, Saving] | None:
            b = self.best_saving(var, JUMP)
            return None if b is None else (b[0], idx, b)  # (score, scan position): ties go to the first

        live = self._table("savings", entry)
        skip = -1 if frozen is None else (frozen[1] if frozen[0] == GROUP else len(self.gc) + frozen[1])
        if 0 <= skip < len(live):
            held, live[skip] = live[skip], None
            try:
                best = min(filter(None, live), default=None)
            finally:
                live[skip] = held
        else:
            best = min(filter(None, live), default=None)
        return None if best is None else best[2]

    def best_gain_within(self, slack: int) -> Ranked | None:
        """The move up with the most loss recovered per cycle among those costing at most ``slack``
        cycles (ties: the first variable in scan order, then the nearer move), as (score, move, dcyc,
        dloss, changes)."""

        def entry(var: Var, idx: int) -> list[tuple[float, int, int, int, Ranked]]:
            return [(-g[0], idx, pos, g[2], g) for pos, g in enumerate(self.gains(var))]

        live = self._table("gains", entry)
        best = min((e for entries in live for e in entries if e[3] <= slack), default=None)
        return None if best is None else best[4]

    def down_moves(self) -> list[list[Eval]]:
        """Every variable's moves down (``var_moves(var, True)``), in scan order."""
        return self._table("downs", lambda var, idx: self.var_moves(var, True))

    def gains(self, var: Var) -> list[Ranked]:
        """The variable's up moves that recover loss, as (loss recovered per cycle, move, dcyc, dloss,
        changes), best first (ties: the nearer move first)."""
        stamp = self._stamp(var)
        hit = self._gains.get(var)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        out: list[Ranked] = [
            (-dloss / max(dcyc, 1), mv, dcyc, dloss, nc)
            for mv, dcyc, dloss, nc in self.var_moves(var, False)
            if dloss < -_EPS
        ]
        out.sort(key=lambda t: -t[0])  # stable: equal scores keep move order
        self._gains[var] = (stamp, out)
        return out

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
        self._savings.clear()
        self._gains.clear()
        self._moves.clear()
        self._pattern_moves.clear()
        self._tables.clear()
        self._journal = None

    def snapshot(self) -> tuple[int, float]:
        """Start recording moves so that ``restore`` can undo them; returns (cycles, loss) now.

        One snapshot is open at a time: a new one forgets the last.
        """
        self._journal = []
        return self.cycles, self.loss

    def commit(self) -> None:
        """Keep the moves since the snapshot (stop recording)."""
        self._journal = None

    def restore(self, snap: tuple[int, float]) -> None:
        """Undo every move since ``snapshot`` (restamping what they touched)."""
        assert self._journal is not None, "restore() without snapshot()"
        self._clock += 1
        for v, old, layers in reversed(self._journal):
            if v >= 0:
                self.gc[v] = old
                self._gstamp[v] = self._clock
                self._restamped(v)
            for li, c, pat, cin, cout in layers:
                self.cost[li] = c
                self.pc[li] = pat
                self.cin[li] = cin
                self.cout[li] = cout
                self._touch_layer(li)
        self.cycles, self.loss = snap
        self._journal = None


def _repair(st: _State, budget: int, frozen: Var | None = None) -> bool:
    """Prune greedily until the budget holds; False when no move saves cycles.

    ``frozen`` names a variable (GROUP, index) or (PATTERN, index) that must not move (the one a swap raised).
    """
    jump = JUMP
    while st.cycles > budget:
        # least loss per cycle saved; among equals prefer the bigger saving
        best = st.best_saving_all(frozen) if jump == JUMP else None
        if jump != JUMP:
            for var in st.variables():
                if var == frozen:
                    continue
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
        best = st.best_gain_within(budget - st.cycles)
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
    best: _State | None = None
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
    assert best is not None, "the joint start always ends feasible or raises"
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
                if st.loss < snap[1] - 1e-9:
                    st.commit()
                    improved = True
                    failures = 0
                    break
            st.restore(snap)
            failures += 1
            if failures >= max_swaps:
                break
    while _exchange(st, budget) or _cut(st, budget):
        _refill(st, budget)


def _cut(st: _State, budget: int) -> bool:
    """Apply the first deep cut (a group down to any smaller candidate, then refill) that lowers the loss.

    A cut whose loss exceeds what its freed cycles could buy back at the best rate any move up offers
    now is not tried (buying back gets dearer as channels return: the loss is convex in what is kept).
    """
    best = st.best_gain_within(1 << 62)
    if best is None:
        return False
    rate = best[0]  # the most loss recovered per cycle by any move up
    for v in range(len(st.gc)):
        for mv, dcyc, dloss, nc in st.var_moves((GROUP, v), True, 1 << 30):
            if dcyc >= 0 or dloss > -dcyc * rate * (1 + 1e-9):
                continue
            snap = st.snapshot()
            st.apply(mv, dcyc, dloss, nc)
            _refill(st, budget)
            if st.cycles <= budget and st.loss < snap[1] - 1e-9:
                st.commit()
                return True
            st.restore(snap)
    return False


def _ups(st: _State) -> list[Ranked]:
    """Every move up that recovers loss, as (loss change per cycle, move, dcyc, dloss, changes), in move order."""
    ups: list[Ranked] = []
    for var in st.variables():
        for mv, dcyc, dloss, nc in st.var_moves(var, False):
            if dloss < -_EPS:
                ups.append((dloss / max(dcyc, 1), mv, dcyc, dloss, nc))
    return ups


def _exchange(st: _State, budget: int, top: int = 32) -> bool:
    """Apply the best pair (one move up, one move down) that stays in budget and lowers the loss."""
    ups = _ups(st)
    ups.sort(key=lambda t: t[0])
    best: tuple[float, Move, Move] | None = None
    for _, up, ucyc, uloss, unc in ups[:top]:
        snap = st.snapshot()
        st.apply(up, ucyc, uloss, unc)
        slack = budget - st.cycles
        for moves in st.down_moves():
            for dn, dcyc, dloss, _ in moves:
                if dcyc <= slack and dn[:2] != up[:2]:
                    gain = -(uloss + dloss)
                    if gain > 1e-9 and (best is None or gain > best[0]):
                        best = (gain, up, dn)
        st.restore(snap)
    if best is None:
        return False
    for mv in best[1:]:
        st.apply(mv, *st.delta(mv))
    return True
