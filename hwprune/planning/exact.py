"""Exact reference solver: the planning problem as a 0-1 integer program (scipy.optimize.milp / HiGHS).

Variables: x[g, i] = group g keeps candidate i; for each layer, y[l, c] over the joint choices c of
the (at most two) groups it depends on and its N:M pattern. Linking rows make y the product of the
x's: for each group v of layer l and candidate i, sum of y[l, c] with c[v] = i equals x[v, i]. With
binaries this is exact, so the optimum is the true optimum of the proxy objective.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from hwprune.errors import BudgetError
from hwprune.planning.problem import INFEASIBLE, Evaluator, Problem, Solution

__all__ = ["solve_exact"]

MAX_VARIABLES = 200_000


class _Program:
    """The 0-1 program, built row by row: sparse equality rows, a latency row and the objective."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.ev = Evaluator(problem)
        self.x_off: list[int] = []  # first column of each group's x[g, :]
        self.n = 0  # columns so far
        self.r = 0  # rows so far
        self.objective: list[float] = []
        self.latency: list[float] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.rhs: list[float] = []  # every row is an equality
        self.layer_combos: list[list[tuple[tuple[int, ...], int]]] = []

    def _entry(self, row: int, col: int, val: float) -> None:
        self.rows.append(row)
        self.cols.append(col)
        self.vals.append(val)

    def _row(self, rhs: float) -> int:
        self.rhs.append(rhs)
        self.r += 1
        return self.r - 1

    def _column(self, objective: float, latency: float) -> int:
        self.objective.append(objective)
        self.latency.append(latency)
        self.n += 1
        if self.n > MAX_VARIABLES:
            raise ValueError(f"exact solver: more than {MAX_VARIABLES} variables; use solver='greedy'")
        return self.n - 1

    def add_groups(self) -> None:
        """x[g, i] columns, one row per group: exactly one candidate is kept."""
        for g in self.problem.groups:
            self.x_off.append(self.n)
            cols = [self._column(loss, 0.0) for loss in g.loss]
            row = self._row(1.0)
            for col in cols:
                self._entry(row, col, 1.0)

    def _combos(self, li: int) -> list[tuple[tuple[int, ...], int]]:
        """(candidate per group of the layer + pattern, cycles) of every feasible joint choice."""
        groups, layer = self.problem.groups, self.problem.layers[li]
        out = []
        for c in itertools.product(
            *(range(len(groups[v].candidates)) for v in layer.vars), range(len(layer.patterns))
        ):
            gc = [0] * len(groups)
            for v, i in zip(layer.vars, c[:-1], strict=True):
                gc[v] = i
            cost = self.ev.layer_cost(li, gc, c[-1])
            if cost < INFEASIBLE:  # a pattern that cannot fit these channels is no choice at all
                out.append((c, cost))
        return out

    def add_layer(self, li: int) -> None:
        """y[l, c] columns; linking rows make them the product of the x's (or sum to one if no group)."""
        layer = self.problem.layers[li]
        vs = layer.vars
        if len(vs) > 2:
            raise ValueError(
                f"exact solver: layer {layer.name} depends on {len(vs)} groups (at most 2 supported)"
            )
        combos = self._combos(li)
        self.layer_combos.append(combos)
        if vs:  # for each group v and candidate i: sum of y[l, c] with c[v] = i  -  x[v, i]  =  0
            link = {(v, i): self._row(0.0) for v in vs for i in range(len(self.problem.groups[v].candidates))}
            for (v, i), row in link.items():
                self._entry(row, self.x_off[v] + i, -1.0)
        else:
            one = self._row(1.0)
        for c, cost in combos:
            col = self._column(layer.nm_loss[c[-1]], float(cost))
            if vs:
                for v, i in zip(vs, c[:-1], strict=True):
                    self._entry(link[(v, i)], col, 1.0)
            else:
                self._entry(one, col, 1.0)

    def solve(self, time_limit: float) -> Solution:
        p = self.problem
        a = coo_matrix((self.vals, (self.rows, self.cols)), shape=(self.r, self.n)).tocsr()
        rhs = np.array(self.rhs)
        constraints = [
            LinearConstraint(a, rhs, rhs),
            LinearConstraint(np.array([self.latency]), -np.inf, float(p.budget - p.const_cycles)),
        ]
        res = milp(
            np.array(self.objective),
            constraints=constraints,
            integrality=np.ones(self.n),
            bounds=Bounds(0, 1),
            options={"time_limit": time_limit, "mip_rel_gap": 1e-9},
        )
        if res.x is None:
            raise BudgetError(
                f"exact solver: no choice meets the budget of {p.budget} cycles ({res.message})"
            )
        x = res.x
        gc = [
            int(np.argmax(x[off : off + len(g.candidates)]))
            for off, g in zip(self.x_off, p.groups, strict=True)
        ]
        pc = []  # the pattern of each layer is read from its selected y
        col = sum(len(g.candidates) for g in p.groups)
        for combos in self.layer_combos:
            pc.append(combos[int(np.argmax(x[col : col + len(combos)]))][0][-1])
            col += len(combos)
        return self.ev.solution(gc, pc, "exact")


def solve_exact(problem: Problem, *, time_limit: float = 120.0) -> Solution:
    """Solve ``problem`` to optimality.

    Args:
        problem: the planning problem; every layer may depend on at most two groups.
        time_limit: seconds for HiGHS.

    Returns:
        The optimal :class:`Solution`.

    Raises:
        BudgetError: if no choice meets the budget.
        ValueError: if the problem is too large or has a layer fed by more than two groups.
    """
    program = _Program(problem)
    program.add_groups()
    for li in range(len(problem.layers)):
        program.add_layer(li)
    return program.solve(time_limit)
