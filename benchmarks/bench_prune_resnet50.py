"""Benchmark: trace + channel groups + prune (importance, transform) + emit for ResNet-50 at 224x224.

Prints the median of several runs per stage after one warm-up run. Target: the total under 2 s.
Run: python benchmarks/bench_prune_resnet50.py [--runs 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from hwprune.analysis.groups import channel_groups
    from hwprune.analysis.importance import group_importance
    from hwprune.emit.module import emit
    from hwprune.frontend.trace import trace
    from hwprune.ir.verify import verify
    from hwprune.models import get
    from hwprune.pruning import keep_top, uniform_keep
    from hwprune.transforms.channels import prune_channels

    model = get("resnet50", num_classes=1000).eval()
    x = torch.randn(1, 3, 224, 224)
    stages: dict[str, list[float]] = {
        "trace": [],
        "groups": [],
        "importance+transform": [],
        "emit": [],
        "total": [],
    }
    for run in range(args.runs + 1):
        t0 = time.perf_counter()
        graph = trace(model, x)
        t1 = time.perf_counter()
        groups = channel_groups(graph)
        t2 = time.perf_counter()
        scores = group_importance(graph, groups, "l1")
        keep = {g.id: keep_top(scores[g.id], uniform_keep(g.size, args.ratio)) for g in groups if g.prunable}
        pruned = verify(prune_channels(graph, keep))
        t3 = time.perf_counter()
        slim = emit(pruned)
        t4 = time.perf_counter()
        if run == 0:  # warm-up: check the result once
            with torch.no_grad():
                assert slim.eval()(x).shape == (1, 1000)
            continue
        for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
            stages[k].append(v)
    n_before = sum(p.numel() for p in model.parameters())
    n_after = sum(p.numel() for p in slim.parameters())
    print(
        f"ResNet-50 224x224, ratio {args.ratio}, {len(groups)} groups, params {n_before:,} -> {n_after:,}, "
        f"torch threads {torch.get_num_threads()}, median of {args.runs} runs:"
    )
    for k, v in stages.items():
        print(f"  {k:22s} {statistics.median(v) * 1000:8.1f} ms   (min {min(v) * 1000:.1f})")


if __name__ == "__main__":
    main()
