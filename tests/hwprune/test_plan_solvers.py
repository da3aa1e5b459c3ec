"""The planning solvers on seeded random problems: feasibility, budget use, greedy vs exact."""

from __future__ import annotations

import math
import random

import pytest

from hwprune.errors import BudgetError
from hwprune.planning.budget import Budget, parse_budget
from hwprune.planning.exact import solve_exact
from hwprune.planning.greedy import min_cycles, solve_greedy
from hwprune.planning.problem import Evaluator, GroupVar, LayerVar, Problem

PATTERNS = ("dense", "2:4", "1:4")


def _chain(seed: int, n_groups: int = 6, frac: float = 0.5) -> Problem:
    """A conv chain with a staircase latency (ceil to 16) and random importance."""
    rng = random.Random(seed)
    groups = []
    for g in range(n_groups):
        size = rng.choice([16, 32, 48, 64])
        cands = tuple(range(8, size + 1, 8))
        imp = sorted(rng.random() for _ in range(size))
        loss = tuple(sum(imp[: size - k]) / sum(imp) for k in cands)
        groups.append(GroupVar(f"g{g}", g, cands, loss))
    layers = []
    for li in range(n_groups + 1):
        hw = rng.choice([8, 16, 32])

        def cost(cin: int, cout: int, p: int, hw: int = hw) -> int:
            return math.ceil(9 * cin * (1.0, 0.5, 0.25)[p] / 16) * math.ceil(cout / 16) * hw * hw // 4 + 10

        ins = ((li - 1, 1),) if li > 0 else ()
        outs = ((li, 1),) if li < n_groups else ()
        layers.append(
            LayerVar(
                f"l{li}",
                ins,
                0 if ins else 3,
                outs,
                0 if outs else 10,
                PATTERNS,
                (0.0, rng.random() * 0.5, rng.random() * 0.9 + 0.3),
                cost,
            )
        )
    p = Problem(tuple(groups), tuple(layers), 100, 0)
    full = Evaluator(p).cycles([len(g.candidates) - 1 for g in groups], [0] * len(layers))
    return Problem(p.groups, p.layers, p.const_cycles, int(full * frac))


def _retained(problem: Problem, loss: float) -> float:
    """The maximisation form of the objective: importance kept (the worst-case loss minus the loss)."""
    worst = sum(g.loss[0] for g in problem.groups) + sum(max(layer.nm_loss) for layer in problem.layers)
    return worst - loss


@pytest.mark.parametrize("seed", range(12))
def test_greedy_is_feasible_and_within_one_percent_of_exact(seed: int) -> None:
    p = _chain(seed, frac=(0.3, 0.5, 0.7)[seed % 3])
    g, e = solve_greedy(p), solve_exact(p)
    ev = Evaluator(p)
    assert g.cycles == ev.cycles(g.group_choice, g.pattern_choice) <= p.budget
    assert e.cycles <= p.budget
    assert e.loss <= g.loss + 1e-9  # the exact optimum is a lower bound
    assert _retained(p, g.loss) >= 0.99 * _retained(p, e.loss)


def test_greedy_spends_the_budget() -> None:
    # with fine-grained candidates nothing that fits is left unbought
    fractions = [solve_greedy(_chain(s, frac=0.6)).cycles / _chain(s, frac=0.6).budget for s in range(8)]
    assert min(fractions) >= 0.9
    assert sorted(fractions)[len(fractions) // 2] >= 0.95


def test_budget_below_minimum_states_it() -> None:
    p = _chain(0)
    lo = min_cycles(p)
    tight = Problem(p.groups, p.layers, p.const_cycles, lo - 1)
    with pytest.raises(BudgetError, match=str(lo)):
        solve_greedy(tight)
    with pytest.raises(BudgetError):
        solve_exact(tight)
    at_min = solve_greedy(Problem(p.groups, p.layers, p.const_cycles, lo))
    assert at_min.cycles == lo


def test_full_budget_keeps_everything() -> None:
    p = _chain(3, frac=1.0)
    s = solve_greedy(p)
    assert s.loss == 0.0
    assert all(i == len(g.candidates) - 1 for g, i in zip(p.groups, s.group_choice, strict=True))


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (0.5, "fraction", 0.5),
        ("0.3", "fraction", 0.3),
        ("2.5ms", "ms", 2.5),
        ("300us", "ms", 0.3),
        ("120000cycles", "cycles", 120000),
        (5000, "cycles", 5000),
        ("1e6 cycles", "cycles", 1e6),
    ],
)
def test_parse_budget(text, kind: str, value: float) -> None:
    b = parse_budget(text)
    assert (b.kind, b.value) == (kind, pytest.approx(value))


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, "fast", "-2ms", float("nan"), True])
def test_parse_budget_rejects(bad) -> None:
    with pytest.raises(BudgetError):
        parse_budget(bad)


def test_budget_cycles() -> None:
    assert Budget("fraction", 0.5).cycles(1001, 300.0) == 500
    assert Budget("ms", 1.0).cycles(10**9, 300.0) == 300_000
