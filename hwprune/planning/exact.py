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
    ev = Evaluator(problem)
    groups, layers = problem.groups, problem.layers
    x_off, n = [], 0
    for g in groups:
        x_off.append(n)
        n += len(g.candidates)
    cost_obj: list[float] = [loss for g in groups for loss in g.loss]
    lat_row: list[float] = [0.0] * n
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0
    layer_combos: list[list[tuple[tuple[int, ...], int]]] = []
    for gi, g in enumerate(groups):  # one candidate per group
        for i in range(len(g.candidates)):
            rows.append(r)
            cols.append(x_off[gi] + i)
            vals.append(1.0)
        lo.append(1.0)
        hi.append(1.0)
        r += 1
    for li, layer in enumerate(layers):
        vs = layer.vars
        if len(vs) > 2:
            raise ValueError(f"exact solver: layer {layer.name} depends on {len(vs)} groups (at most 2 supported)")
        combos = []
        for c in itertools.product(*(range(len(groups[v].candidates)) for v in vs), range(len(layer.patterns))):
            gc = [0] * len(groups)
            for v, i in zip(vs, c[:-1], strict=True):
                gc[v] = i
            cost = ev.layer_cost(li, gc, c[-1])
            if cost < INFEASIBLE:  # a pattern that cannot fit these channels is no choice at all
                combos.append((c, cost))
        layer_combos.append(combos)
        if n + len(combos) > MAX_VARIABLES:
            raise ValueError(f"exact solver: more than {MAX_VARIABLES} variables; use solver='greedy'")
        link_rows = {(v, i): r + k for k, (v, i) in enumerate(
            (v, i) for v in vs for i in range(len(groups[v].candidates)))}
        if not vs:  # pattern choice only: sum y = 1
            link_rows = {}
            one_row = r
            r += 1
            lo.append(1.0)
            hi.append(1.0)
        for c, cost in combos:
            col = n
            n += 1
            pat = c[-1]
            cost_obj.append(layer.nm_loss[pat])
            lat_row.append(float(cost))
            if vs:
                for v, i in zip(vs, c[:-1], strict=True):
                    rows.append(link_rows[(v, i)])
                    cols.append(col)
                    vals.append(1.0)
            else:
                rows.append(one_row)
                cols.append(col)
                vals.append(1.0)
        for (v, i), row in link_rows.items():  # ... = x[v, i]
            rows.append(row)
            cols.append(x_off[v] + i)
            vals.append(-1.0)
            lo.append(0.0)
            hi.append(0.0)
        r += len(link_rows)
    lat_row += [0.0] * (n - len(lat_row))
    a = coo_matrix((vals, (rows, cols)), shape=(r, n)).tocsr()
    constraints = [
        LinearConstraint(a, np.array(lo), np.array(hi)),
        LinearConstraint(np.array([lat_row]), -np.inf, float(problem.budget - problem.const_cycles)),
    ]
    res = milp(np.array(cost_obj), constraints=constraints, integrality=np.ones(n), bounds=Bounds(0, 1),
               options={"time_limit": time_limit, "mip_rel_gap": 1e-9})
    if res.x is None:
        raise BudgetError(f"exact solver: no choice meets the budget of {problem.budget} cycles ({res.message})")
    x = res.x
    gc = [int(np.argmax(x[x_off[gi]: x_off[gi] + len(g.candidates)])) for gi, g in enumerate(groups)]
    # the pattern of each layer is read from its selected y
    pc = []
    col = sum(len(g.candidates) for g in groups)
    for combos in layer_combos:
        sel = int(np.argmax(x[col: col + len(combos)]))
        pc.append(combos[sel][0][-1])
        col += len(combos)
    return ev.solution(gc, pc, "exact")
