"""Greedy planner vs the exact MILP optimum on the same planning problems: loss gap and time.

For each (net, hardware, budget) the problem is built once and solved by both solvers; the table
prints the proxy loss of each, the greedy's gap above the optimum (percent) and the solve times
(medians of ``--runs``). Usage:

    python benchmarks/bench_greedy_vs_exact.py [--nets resnet20,digits_cnn] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import hwprune
from hwprune.planning import planner
from hwprune.planning.exact import solve_exact
from hwprune.planning.greedy import solve_greedy

CASES = (
    ("dpu-b4096", 0.6),
    ("dpu-b4096", 0.7),
    ("dpu-b4096-sparse", 0.5),
    ("dpu-b4096-sparse", 0.65),
    ("dpu-b1024-sparse", 0.5),
    ("systolic-32x32-os", 0.5),
    ("systolic-32x32-ws", 0.7),
)
INPUTS = {"resnet20": (1, 3, 32, 32), "digits_cnn": (1, 1, 32, 32), "mobilenetv2": (1, 3, 64, 64)}


def _problem(traced, hw: str, budget: float):
    """The planner's Problem for this budget (captured from a real plan() run)."""
    seen = {}
    real = planner.build_problem

    def capture(*args, **kwargs):
        built = real(*args, **kwargs)
        seen["built"] = built
        return built

    planner.build_problem = capture
    try:
        plan = hwprune.plan_graph(traced, hw, budget, check=False)
    finally:
        planner.build_problem = real
    import dataclasses

    return dataclasses.replace(seen["built"].problem, budget=plan.budget_cycles)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default="resnet20,digits_cnn")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(
        f"{'net':<12} {'hardware':<18} {'budget':>6} {'greedy loss':>12} {'exact loss':>11} {'gap %':>7} "
        f"{'greedy s':>9} {'exact s':>8}"
    )
    gaps = []
    for net in args.nets.split(","):
        torch.manual_seed(0)
        shape = INPUTS[net]
        model = hwprune.models.get(net, num_classes=10, in_channels=shape[1])
        traced = hwprune.Traced(model, torch.randn(*shape))
        for hw, budget in CASES:
            try:
                problem = _problem(traced, hw, budget)
            except hwprune.errors.HwPruneError as e:
                print(f"{net:<12} {hw:<18} {budget:>6} skipped: {e}")
                continue
            tg, te = [], []
            for _ in range(args.runs):
                t = time.perf_counter()
                g = solve_greedy(problem)
                tg.append(time.perf_counter() - t)
                t = time.perf_counter()
                e = solve_exact(problem)
                te.append(time.perf_counter() - t)
            gap = 100.0 * (g.loss - e.loss) / e.loss if e.loss > 0 else 0.0
            gaps.append(gap)
            print(
                f"{net:<12} {hw:<18} {budget:>6} {g.loss:>12.5f} {e.loss:>11.5f} {gap:>7.2f} "
                f"{statistics.median(tg):>9.3f} {statistics.median(te):>8.3f}"
            )
    if gaps:
        print(f"gap: median {statistics.median(gaps):.2f}%, max {max(gaps):.2f}% over {len(gaps)} problems")


if __name__ == "__main__":
    main()
