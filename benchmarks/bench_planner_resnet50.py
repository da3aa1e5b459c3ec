"""Planner speed (issue #4): hwprune.plan for ResNet-50 at 224x224, tables included; target < 10 s.

Usage: python benchmarks/bench_planner_resnet50.py [--runs 3] [--hw dpu-b4096] [--budget 0.5]
Prints the median wall time of whole plan() calls (trace, groups, importance, latency tables,
solver, cycle-mode check) after one warm-up call that pays numba/torch start-up, and the median of
each stage's mean.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import hwprune
import hwprune.planning.planner as planner
import hwprune.traced as traced_module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hw", default="dpu-b4096")
    ap.add_argument("--budget", type=float, default=0.5)
    ap.add_argument("--solver", default="greedy")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = hwprune.models.get("resnet50", num_classes=1000).eval()
    x = hwprune.models.default_input("resnet50")

    stages: dict[str, list[float]] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                stages.setdefault(name, []).append(time.perf_counter() - t)

        return wrapper

    traced_module.trace = timed("trace", traced_module.trace)  # hwprune.Traced's one trace
    planner.build_problem = timed("tables (build_problem)", planner.build_problem)
    planner.SOLVERS[args.solver] = timed("solve", planner.SOLVERS[args.solver])
    planner.hwmodel.simulate = timed("cycle-mode check", planner.hwmodel.simulate)

    plan = hwprune.plan(model, x, hw=args.hw, budget=args.budget, solver=args.solver)  # warm-up
    assert plan.cycles <= plan.budget_cycles
    stages.clear()
    walls = []
    for _ in range(args.runs):
        t = time.perf_counter()
        plan = hwprune.plan(model, x, hw=args.hw, budget=args.budget, solver=args.solver)
        walls.append(time.perf_counter() - t)
    print(
        f"ResNet-50 224x224 on {args.hw}, budget {args.budget}, solver {args.solver}: "
        f"{plan.unpruned_ms:.3f} ms -> {plan.latency_ms:.3f} ms ({plan.cycles}/{plan.budget_cycles} cycles, "
        f"{sum(1 for g in plan.groups if g.kept < g.size)} groups pruned, {len(plan.nm())} N:M layers)"
    )
    print(
        f"plan() wall time: median {statistics.median(walls):.2f} s over {args.runs} runs "
        f"(min {min(walls):.2f}, max {max(walls):.2f})"
    )
    for name, ts in stages.items():
        print(
            f"  {name:24s} {sum(ts) / args.runs:.2f} s per plan (mean; {len(ts) // args.runs} call(s) per plan)"
        )


if __name__ == "__main__":
    main()
