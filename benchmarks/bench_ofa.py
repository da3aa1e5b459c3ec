"""OFA benchmarks: supernet training epoch vs plain training, and 1000 candidates' latency lookups.

Prints medians of several runs (torch with one thread; run alone for stable figures):

    python benchmarks/bench_ofa.py [--model resnet20] [--hw dpu-b4096] [--images 512] [--repeats 3]

* epoch: one epoch of plain training (``hwprune.train.loop.train``) against one epoch of sandwich
  training (``OFAPruner.train``: largest + smallest + 2 random subnets per batch, KD from the model);
* lookups: pricing 1000 random subnets with the tables (``CostTable.price``, one call), against the
  shared ``LatencyModel.cycles`` summed per subnet (its per-layer memo warm), and the tables' build time.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

import hwprune
from hwprune.ofa.costs import CostTable
from hwprune.train.loop import train


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--hw", default="dpu-b4096")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--size", type=int, default=32, help="input side (224 for the ImageNet nets)")
    ap.add_argument("--no-epoch", action="store_true", help="latency lookups only")
    ap.add_argument(
        "--kernel-sizes", default="3,5,7", help="elastic kernel sizes, comma-separated, or 'none'"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    model = hwprune.models.get(args.model, num_classes=10).eval()
    x = torch.randn(1, 3, args.size, args.size)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(args.images, 3, args.size, args.size, generator=g),
        torch.randint(0, 10, (args.images,), generator=g),
    )
    loader = DataLoader(
        data, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    ofa = hwprune.OFAPruner(model, x, hw=args.hw, backend="serial", progress=False)
    ks = None if args.kernel_sizes == "none" else [int(k) for k in args.kernel_sizes.split(",")]
    sup = ofa.ofa_model([0.5, 0.75, 1.0], channel_divisible=8, kernel_sizes=ks)
    space = sup.space

    # --- latency lookups (no training needed)
    t = time.perf_counter()
    lm = ofa.table(sup).lm  # the first build prices every reachable (cin, cout) of every layer
    t_cold = time.perf_counter() - t
    t_build = _median(
        lambda: CostTable(lm, space.groups, space.blocks, space.kernels), args.repeats
    )  # per-layer memo warm
    table = ofa.table(sup)
    codes = sup.space.random_codes(np.random.default_rng(0), args.lookups)
    cycles = table.cycles(codes)  # warm-up, and the check below

    def one(code):  # the shared latency model, one subnet at a time
        return lm.cycles(space.kept(code), kernels=space.kernel_sizes(code))

    assert all(int(c) == one(code) for c, code in zip(cycles[:50], codes[:50], strict=True))
    t_table = _median(lambda: table.price(codes), max(5, args.repeats))
    t_model = _median(lambda: [one(code) for code in codes], args.repeats)
    print(
        f"{args.model} on {args.hw}: {len(space.groups)} elastic groups, {len(space.kernels)} elastic "
        f"kernels, {space.size()} subnets"
    )
    print(
        f"latency of {args.lookups} candidates: tables {t_table * 1e3:.2f} ms (median of {max(5, args.repeats)}), "
        f"LatencyModel.cycles per candidate {t_model * 1e3:.1f} ms; tables built in {t_cold * 1e3:.0f} ms "
        f"(once per supernet; {t_build * 1e3:.1f} ms with the latency model's memo warm)"
    )

    if args.no_epoch:
        return

    # --- one epoch: plain vs sandwich (4 subnets per batch + the teacher's forward)
    def plain() -> None:
        net = hwprune.models.get(args.model, num_classes=10)
        train(net, loader, 1, lr=0.05, progress=False)

    def supernet() -> None:
        s = ofa.ofa_model([0.5, 0.75, 1.0], channel_divisible=8, kernel_sizes=ks)
        ofa.train(s, loader, 1, lr=0.05, progress=False)

    plain()  # warm-up
    t_plain = _median(plain, args.repeats)
    t_sup = _median(supernet, args.repeats)
    print(
        f"one epoch of {args.images} images (batch {args.batch_size}): plain {t_plain:.2f} s, "
        f"supernet {t_sup:.2f} s, ratio {t_sup / t_plain:.2f}x (median of {args.repeats})"
    )


if __name__ == "__main__":
    main()
