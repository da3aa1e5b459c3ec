"""The ``hwprune`` command line: optimize, plan, prune, simulate, report, ofa.

Only this module prints and exits; the library raises typed errors. Every user error (a malformed
flag, a bad file, an unreachable budget, a read-only folder) ends with one line on stderr and exit
code 2; no command leaves a file behind when it fails (outputs are built aside and moved in).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from hwmodel.errors import HwModelError
from hwprune.errors import HwPruneError, PruneConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hwprune.optimize import OptimizeConfig

__all__ = ["main", "build_parser"]


class _UsageError(Exception):
    """A malformed command line (argparse's complaint), reported in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + message and exits; we want one line
        raise _UsageError(message)


# -- argument types: each rejects a malformed value with a message naming what is allowed ---------
def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _ratio(text: str) -> float:
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction in (0, 1)")
    return value


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not N,C,H,W (integers separated by commas)") from None
    if len(dims) != 4 or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r} is not N,C,H,W with four positive integers")
    return dims


def _budget(text: str) -> str:
    from hwprune.optimize import _budget_value
    from hwprune.planning.budget import parse_budget

    try:
        parse_budget(_budget_value(text))
    except HwPruneError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name")
    return text


def _model_and_input(args: argparse.Namespace) -> tuple[nn.Module, torch.Tensor]:
    import torch

    from hwprune import models
    from hwprune.optimize import make_model

    if ":" in args.model:
        model = make_model(args.model)
        shape = args.input_shape or (1, args.in_channels or 3, 224, 224)
        if args.in_channels and args.input_shape and args.input_shape[1] != args.in_channels:
            raise PruneConfigError(
                f"--in-channels {args.in_channels} contradicts --input-shape "
                f"{','.join(map(str, args.input_shape))}"
            )
    else:
        if args.model not in models.names():
            raise PruneConfigError(
                f"unknown model {args.model!r}; use one of {', '.join(models.names())} "
                "or 'package.module:factory'"
            )
        channels = args.in_channels or (args.input_shape[1] if args.input_shape else None)
        model = models.get(
            args.model, num_classes=args.num_classes, **({"in_channels": channels} if channels else {})
        )
        shape = args.input_shape or models.input_shape(args.model, in_channels=channels)
    torch.manual_seed(0)
    return model.eval(), torch.randn(shape)


def _common_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", default="resnet20", type=_name, help="reference net name or package.module:factory"
    )
    p.add_argument(
        "--input-shape", default=None, type=_shape, help="N,C,H,W of the example input (default: the net's)"
    )
    p.add_argument(
        "--in-channels",
        type=_int_at_least(1),
        default=None,
        help="input channels (a reference net's stem, or a factory model's default input)",
    )
    p.add_argument("--num-classes", type=_int_at_least(2), default=10)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    """The flags of the jobs that train: data, weights, device, threads and the baseline cache."""
    p.add_argument(
        "--data",
        default="digits",
        type=_name,
        help="digits, synthetic, fashion-mnist, imagefolder:PATH (PATH/train/<class>/*, "
        "PATH/val/<class>/*) or package.module:factory returning (train_loader, val_loader)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        type=_name,
        help="folder of the four Fashion-MNIST IDX files (default: where Debian's "
        "dataset-fashion-mnist installs them)",
    )
    p.add_argument(
        "--train-subset",
        type=_int_at_least(1),
        default=None,
        help="train on a stratified subset of this many images (fashion-mnist; the test set stays full)",
    )
    p.add_argument(
        "--weights",
        default=None,
        type=_name,
        help="trained state_dict (or checkpoint with state_dict/model) to start from; the baseline "
        "is then evaluated, not trained",
    )
    p.add_argument(
        "--device",
        default="auto",
        type=_name,
        help="auto (CUDA when present), cpu, cuda or cuda:N; under torchrun training is data-parallel",
    )
    p.add_argument(
        "--input-size",
        type=_int_at_least(8),
        default=None,
        help="image side (default: the data's; digits/synthetic/fashion-mnist 32)",
    )
    p.add_argument(
        "--threads",
        type=_int_at_least(1),
        default=None,
        help="CPU threads of torch (default: torch's own choice); 1 per process on a shared machine",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        type=_name,
        help="baseline cache (default .hwprune/cache, or ~/.cache/hwprune when the working "
        "directory is read-only)",
    )


def _out_folder(text: str, what: str = "--out") -> Path:
    """Check that ``text`` can become an output folder before any work starts."""
    from hwprune.optimize import _writable

    out = Path(text)
    if out.exists() and not out.is_dir():
        raise PruneConfigError(f"{what} {out}: exists and is not a folder")
    if not _writable(out):
        raise PruneConfigError(
            f"{what} {out}: cannot create files there (read-only, or not a folder); choose another {what}"
        )
    return out


def _publish(build: Callable[[Path], None], out: Path) -> None:
    """Run ``build(folder)`` in a temporary sibling of ``out`` and move its files in only on success."""
    from hwprune.io import atomic_dir

    with atomic_dir(out) as tmp:
        build(tmp)


def _hw_label(hw: str) -> str:
    """A folder-name-safe label of ``--hw`` (a config file's stem, not its path)."""
    return Path(hw).stem if (os.sep in hw or "/" in hw or Path(hw).suffix) else hw


def _optimize_config(args: argparse.Namespace, out: str, **job: Any) -> OptimizeConfig:
    """The :class:`OptimizeConfig` of a job that trains (``optimize``, ``ofa``): the model, data and
    training flags they share, plus ``job``'s own fields."""
    from hwprune.optimize import OptimizeConfig

    in_channels, input_size = args.in_channels, args.input_size
    if args.input_shape is not None:
        _, c, h, w = args.input_shape
        if h != w:
            raise PruneConfigError(
                f"--input-shape {','.join(map(str, args.input_shape))}: hwprune {args.cmd} trains on "
                "square images; give H = W (or use --input-size)"
            )
        if in_channels is not None and in_channels != c:
            raise PruneConfigError(f"--in-channels {in_channels} contradicts --input-shape channels {c}")
        if input_size is not None and input_size != h:
            raise PruneConfigError(f"--input-size {input_size} contradicts --input-shape side {h}")
        in_channels, input_size = c, h
    return OptimizeConfig(
        model=args.model,
        data=args.data,
        hw=args.hw,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        input_size=input_size,
        in_channels=in_channels,
        num_classes=args.num_classes,
        excludes=tuple(args.exclude),
        out=out,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
        data_dir=args.data_dir,
        train_subset=args.train_subset,
        weights=args.weights,
        device=args.device,
        threads=args.threads,
        **job,
    )


def _cmd_optimize(args: argparse.Namespace) -> int:
    from hwprune.optimize import optimize

    label = f"{args.model.replace(':', '_').replace('/', '_')}-{_hw_label(args.hw)}-{args.budget}"
    cfg = _optimize_config(
        args,
        args.out or f"runs/{label}",
        budget=args.budget,
        nm=args.nm,
        finetune_epochs=args.finetune_epochs,
        finetune_lr=args.finetune_lr,
        importance=args.importance,
        solver=args.solver,
        loss=args.loss,
        strict=args.strict,
    )
    optimize(cfg)
    return 0


def _latency_range(text: str) -> tuple[float | int | str, ...]:
    """``MIN:MAX[:STEP]`` with each a fraction, a time ("2.5ms") or cycles; STEP defaults to a quarter."""
    from hwprune.optimize import _budget_value
    from hwprune.planning.budget import parse_budget

    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not MIN:MAX or MIN:MAX:STEP (e.g. 0.4:0.8 or 2ms:4ms:0.5ms)"
        )
    values = [_budget_value(p) for p in parts]
    try:
        budgets = [parse_budget(v) for v in values]
    except HwPruneError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if len({b.kind for b in budgets}) != 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} mixes units; write all parts as fractions, times or cycles"
        )
    if budgets[0].value >= budgets[1].value:
        raise argparse.ArgumentTypeError(f"{text!r}: MIN must be below MAX")
    if len(values) == 2:
        lo, hi = budgets[0].value, budgets[1].value
        step = (hi - lo) / 4
        steps: dict[str, float | int | str] = {"ms": f"{step:g}ms", "cycles": max(1, int(step))}
        values.append(steps.get(budgets[0].kind, round(step, 6)))
    return tuple(values)


def _fraction_open(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in (0, 1)") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the held-out share must be in (0, 1)")
    return v


def _ratios(text: str) -> tuple[float, ...]:
    try:
        out = tuple(float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of ratios in (0, 1]"
        ) from None
    if not out or any(not (0 < r <= 1) for r in out):
        raise argparse.ArgumentTypeError(f"{text!r}: every expand ratio must be in (0, 1]")
    return out


def _kernel_sizes(text: str) -> tuple[int, ...] | None:
    if text.strip().lower() == "none":
        return None
    try:
        out = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 'none' or a comma-separated list of odd kernel sizes such as 3,5,7"
        ) from None
    if any(k < 1 or k % 2 == 0 for k in out):
        raise argparse.ArgumentTypeError(f"{text!r}: every kernel size must be a positive odd int")
    return out


def _cmd_ofa(args: argparse.Namespace) -> int:
    from hwprune.io import atomic_dir
    from hwprune.ofa.run import OFARunConfig, check_range, run_ofa
    from hwprune.optimize import _baseline, validate
    from hwprune.train.device import is_main_process

    label = f"{args.model.replace(':', '_').replace('/', '_')}-{_hw_label(args.hw)}"
    out = Path(args.out or f"runs/ofa-{label}-{args.latency[0]}-{args.latency[1]}")
    _out_folder(str(out))
    ocfg = _optimize_config(args, str(out), budget="1.0", nm="off")
    prep = validate(ocfg)
    cfg = OFARunConfig(
        hw=args.hw,
        latency=args.latency,
        expand_ratio=args.expand_ratio,
        channel_divisible=args.channel_divisible,
        elastic_depth=args.elastic_depth,
        kernel_sizes=args.kernel_sizes,
        excludes=tuple(args.exclude),
        epochs=args.ofa_epochs,
        lr=args.ofa_lr,
        n_random=args.n_random,
        parent_popu_size=args.parent_popu_size,
        iteration=args.iteration,
        mutate_size=args.mutate_size,
        crossover_size=args.crossover_size,
        calib_batches=args.calib_batches,
        eval_batches=args.eval_batches,
        val_fraction=args.val_fraction,
        finetune_epochs=args.finetune_epochs,
        finetune_lr=args.finetune_lr,
        seed=args.seed,
        progress=not args.quiet,
        backend=args.backend,
        workers=args.workers,
        device=str(prep.device),
    )
    check_range(prep.model, prep.example, cfg)  # before any training
    _baseline(ocfg, prep)
    say = (
        (lambda msg: print(f"[hwprune ofa] {msg}", file=sys.stderr, flush=True))
        if not args.quiet
        else (lambda msg: None)
    )
    if not is_main_process():  # data-parallel supernet training is this process's share
        run_ofa(
            prep.model.cpu().eval(),
            prep.example,
            prep.train_loader,
            prep.test_loader,
            cfg,
            None,
            prep.cache_dir,
            label,
            lambda msg: None,
        )
        return 0
    with atomic_dir(out) as stage:
        run_ofa(
            prep.model.cpu().eval(),
            prep.example,
            prep.train_loader,
            prep.test_loader,
            cfg,
            Path(stage),
            prep.cache_dir,
            label,
            say,
        )
    print(f"wrote {out} (pareto.json, pareto.png, supernet.pt, subnets/)")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    import hwprune
    from hwprune.optimize import _budget_value
    from hwprune.report.plan_report import plan_markdown, plot_plan

    out = _out_folder(args.out)
    model, x = _model_and_input(args)
    plan = hwprune.plan(
        model,
        x,
        hw=args.hw,
        budget=_budget_value(args.budget),
        nm={"auto": "auto", "on": True, "off": False}[args.nm],
        excludes=tuple(args.exclude),
        importance=args.importance,
        solver=args.solver,
        strict=args.strict,
        loss=args.loss,
    )
    from hwprune.io import atomic_write_text

    def build(tmp: Path) -> None:
        plan.save(tmp / "plan.json")
        atomic_write_text(tmp / "plan.md", plan_markdown(plan, plot_plan(plan, tmp)))

    _publish(build, out)
    print(
        f"{plan.unpruned_ms:.4f} ms -> {plan.latency_ms:.4f} ms on {plan.hw} ({plan.speedup:.2f}x); "
        f"wrote {out / 'plan.json'}"
    )
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    import torch

    import hwprune
    from hwprune.emit.spec import save_spec

    out = _out_folder(args.out)
    model, x = _model_and_input(args)
    slim = hwprune.prune(
        model,
        x,
        ratio=args.ratio,
        importance=args.importance,
        round_to=args.round_to,
        excludes=tuple(args.exclude),
    )
    from hwprune.io import save_state_dict

    def build(tmp: Path) -> None:
        save_spec(slim, tmp / "slim.spec.json")
        save_state_dict(tmp / "slim.pt", slim.state_dict())

    _publish(build, out)
    before = sum(p.numel() for p in model.parameters())
    after = sum(p.numel() for p in slim.parameters())
    with torch.no_grad():
        slim(x)
    print(f"parameters {before} -> {after}; wrote {out / 'slim.spec.json'} and {out / 'slim.pt'}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    import hwprune

    out = _out_folder(args.out) if args.out is not None else None
    model, x = _model_and_input(args)
    rep = hwprune.simulate(model, x, hw=args.hw, mode=args.mode, strict=args.strict, progress=not args.quiet)
    print(f"{args.model} on {args.hw}: {rep.total_cycles} cycles, {rep.latency_ms:.4f} ms, {rep.fps:.1f} FPS")
    if out is not None:
        from hwmodel.reports import write_csv_reports, write_markdown_report

        def build(tmp: Path) -> None:
            write_csv_reports(rep, tmp)
            write_markdown_report(rep, tmp)

        _publish(build, out)
        print(f"wrote {out}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from hwprune.io import atomic_write_text
    from hwprune.planning.plan import Plan
    from hwprune.report.plan_report import plan_markdown, plot_plan

    plan = Plan.load(args.plan)
    out = _out_folder(args.out or str(Path(args.plan).parent))

    def build(tmp: Path) -> None:
        atomic_write_text(tmp / "plan.md", plan_markdown(plan, plot_plan(plan, tmp)))

    _publish(build, out)
    print(f"wrote {out / 'plan.md'}")
    return 0


def _cmd_reports(args: argparse.Namespace) -> int:
    from hwprune.report.nets import write_net_reports

    _out_folder(args.out)
    index = write_net_reports(
        args.out,
        tuple(args.hw) or ("dpu-b4096", "systolic-32x32-ws"),
        tuple(args.net) if args.net else None,
        progress=not args.quiet,
    )
    print(f"wrote {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="hwprune", description="Hardware-aware pruning to a latency budget.")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "optimize", help="train/load a baseline, plan, apply, fine-tune, report (the main job)"
    )
    _common_model(p)
    _add_data_args(p)
    p.add_argument("--hw", default="dpu-b4096", type=_name, help="accelerator preset or config file")
    p.add_argument(
        "--budget", default="0.5", type=_budget, help="fraction of unpruned latency, '2.5ms' or cycles"
    )
    p.add_argument("--nm", default="auto", choices=("auto", "on", "off"), help="plan N:M sparsity too")
    p.add_argument("--epochs", type=_int_at_least(0), default=15, help="baseline training epochs (cached)")
    p.add_argument("--finetune-epochs", type=_int_at_least(0), default=8)
    p.add_argument("--batch-size", type=_int_at_least(1), default=64)
    p.add_argument("--lr", type=_positive_float, default=0.05)
    p.add_argument("--finetune-lr", type=_positive_float, default=0.02)
    p.add_argument("--importance", default="l1", type=_name)
    p.add_argument("--solver", default="greedy", choices=("greedy", "exact"))
    p.add_argument(
        "--loss",
        default="log",
        choices=("log", "linear"),
        help="loss proxy: log charges -ln(share kept), linear the share removed",
    )
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument(
        "--exclude", action="append", default=[], type=_name, help="module name to keep unpruned (repeatable)"
    )
    p.add_argument("--out", default=None, type=_name, help="run folder (default runs/<model>-<hw>-<budget>)")
    p.add_argument("--strict", action="store_true", help="an op without a cost model is an error")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_cmd_optimize, num_classes=None)  # classes come from the data unless given

    p = sub.add_parser("plan", help="plan kept channels and N:M patterns for a latency budget")
    _common_model(p)
    p.add_argument("--hw", default="dpu-b4096", type=_name)
    p.add_argument("--budget", default="0.5", type=_budget)
    p.add_argument("--nm", default="auto", choices=("auto", "on", "off"))
    p.add_argument("--importance", default="l1", type=_name)
    p.add_argument("--solver", default="greedy", choices=("greedy", "exact"))
    p.add_argument(
        "--loss",
        default="log",
        choices=("log", "linear"),
        help="loss proxy: log charges -ln(share kept), linear the share removed",
    )
    p.add_argument("--exclude", action="append", default=[], type=_name)
    p.add_argument("--strict", action="store_true", help="an op without a cost model is an error")
    p.add_argument("--out", default="runs/plan", type=_name)
    p.set_defaults(fn=_cmd_plan)

    p = sub.add_parser("prune", help="uniform per-group channel pruning")
    _common_model(p)
    p.add_argument("--ratio", type=_ratio, required=True)
    p.add_argument("--importance", default="l1", type=_name)
    p.add_argument("--round-to", type=_int_at_least(1), default=None)
    p.add_argument("--exclude", action="append", default=[], type=_name)
    p.add_argument("--out", default="runs/prune", type=_name)
    p.set_defaults(fn=_cmd_prune)

    p = sub.add_parser("simulate", help="simulate a model on modelled hardware")
    _common_model(p)
    p.add_argument("--hw", default="dpu-b4096", type=_name)
    p.add_argument("--mode", default="cycle", choices=("cycle", "analytic"))
    p.add_argument("--strict", action="store_true", help="an op without a cost model is an error")
    p.add_argument("--quiet", action="store_true", help="no per-layer progress in long cycle-mode runs")
    p.add_argument("--out", default=None, type=_name, help="folder for CSV and Markdown reports")
    p.set_defaults(fn=_cmd_simulate)

    p = sub.add_parser("reports", help="simulator reports of every reference net (writes reports/simulator)")
    p.add_argument("--out", default="reports/simulator", type=_name)
    p.add_argument(
        "--hw",
        action="append",
        default=[],
        type=_name,
        help="preset (repeatable; default dpu-b4096 and systolic-32x32-ws)",
    )
    p.add_argument(
        "--net", action="append", default=[], type=_name, help="reference net (repeatable; default all)"
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_cmd_reports)

    p = sub.add_parser("ofa", help="once-for-all: supernet, sandwich training, search under a latency range")
    _common_model(p)
    _add_data_args(p)
    p.add_argument("--hw", default="dpu-b4096", type=_name, help="accelerator preset or config file")
    p.add_argument(
        "--latency",
        default=_latency_range("0.4:0.8:0.1"),
        type=_latency_range,
        help="MIN:MAX[:STEP] of the searched latency: fractions of unpruned, times or cycles",
    )
    p.add_argument("--expand-ratio", default=(0.5, 0.75, 1.0), type=_ratios, help="e.g. 0.5,0.75,1")
    p.add_argument("--channel-divisible", type=_int_at_least(1), default=8)
    p.add_argument(
        "--kernel-sizes",
        default=(3, 5, 7),
        type=_kernel_sizes,
        help="elastic kernel sizes (centre crops of 5x5/7x7... convs; OFA's 3,5,7), or 'none'",
    )
    p.add_argument(
        "--elastic-depth",
        action="store_true",
        help="subnets may also skip residual blocks whose identity path allows it",
    )
    p.add_argument("--epochs", type=_int_at_least(0), default=15, help="baseline training epochs (cached)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=64)
    p.add_argument("--lr", type=_positive_float, default=0.05, help="baseline learning rate")
    p.add_argument("--ofa-epochs", type=_int_at_least(0), default=5, help="supernet training epochs")
    p.add_argument("--ofa-lr", type=_positive_float, default=0.02)
    p.add_argument(
        "--n-random", type=_int_at_least(0), default=2, help="random subnets per batch (sandwich rule)"
    )
    p.add_argument("--parent-popu-size", type=_int_at_least(1), default=16)
    p.add_argument("--iteration", type=_int_at_least(0), default=10)
    p.add_argument("--mutate-size", type=_int_at_least(0), default=8)
    p.add_argument("--crossover-size", type=_int_at_least(0), default=4)
    p.add_argument("--calib-batches", type=_int_at_least(1), default=10)
    p.add_argument(
        "--eval-batches",
        type=_int_at_least(1),
        default=20,
        help="held-out batches scoring each candidate (of the --val-fraction split)",
    )
    p.add_argument(
        "--val-fraction",
        type=_fraction_open,
        default=0.1,
        help="share of the training data held out to score candidates (never trained on; not the test set)",
    )
    p.add_argument(
        "--finetune-epochs", type=_int_at_least(0), default=0, help="fine-tuning of each Pareto subnet"
    )
    p.add_argument("--finetune-lr", type=_positive_float, default=0.01)
    p.add_argument("--backend", default="process", choices=("serial", "process", "ray"))
    p.add_argument("--workers", type=_int_at_least(1), default=None)
    p.add_argument("--exclude", action="append", default=[], type=_name)
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument(
        "--out", default=None, type=_name, help="run folder (default runs/ofa-<model>-<hw>-<range>)"
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_cmd_ofa, num_classes=None)

    p = sub.add_parser("report", help="Markdown + plots of a plan.json")
    p.add_argument("plan", type=_name)
    p.add_argument("--out", default=None, type=_name)
    p.set_defaults(fn=_cmd_report)
    return ap


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _command(argv: list[str]) -> str:
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as e:
        cmd = _command(argv)
        print(f"hwprune{' ' + cmd if cmd else ''}: error: {_one_line(e)}", file=sys.stderr)
        return 2

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:  # one line per warning
        print(f"hwprune {args.cmd}: warning: {_one_line(message)}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = show
            rc: int = args.fn(args)
            return rc
    except (HwPruneError, HwModelError) as e:
        print(f"hwprune {args.cmd}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # a folder or file the user named cannot be read or written
        where = f" {e.filename}" if e.filename else ""
        print(f"hwprune {args.cmd}: error: cannot access{where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hwprune {args.cmd}: interrupted; files written so far are complete (atomic)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
