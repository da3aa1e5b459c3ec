"""Planner scaling (issue #9): hwprune.plan time against model size; target ResNet-152 < 6 s per budget.

Usage: python benchmarks/bench_planner_scaling.py [--runs 3] [--hw dpu-b4096] [--budgets 0.5 0.7]
       [--nets resnet18 resnet50 resnet101 resnet152 densenet121] [--solver greedy] [--threads 1]

For every net x budget: one warm-up plan() call (pays numba/torch start-up and fills hwmodel's
schedule caches; its wall time is printed as "first"), then the median wall ("total") and CPU ("cpu")
time of ``--runs`` whole plan() calls and the median per-call CPU time of each stage: trace, tables (build_problem: latency tables,
candidates, losses), solve (the solver, every tighten round), check (cycle-mode simulation of the
unpruned and of each planned model) and rest (groups, importance, lowering, the N:M activation
forward pass, plan assembly; cpu minus the stages). CPU time moves much less with other load on a
shared machine than wall time does; on an idle machine the two agree. Every plan is checked to meet its budget and to repeat
exactly.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import hwmodel
import hwprune
import hwprune.planning.planner as planner
import hwprune.traced as traced_module

NETS = ("resnet18", "resnet50", "resnet101", "resnet152", "densenet121")
STAGES = ("trace", "tables", "solve", "check")


class Stages:
    """Wraps the planner's stage functions and sums their time per plan() call."""

    def __init__(self, solver: str) -> None:
        self.t: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        traced_module.trace = self._timed("trace", traced_module.trace)  # hwprune.Traced's one trace
        planner.build_problem = self._timed("tables", planner.build_problem)
        planner.SOLVERS[solver] = self._timed("solve", planner.SOLVERS[solver])
        hwmodel.simulate = self._timed("check", hwmodel.simulate)

    def _timed(self, name, fn):
        def wrapper(*a, **k):
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                self.t[name] += time.process_time() - t

        return wrapper

    def reset(self) -> None:
        self.t = dict.fromkeys(STAGES, 0.0)


def _plan(
    model, x, args, budget: float, stages: Stages
) -> tuple[float, float, dict[str, float], hwprune.Plan]:
    stages.reset()
    t, c = time.perf_counter(), time.process_time()
    plan = hwprune.plan(model, x, hw=args.hw, budget=budget, solver=args.solver)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    assert plan.cycles <= plan.budget_cycles, (plan.cycles, plan.budget_cycles)
    return wall, cpu, dict(stages.t), plan


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hw", default="dpu-b4096")
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.5, 0.7])
    ap.add_argument("--nets", nargs="+", default=list(NETS))
    ap.add_argument("--solver", default="greedy")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (the planner itself is single-threaded)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    stages = Stages(args.solver)
    print(
        f"hwprune.plan on {args.hw}, solver {args.solver}, 224x224, 1000 classes; "
        f"{args.threads} torch thread(s); "
        f"medians of {args.runs} runs after one warm-up (seconds)"
    )
    head = (
        f"{'net':12s} {'budget':>6s} {'groups':>6s} {'first':>7s} {'total':>7s} {'cpu':>7s} "
        + " ".join(f"{s:>7s}" for s in (*STAGES, "rest"))
        + f" {'loss':>9s} {'cycles/budget':>22s}"
    )
    print(head)
    print("-" * len(head))
    for name in args.nets:
        torch.manual_seed(0)
        model = hwprune.models.get(name, num_classes=1000).eval()
        x = hwprune.models.default_input(name)
        for budget in args.budgets:
            first, _, _, plan = _plan(model, x, args, budget, stages)
            walls, cpus, per_stage = [], [], {s: [] for s in STAGES}
            for _ in range(args.runs):
                wall, cpu, t, again = _plan(model, x, args, budget, stages)
                assert again.to_dict() == plan.to_dict(), "plan() is not deterministic"
                walls.append(wall)
                cpus.append(cpu)
                for s in STAGES:
                    per_stage[s].append(t[s])
            med = {s: statistics.median(v) for s, v in per_stage.items()}
            total = statistics.median(walls)
            groups = sum(1 for g in plan.groups if g.prunable)
            print(
                f"{name:12s} {budget:6.2f} {groups:6d} {first:7.2f} {total:7.2f} {statistics.median(cpus):7.2f} "
                + " ".join(f"{med[s]:7.2f}" for s in STAGES)
                + f" {statistics.median(cpus) - sum(med.values()):7.2f}"
                + f" {plan.loss:9.4f} {f'{plan.cycles}/{plan.budget_cycles}':>22s}",
                flush=True,
            )


if __name__ == "__main__":
    main()
