"""Coverage of real model code: hwprune over 60 timm CNN families (pretrained=False, 1x3x128x128).

Per model: traced, channel groups (prunable ones), OPAQUE ops left, ratio 0 reproduces the output, pruned
at ratio 0.3 (L1) to a slim model that runs with the original output shape, and the parameters it kept
against what a uniform 0.3 over every channel except the model's input/output would keep. Prints a
Markdown table, the totals, the checks the issue asks for (>= 95% pruned to a runnable slim model; no
family keeping more than 10 points more parameters than the uniform reference) and the OPAQUE reasons.

timm is not a dependency: install it aside, e.g.
    pip install --target /tmp/timm_pkgs --no-deps timm torchvision==0.28.0 huggingface_hub safetensors
    PYTHONPATH=.:/tmp/timm_pkgs python benchmarks/bench_timm_coverage.py [--size 128] [--only a,b]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.hwprune.timm_support import FAMILIES, evaluate, import_timm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--only", default="", help="comma-separated model names (default: all families)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    timm = import_timm()
    names = args.only.split(",") if args.only else FAMILIES
    rows = []
    print(
        f"timm {timm.__version__}, torch {torch.__version__}, input 1x3x{args.size}x{args.size}, "
        f"ratio {args.ratio}\n"
    )
    print(
        "| model | params (M) | groups | prunable | opaque ops | ratio 0 exact | slim runs | kept | uniform "
        "| excess | s |"
    )
    print("|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|")
    for name in names:
        r = evaluate(timm, name, args.size, args.ratio)
        rows.append(r)
        if r.error and not r.ok:
            print(
                f"| {name} | {r.params / 1e6:.2f} | | | | | no: {r.error} | | | | {r.seconds:.1f} |",
                flush=True,
            )
            continue
        print(
            f"| {name} | {r.params / 1e6:.2f} | {r.groups} | {r.prunable} | {r.opaque} | "
            f"{'yes' if r.exact0 else 'no'} | {'yes' if r.ok else 'no'} | {r.kept:.3f} | {r.uniform:.3f} | "
            f"{r.excess:+.3f} | {r.seconds:.1f} |",
            flush=True,
        )
    ok = [r for r in rows if r.ok]
    over = [r for r in ok if r.excess > 0.10]
    print(
        f"\nmodels: {len(rows)}; pruned to a runnable slim model: {len(ok)} ({100 * len(ok) / len(rows):.1f}%); "
        f"ratio 0 exact: {sum(r.exact0 for r in rows)}; with no prunable group: "
        f"{sum(r.prunable == 0 for r in ok)}; with OPAQUE ops: {sum(r.opaque > 0 for r in rows)}"
    )
    print(
        f"keeping > 10 points more parameters than uniform {args.ratio}: {len(over)} "
        f"{[f'{r.name} ({r.excess:+.2f})' for r in over]}"
    )
    print(
        f"median kept {sorted(r.kept for r in ok)[len(ok) // 2]:.3f}, median uniform "
        f"{sorted(r.uniform for r in ok)[len(ok) // 2]:.3f}, total time {sum(r.seconds for r in rows):.0f} s"
    )
    reasons: Counter = Counter()
    for r in rows:
        for why, n in r.reasons.items():
            reasons[why] += n
    if reasons:
        print("\nOPAQUE ops left (reason: count over all models):")
        for why, n in reasons.most_common():
            print(f"- {why}: {n}")


if __name__ == "__main__":
    main()
