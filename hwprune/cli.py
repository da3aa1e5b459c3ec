"""The ``hwprune`` command line: optimize, plan, prune, simulate, report.

Only this module prints and exits; the library raises typed errors.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from hwprune.errors import HwPruneError

__all__ = ["main"]


def _model_and_input(args):
    import torch

    from hwprune import models
    from hwprune.optimize import load_factory

    if ":" in args.model:
        model = load_factory(args.model)()
        shape = tuple(int(d) for d in args.input_shape.split(",")) if args.input_shape else (1, 3, 224, 224)
    else:
        model = models.get(args.model, num_classes=args.num_classes,
                           **({"in_channels": args.in_channels} if args.in_channels else {}))
        shape = tuple(int(d) for d in args.input_shape.split(",")) if args.input_shape else models.input_shape(
            args.model, in_channels=args.in_channels)
    torch.manual_seed(0)
    return model.eval(), torch.randn(shape)


def _common_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="resnet20", help="reference net name or package.module:factory")
    p.add_argument("--input-shape", default=None, help="N,C,H,W of the example input (default: the net's)")
    p.add_argument("--in-channels", type=int, default=None, help="input channels of a reference net")
    p.add_argument("--num-classes", type=int, default=10)


def _cmd_optimize(args) -> int:
    from hwprune.optimize import OptimizeConfig, optimize

    out = args.out or f"runs/{args.model.replace(':', '_')}-{args.hw}-{args.budget}"
    cfg = OptimizeConfig(model=args.model, data=args.data, hw=args.hw, budget=args.budget, nm=args.nm,
                         epochs=args.epochs, finetune_epochs=args.finetune_epochs, batch_size=args.batch_size,
                         lr=args.lr, importance=args.importance, solver=args.solver, seed=args.seed,
                         input_size=args.input_size, in_channels=args.in_channels, excludes=tuple(args.exclude),
                         out=out, progress=not args.quiet)
    optimize(cfg)
    return 0


def _cmd_plan(args) -> int:
    import hwprune
    from hwprune.optimize import _budget_value
    from hwprune.report.plan_report import plan_markdown, plot_plan

    model, x = _model_and_input(args)
    plan = hwprune.plan(model, x, hw=args.hw, budget=_budget_value(args.budget),
                        nm={"auto": "auto", "on": True, "off": False}[args.nm], excludes=tuple(args.exclude),
                        importance=args.importance, solver=args.solver)
    out = Path(args.out)
    plan.save(out / "plan.json")
    from hwprune.io import atomic_write_text

    atomic_write_text(out / "plan.md", plan_markdown(plan, plot_plan(plan, out)))
    print(f"{plan.unpruned_ms:.4f} ms -> {plan.latency_ms:.4f} ms on {plan.hw} ({plan.speedup:.2f}x); "
          f"wrote {out / 'plan.json'}")
    return 0


def _cmd_prune(args) -> int:
    import torch

    import hwprune
    from hwprune.emit.spec import save_spec

    model, x = _model_and_input(args)
    slim = hwprune.prune(model, x, ratio=args.ratio, importance=args.importance, round_to=args.round_to,
                         excludes=tuple(args.exclude))
    out = Path(args.out)
    save_spec(slim, out / "slim.spec.json")
    from hwprune.io import save_state_dict

    save_state_dict(out / "slim.pt", slim.state_dict())
    before = sum(p.numel() for p in model.parameters())
    after = sum(p.numel() for p in slim.parameters())
    with torch.no_grad():
        slim(x)
    print(f"parameters {before} -> {after}; wrote {out / 'slim.spec.json'} and {out / 'slim.pt'}")
    return 0


def _cmd_simulate(args) -> int:
    import hwprune

    model, x = _model_and_input(args)
    rep = hwprune.simulate(model, x, hw=args.hw, mode=args.mode)
    print(f"{args.model} on {args.hw}: {rep.total_cycles} cycles, {rep.latency_ms:.4f} ms, {rep.fps:.1f} FPS")
    if args.out:
        from hwmodel.reports import write_csv_reports, write_markdown_report

        write_csv_reports(rep, args.out)
        write_markdown_report(rep, args.out)
        print(f"wrote {args.out}")
    return 0


def _cmd_report(args) -> int:
    from hwprune.io import atomic_write_text
    from hwprune.planning.plan import Plan
    from hwprune.report.plan_report import plan_markdown, plot_plan

    plan = Plan.load(args.plan)
    out = Path(args.out or Path(args.plan).parent)
    atomic_write_text(out / "plan.md", plan_markdown(plan, plot_plan(plan, out)))
    print(f"wrote {out / 'plan.md'}")
    return 0


def _cmd_reports(args) -> int:
    from hwprune.report.nets import write_net_reports

    index = write_net_reports(args.out, tuple(args.hw) or ("dpu-b4096", "systolic-32x32-ws"),
                              tuple(args.net) if args.net else None, progress=not args.quiet)
    print(f"wrote {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="hwprune", description="Hardware-aware pruning to a latency budget.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("optimize", help="train/load a baseline, plan, apply, fine-tune, report (the main job)")
    _common_model(p)
    p.add_argument("--data", default="digits", choices=("digits", "synthetic"))
    p.add_argument("--hw", default="dpu-b4096", help="accelerator preset or config file")
    # 0.6, not 0.5: ResNet-20's floor on dpu-b4096 is 0.57 of its unpruned latency (16-channel layers
    # are one ICP/OCP step and cannot get faster by pruning); see README
    p.add_argument("--budget", default="0.6", help="fraction of unpruned latency, '2.5ms' or cycles")
    p.add_argument("--nm", default="auto", choices=("auto", "on", "off"), help="plan N:M sparsity too")
    p.add_argument("--epochs", type=int, default=15, help="baseline training epochs (cached)")
    p.add_argument("--finetune-epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--importance", default="l1")
    p.add_argument("--solver", default="greedy", choices=("greedy", "exact"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--exclude", action="append", default=[], help="module name to keep unpruned (repeatable)")
    p.add_argument("--out", default=None, help="run folder (default runs/<model>-<hw>-<budget>)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_cmd_optimize)

    p = sub.add_parser("plan", help="plan kept channels and N:M patterns for a latency budget")
    _common_model(p)
    p.add_argument("--hw", default="dpu-b4096")
    p.add_argument("--budget", default="0.5")
    p.add_argument("--nm", default="auto", choices=("auto", "on", "off"))
    p.add_argument("--importance", default="l1")
    p.add_argument("--solver", default="greedy", choices=("greedy", "exact"))
    p.add_argument("--exclude", action="append", default=[])
    p.add_argument("--out", default="runs/plan")
    p.set_defaults(fn=_cmd_plan)

    p = sub.add_parser("prune", help="uniform per-group channel pruning")
    _common_model(p)
    p.add_argument("--ratio", type=float, required=True)
    p.add_argument("--importance", default="l1")
    p.add_argument("--round-to", type=int, default=None)
    p.add_argument("--exclude", action="append", default=[])
    p.add_argument("--out", default="runs/prune")
    p.set_defaults(fn=_cmd_prune)

    p = sub.add_parser("simulate", help="simulate a model on modelled hardware")
    _common_model(p)
    p.add_argument("--hw", default="dpu-b4096")
    p.add_argument("--mode", default="cycle", choices=("cycle", "analytic"))
    p.add_argument("--out", default=None, help="folder for CSV and Markdown reports")
    p.set_defaults(fn=_cmd_simulate)

    p = sub.add_parser("reports", help="simulator reports of every reference net (writes reports/simulator)")
    p.add_argument("--out", default="reports/simulator")
    p.add_argument("--hw", action="append", default=[], help="preset (repeatable; default dpu-b4096 and "
                   "systolic-32x32-ws)")
    p.add_argument("--net", action="append", default=[], help="reference net (repeatable; default all)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_cmd_reports)

    p = sub.add_parser("report", help="Markdown + plots of a plan.json")
    p.add_argument("plan")
    p.add_argument("--out", default=None)
    p.set_defaults(fn=_cmd_report)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return args.fn(args)
    except HwPruneError as e:
        print(f"hwprune {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hwprune {args.cmd}: interrupted; files written so far are complete (atomic)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
