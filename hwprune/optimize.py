"""``hwprune optimize``: train (or load) a baseline, plan to a latency budget, apply, fine-tune, report.

The run folder holds ``plan.json``, the slim model (``slim.spec.json`` + ``slim.pt`` state_dict with
N:M masks baked in; rebuild with ``hwprune.get_slim_model(original, spec, state_dict)`` and re-apply
the masks from the plan), ``metrics.json`` and ``report.md`` with plots.

Honest by construction:

* Every argument is checked before any training (:func:`validate`): budget syntax *and* reachability
  (a dry plan of the untrained model), hardware, excludes, input shape, seed, classes, data, device,
  weights, and that the run and cache folders can be written. The input shape and class count come
  from the data (``--data digits|synthetic|fashion-mnist|imagefolder:PATH|package.module:factory``);
  a model that does not accept them, or ``--weights`` whose keys or shapes do not fit, is refused.
* ``--weights`` starts from the user's trained model: the baseline is evaluated, not trained.
* Training, fine-tuning, BN calibration and evaluation run on ``--device``; launched under
  ``torchrun --nproc_per_node N`` they run data-parallel, and rank 0 alone writes files. The
  simulated latency never depends on the device.
* Baselines are cached under ``cache_dir`` (``.hwprune/cache``, or the user cache folder when the
  working directory is read-only); training writes a checkpoint every epoch and a rerun resumes it.
* The run folder is all-or-nothing: the new run is built in a sibling staging folder and swapped in
  at the end (``hwmodel.atomic.publish_dir``); the previous run is kept as ``<out>.prev``. A failed
  run leaves no folder behind.
* An existing ``plan.json`` is reused only when every input that shaped it matches
  (``hwprune.planning.reuse``); otherwise the run says why and replans. A corrupt or foreign plan is
  moved aside to ``plan.json.stale-<timestamp>``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from hwmodel.atomic import clean_staging, publish_dir, recover_dir, staging_dir
from hwprune.errors import PruneConfigError
from hwprune.io import atomic_write_text, save_state_dict, write_json
from hwprune.runtime.userfn import load_callable

if TYPE_CHECKING:
    from hwprune.train.datasets import DataBundle

__all__ = ["OptimizeConfig", "optimize", "validate", "load_factory", "make_model", "default_cache_dir"]


@dataclass(frozen=True)
class OptimizeConfig:
    """Everything ``hwprune optimize`` needs; the CLI fills it from its flags.

    Attributes:
        model: a reference net name (``hwprune.models.names()``) or ``package.module:factory``.
        data: "digits" (scikit-learn's bundled digits, upscaled), "synthetic", "fashion-mnist",
            "imagefolder:PATH" (``PATH/train/<class>/*`` and ``PATH/val/<class>/*``) or
            "package.module:factory" returning ``(train_loader, val_loader)``.
        data_dir: Fashion-MNIST's folder (default: where Debian's dataset-fashion-mnist puts it).
        train_subset: train on a stratified subset of this many images (fashion-mnist only).
        weights: a trained state_dict (or checkpoint holding one under state_dict/model) to start
            from; the baseline is then evaluated, not trained.
        device: "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".
        threads: torch's CPU threads for this process (None: torch's own choice). One per process
            keeps a shared machine's cores from spinning against each other.
        hw: accelerator preset or config file.
        budget: latency budget (fraction, "2.5ms", cycles).
        nm: "auto", "on" or "off".
        epochs / finetune_epochs: baseline training and fine-tuning epochs.
        loss: the planner's loss proxy, "log" or "linear" (:func:`hwprune.plan`'s ``loss``).
        input_size / in_channels / num_classes: image side, channels and class count; None takes
            them from the data (a given value that contradicts the data is an error).
        out: run folder.
        cache_dir: baseline cache; None picks :func:`default_cache_dir`.
        strict: an op without a cost model is an error, not a warning.
    """

    model: str = "resnet20"
    data: str = "digits"
    data_dir: str | None = None
    train_subset: int | None = None
    weights: str | None = None
    device: str = "auto"
    threads: int | None = None
    hw: str = "dpu-b4096"
    budget: str = "0.5"
    nm: str = "auto"
    epochs: int = 15
    finetune_epochs: int = 8
    batch_size: int = 64
    lr: float = 0.05
    finetune_lr: float = 0.02
    importance: str = "l1"
    solver: str = "greedy"
    loss: str = "log"
    seed: int = 0
    input_size: int | None = None
    in_channels: int | None = None
    num_classes: int | None = None
    excludes: tuple[str, ...] = ()
    out: str = "runs/optimize"
    cache_dir: str | None = None
    progress: bool = True
    strict: bool = False


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """``"package.module:factory"`` -> the callable (clear errors for each way it can be wrong)."""
    fn: Callable[[], nn.Module] = load_callable(
        spec, "--model", PruneConfigError, "a reference net name or 'package.module:factory'"
    )
    return fn


def make_model(spec: str) -> nn.Module:
    """Call the factory ``"package.module:factory"`` names; any failure is a :class:`PruneConfigError`."""
    fn = load_factory(spec)
    try:
        model = fn()
    except Exception as e:  # the user's code: report what it raised, in one line
        raise PruneConfigError(f"--model {spec!r}: calling {spec}() raised {type(e).__name__}: {e}") from e
    if not isinstance(model, nn.Module):
        raise PruneConfigError(
            f"--model {spec!r}: the factory returned {type(model).__name__}, not nn.Module"
        )
    return model


def _writable(folder: Path) -> bool:
    """True when ``folder`` (or, if missing, its nearest existing ancestor) accepts new files."""
    p = folder.absolute()
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK | os.X_OK)


def default_cache_dir() -> Path:
    """``.hwprune/cache`` under the working directory, or the user cache folder when that is read-only
    (``$XDG_CACHE_HOME/hwprune``, default ``~/.cache/hwprune``)."""
    local = Path(".hwprune") / "cache"
    if _writable(local):
        return local
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hwprune"


def _data(cfg: OptimizeConfig, channels: int | None) -> DataBundle:
    """The loaders ``--data`` names, with the input shape and class count read from the data."""
    from hwprune.errors import DataError
    from hwprune.train.datasets import resolve_data

    bundle = resolve_data(
        cfg.data,
        data_dir=cfg.data_dir,
        batch_size=cfg.batch_size,
        size=cfg.input_size,
        channels=channels,
        subset=cfg.train_subset,
        seed=cfg.seed,
        num_classes=cfg.num_classes if cfg.data == "synthetic" else None,
    )
    if len(bundle.input_shape) != 3:
        raise DataError(
            f"--data {cfg.data}: samples have shape {bundle.input_shape}; optimize needs images (C, H, W)"
        )
    c, h, w = bundle.input_shape
    if cfg.in_channels is not None and cfg.in_channels != c:
        raise PruneConfigError(f"--in-channels {cfg.in_channels}: the data ({cfg.data}) has {c} channels")
    if cfg.input_size is not None and (h, w) != (cfg.input_size, cfg.input_size):
        raise PruneConfigError(f"--input-size {cfg.input_size}: the data ({cfg.data}) has {h}x{w} images")
    if cfg.num_classes is not None and cfg.num_classes != bundle.num_classes:
        raise PruneConfigError(
            f"--num-classes {cfg.num_classes}: the data ({cfg.data}) has "
            f"{bundle.num_classes} classes; leave --num-classes out to take it from the data"
        )
    return bundle


def _first_in_channels(model: nn.Module) -> int | None:
    """The input channels of a model's first convolution (how a user's model wants grey data fed)."""
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return m.in_channels
    return None


def _build_model(cfg: OptimizeConfig, shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from hwprune import models

    if cfg.model not in models.names():
        raise PruneConfigError(
            f"unknown model {cfg.model!r}; use one of {', '.join(models.names())} or 'package.module:factory'"
        )
    torch.manual_seed(cfg.seed)
    return models.get(cfg.model, num_classes=num_classes, in_channels=shape[0])


def _check_fits(cfg: OptimizeConfig, model: nn.Module, example: torch.Tensor, num_classes: int) -> None:
    """One forward pass of the example: the model must take the data's images and give its classes."""
    was_training = model.training
    try:
        with torch.no_grad():
            out = model.eval()(example)
    except Exception as e:  # the user's model: say which input it refused, in one line
        raise PruneConfigError(
            f"--model {cfg.model} does not accept the inputs of --data {cfg.data} "
            f"(shape {tuple(example.shape)}): {type(e).__name__}: {e}"
        ) from e
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] != num_classes:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise PruneConfigError(
            f"--model {cfg.model} outputs {got} for one image, but --data {cfg.data} has "
            f"{num_classes} classes: the model must output (N, {num_classes}) logits"
        )


def _say(cfg: OptimizeConfig, msg: str) -> None:
    from hwprune.train.device import is_main_process

    if cfg.progress and is_main_process():
        print(f"[hwprune] {msg}", flush=True)


def _check_fields(cfg: OptimizeConfig) -> None:
    """Range checks that need no model: each names the flag and says what is allowed."""
    from hwprune.analysis.importance import criteria
    from hwprune.planning.budget import parse_budget
    from hwprune.planning.planner import SOLVERS

    def count(name: str, value: Any, low: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise PruneConfigError(f"--{name} must be an integer >= {low}, got {value!r}")

    def rate(name: str, value: Any) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (math.isfinite(value) and value > 0)
        ):
            raise PruneConfigError(f"--{name} must be a positive number, got {value!r}")

    count("epochs", cfg.epochs, 0)
    count("finetune-epochs", cfg.finetune_epochs, 0)
    count("batch-size", cfg.batch_size, 1)
    count("seed", cfg.seed, 0)
    if cfg.input_size is not None:
        count("input-size", cfg.input_size, 8)
    if cfg.num_classes is not None:
        count("num-classes", cfg.num_classes, 2)
    if cfg.in_channels is not None:
        count("in-channels", cfg.in_channels, 1)
    if cfg.threads is not None:
        count("threads", cfg.threads, 1)
    if cfg.train_subset is not None:
        count("train-subset", cfg.train_subset, 1)
        if cfg.data != "fashion-mnist":
            raise PruneConfigError(f"--train-subset applies to --data fashion-mnist, not {cfg.data!r}")
    rate("lr", cfg.lr)
    rate("finetune-lr", cfg.finetune_lr)
    if cfg.data_dir is not None and cfg.data != "fashion-mnist":
        raise PruneConfigError(
            f"--data-dir applies to --data fashion-mnist, not {cfg.data!r} "
            "(an image folder is given as imagefolder:PATH)"
        )
    if cfg.nm not in ("auto", "on", "off"):
        raise PruneConfigError(f"--nm {cfg.nm!r}: use auto, on or off")
    if cfg.solver not in SOLVERS:
        raise PruneConfigError(f"--solver {cfg.solver!r}: use one of {', '.join(SOLVERS)}")
    from hwprune.planning.build import LOSS_SHAPES

    if cfg.loss not in LOSS_SHAPES:
        raise PruneConfigError(f"--loss {cfg.loss!r}: use one of {', '.join(LOSS_SHAPES)}")
    if cfg.importance not in criteria():
        raise PruneConfigError(f"--importance {cfg.importance!r}: use one of {', '.join(criteria())}")
    if cfg.importance == "taylor":
        raise PruneConfigError(
            "--importance taylor needs gradients, which optimize does not collect; "
            f"use one of {', '.join(c for c in criteria() if c != 'taylor')}"
        )
    parse_budget(_budget_value(cfg.budget))
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise PruneConfigError(f"--out {out}: exists and is not a folder")
    if not _writable(out.parent):
        raise PruneConfigError(
            f"--out {out}: cannot create files in {out.parent.absolute()} (read-only, or "
            "not a folder); choose another --out"
        )


@dataclass(frozen=True)
class _Prepared:
    model: nn.Module
    channels: int
    train_loader: Any
    test_loader: Any
    example: torch.Tensor
    cache_dir: Path
    device: torch.device
    input_shape: tuple[int, ...]
    num_classes: int
    traced: Any  # hwprune.Traced of ``model``: the job's one trace


def validate(cfg: OptimizeConfig) -> _Prepared:
    """Check every argument before any training; returns the model (untrained, or with ``--weights``
    loaded), loaders, device and cache folder.

    The data is opened first (its input shape and class count size the model); the model must accept
    its images and output its classes; ``--weights`` must match the model key by key. The budget's
    reachability, the hardware, N:M mode and excludes are checked by planning the model
    (reachability depends on the structure, not on the weights).

    Raises:
        HwPruneError (and subclasses): the first problem found, naming the flag.
    """
    import hwprune
    from hwprune.lower.simulate import resolve_hw
    from hwprune.train.device import init_distributed, resolve_device
    from hwprune.train.weights import load_weights

    _check_fields(cfg)
    resolve_hw(cfg.hw)
    device = resolve_device(cfg.device)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    if not _writable(cache_dir):
        raise PruneConfigError(
            f"--cache-dir {cache_dir}: cannot create files there (read-only, or not a "
            "folder); choose another --cache-dir"
        )
    if cfg.weights is not None and not Path(cfg.weights).is_file():
        raise PruneConfigError(f"--weights {cfg.weights}: no such file")
    torch.manual_seed(cfg.seed)
    if ":" in cfg.model:  # a user's model: grey data is repeated to the channels its stem takes
        model = make_model(cfg.model)
        bundle = _data(cfg, cfg.in_channels or _first_in_channels(model))
    else:
        bundle = _data(cfg, cfg.in_channels)
        model = _build_model(cfg, bundle.input_shape, bundle.num_classes)
    example = next(iter(bundle.val_loader))[0][:1].cpu()
    _check_fits(cfg, model, example, bundle.num_classes)
    if cfg.weights is not None:
        load_weights(model, cfg.weights)
    init_distributed(device)
    traced = hwprune.Traced(model, example)  # the job's one trace of the model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the real plan warns once, later
        hwprune.plan_graph(
            traced,
            hw=cfg.hw,
            budget=_budget_value(cfg.budget),
            nm=_NM[cfg.nm],
            excludes=cfg.excludes,
            importance=cfg.importance,
            solver="greedy",
            check=False,
            strict=cfg.strict,
            loss=cfg.loss,
        )
    return _Prepared(
        model,
        bundle.input_shape[0],
        bundle.train_loader,
        bundle.val_loader,
        example,
        cache_dir,
        device,
        bundle.input_shape,
        bundle.num_classes,
        traced,
    )


_NM: dict[str, bool | str] = {"auto": "auto", "on": True, "off": False}


def _baseline(cfg: OptimizeConfig, prep: _Prepared) -> tuple[Path, str]:
    """Train the baseline, load it from the cache, or take ``--weights``; returns (file, how): how is
    "weights", "cached" or "trained"."""
    from hwprune.train.device import barrier, is_distributed, is_main_process
    from hwprune.train.loop import train

    if cfg.weights is not None:  # loaded (and checked) by validate: evaluated, never retrained
        return Path(cfg.weights), "weights"
    model = prep.model
    h = prep.traced.structure_hash
    recipe = json.dumps(
        [
            cfg.model,
            cfg.data,
            cfg.data_dir,
            cfg.train_subset,
            list(prep.input_shape),
            prep.num_classes,
            cfg.epochs,
            cfg.lr,
            cfg.batch_size,
            cfg.seed,
            h,
        ],
        sort_keys=True,
    )
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    cache = prep.cache_dir / f"{cfg.model.replace(':', '_').replace('.', '_')}-{cfg.data}-{key}.pt"
    barrier()  # every process decides on the same cache state
    if cache.is_file():
        try:
            model.load_state_dict(torch.load(cache, map_location="cpu", weights_only=True))
            return cache, "cached"
        except Exception as e:  # a truncated or foreign cache entry: set it aside and retrain
            from hwprune.runtime.store import move_aside

            moved = move_aside(cache)
            _say(cfg, f"cached baseline {cache} is unreadable ({type(e).__name__}); moved it to {moved.name}")
    ckpt = cache.with_suffix(".ckpt")
    resumed = " (resuming its checkpoint)" if ckpt.is_file() else ""
    _say(cfg, f"training baseline {cfg.model} on {cfg.data} for {cfg.epochs} epochs{resumed}")
    # under torchrun the processes train together; resuming one process's checkpoint is not supported
    train(
        model,
        prep.train_loader,
        cfg.epochs,
        lr=cfg.lr,
        seed=cfg.seed,
        progress=cfg.progress,
        checkpoint=None if is_distributed() else ckpt,
        device=prep.device,
    )
    model.cpu()
    if is_main_process():
        save_state_dict(cache, model.state_dict())
    barrier()
    return cache, "trained"


def optimize(cfg: OptimizeConfig) -> dict[str, Any]:
    """Run the whole job; returns the metrics written to ``metrics.json``.

    Raises:
        HwPruneError (and subclasses): bad configuration, unreachable budget, ... (all found before
        any training; see :func:`validate`).
    """
    import tempfile

    from hwprune.train.device import barrier, close_distributed, is_main_process, world

    t0 = time.time()
    out = Path(cfg.out)
    if world()[0] == 0:
        recover_dir(out)  # a run killed mid-swap (non-Linux) put the previous run aside: restore it
        clean_staging(out)
    prep = validate(cfg)
    if not is_main_process():  # another torchrun process: the same work, its files thrown away
        stage = Path(tempfile.mkdtemp(prefix="hwprune-rank-"))
        try:
            metrics = _run(cfg, prep, out, stage, t0)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        barrier()
        close_distributed()
        return metrics
    stage = staging_dir(out)
    try:
        metrics = _run(cfg, prep, out, stage, t0)
        publish_dir(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    barrier()
    close_distributed()  # only after success: a failed process must not leave the others in a barrier
    _say(
        cfg,
        f"wrote {out} ({metrics['seconds']}s)"
        + (f"; previous run kept as {out}.prev" if Path(f"{out}.prev").is_dir() else ""),
    )
    return metrics


def _run(cfg: OptimizeConfig, prep: _Prepared, out: Path, stage: Path, t0: float) -> dict[str, Any]:
    """The job after validation: baseline, plan, compress + fine-tune, write the run into ``stage``."""
    cache, source, base_acc = _baseline_step(cfg, prep)
    plan, reused = _plan_step(cfg, prep, out)
    plan.save(stage / "plan.json")
    slim, sim, accs = _compress_step(cfg, prep, plan)
    return _write_run(
        cfg,
        prep,
        stage,
        t0,
        plan=plan,
        reused=reused,
        slim=slim,
        sim=sim,
        accs={"baseline_accuracy": base_acc, **accs},
        cache=cache,
        source=source,
    )


def _baseline_step(cfg: OptimizeConfig, prep: _Prepared) -> tuple[Path, str, float]:
    """1. baseline: --weights, or cached by model structure, data and recipe, or trained; evaluated."""
    from hwprune.train.loop import evaluate

    cache, source = _baseline(cfg, prep)
    if source != "trained":
        _say(cfg, f"baseline {'weights' if source == 'weights' else 'loaded'} from {cache}")
    prep.model.eval()
    base_acc = evaluate(prep.model, prep.test_loader, device=prep.device)
    prep.model.cpu()  # planning and simulation run on the CPU, whatever the training device
    prep.traced.sync()  # moving the model between devices replaced its buffers: the graph reads the new ones
    _say(cfg, f"baseline accuracy {base_acc:.4f}")
    return cache, source, base_acc


def _plan_step(cfg: OptimizeConfig, prep: _Prepared, out: Path) -> tuple[Any, bool]:
    """2. plan: the previous run's, when everything that shaped it matches; else a new one."""
    import hwprune
    from hwprune.planning.planner import plan_key
    from hwprune.planning.reuse import reuse_plan

    budget, nm = _budget_value(cfg.budget), _NM[cfg.nm]
    key = plan_key(
        prep.traced,
        None,
        cfg.hw,
        budget,
        nm=nm,
        excludes=cfg.excludes,
        importance=cfg.importance,
        solver=cfg.solver,
        loss=cfg.loss,
    )
    reuse = reuse_plan(out / "plan.json", key)
    if reuse.why:
        _say(cfg, reuse.why)
    if reuse.plan is not None:
        return reuse.plan, True
    t = time.time()
    plan = hwprune.plan_graph(
        prep.traced,
        cfg.hw,
        budget,
        nm=nm,
        excludes=cfg.excludes,
        importance=cfg.importance,
        solver=cfg.solver,
        strict=cfg.strict,
        loss=cfg.loss,
    )
    board = ""
    if plan.hw_config.get("engine") == "dpu":
        from hwmodel.dpu.board import board_speedup

        frame_x = board_speedup(plan.unpruned_ms, plan.latency_ms)
        board = f"; {frame_x:.2f}x of a board's frame time with its fixed per-frame cost (report.md)"
    _say(
        cfg,
        f"planned in {time.time() - t:.1f}s: {plan.unpruned_ms:.4f} ms -> {plan.latency_ms:.4f} ms "
        f"on {plan.hw} ({plan.speedup:.2f}x), budget {plan.budget}{board}",
    )
    return plan, False


def _compress_step(
    cfg: OptimizeConfig, prep: _Prepared, plan: Any
) -> tuple[nn.Module, Any, dict[str, float]]:
    """3. apply and emit (checked step by step; the slim model's latency is its applied IR's), evaluate,
    recalibrate BN, fine-tune with the masks kept; returns (slim, its simulation report, accuracies)."""
    from hwprune.pipeline import compress
    from hwprune.train.calibrate import adaptive_bn, loader_calibration
    from hwprune.train.loop import evaluate, train

    dev, test_loader = prep.device, prep.test_loader
    done = compress(prep.traced, plan=plan)
    slim = done.model
    pruned_acc = evaluate(slim, test_loader, device=dev)
    # removed channels shift the statistics downstream BNs see: re-estimate them (EagleEye's adaptive BN)
    adaptive_bn(slim, loader_calibration, (prep.train_loader, 20))
    calibrated_acc = evaluate(slim, test_loader, device=dev)
    _say(
        cfg,
        f"pruned accuracy {pruned_acc:.4f}, {calibrated_acc:.4f} after BN recalibration; "
        f"fine-tuning {cfg.finetune_epochs} epochs",
    )
    if cfg.finetune_epochs > 0:
        train(
            slim,
            prep.train_loader,
            cfg.finetune_epochs,
            lr=cfg.finetune_lr,
            seed=cfg.seed,
            progress=cfg.progress,
            device=dev,
        )
    slim.eval()
    final_acc = evaluate(slim, test_loader, device=dev)
    slim.cpu()
    return (
        slim,
        done.report,
        {
            "pruned_accuracy": pruned_acc,
            "bn_recalibrated_accuracy": calibrated_acc,
            "finetuned_accuracy": final_acc,
        },
    )


def _write_run(
    cfg: OptimizeConfig,
    prep: _Prepared,
    stage: Path,
    t0: float,
    *,
    plan: Any,
    reused: bool,
    slim: nn.Module,
    sim: Any,
    accs: dict[str, float],
    cache: Path,
    source: str,
) -> dict[str, Any]:
    """4. write the run into the staging folder (swapped in by the caller); returns the metrics."""
    from hwprune.emit.spec import save_spec
    from hwprune.report.plan_report import plan_markdown, plot_plan
    from hwprune.transforms.nm import bake

    baked = bake(slim)
    save_spec(slim, stage / "slim.spec.json")
    save_state_dict(stage / "slim.pt", baked.state_dict())
    plots = plot_plan(plan, stage)
    seconds = round(time.time() - t0, 1)
    train_loader, test_loader, dev = prep.train_loader, prep.test_loader, prep.device
    metrics = {
        "model": cfg.model,
        "data": cfg.data,
        "input_shape": list(prep.input_shape),
        "num_classes": prep.num_classes,
        "train_images": _count(train_loader),
        "val_images": _count(test_loader),
        "device": str(dev),
        "world_size": _world_size(),
        "baseline_source": source,
        "hw": plan.hw,
        "budget": plan.budget,
        **accs,
        "unpruned_cycles": plan.unpruned_cycles,
        "cycles": plan.cycles,
        "slim_simulated_cycles": sim.total_cycles,
        "latency_ms": plan.latency_ms,
        "unpruned_ms": plan.unpruned_ms,
        "speedup": plan.speedup,
        "macs": plan.macs,
        "macs_before": plan.macs_before,
        "params": sum(p.numel() for p in baked.parameters()),
        "params_before": sum(p.numel() for p in prep.model.parameters()),
        "nm_layers": plan.nm(),
        "unmodelled": list(plan.unmodelled),
        "plan_reused": reused,
        "baseline_cache": str(cache),
        "seconds": seconds,
        "config": asdict(cfg),
    }
    write_json(stage / "metrics.json", metrics)
    acc = " / ".join(
        f"{accs[k]:.4f}"
        for k in ("baseline_accuracy", "pruned_accuracy", "bn_recalibrated_accuracy", "finetuned_accuracy")
    )
    extra = {
        "model": f"{cfg.model} ({metrics['params_before']} parameters)",
        "data": f"{cfg.data}, {'x'.join(map(str, prep.input_shape[1:]))}x{prep.channels}, "
        f"{prep.num_classes} classes, {metrics['train_images']} training / "
        f"{metrics['val_images']} validation images",
        "device": f"{dev} ({metrics['world_size']} process{'es' if metrics['world_size'] > 1 else ''})",
        "hardware": f"{plan.hw} ({cfg.hw})",
        "epochs": (
            f"baseline from --weights {cfg.weights} (not trained)"
            if source == "weights"
            else f"baseline {cfg.epochs} ({source})"
        )
        + f", fine-tuning {cfg.finetune_epochs}",
        "wall time": f"{seconds} s",
        "plan": "reused from the previous run (same inputs)" if reused else "planned in this run",
        "accuracy (baseline / pruned / BN recalibrated / fine-tuned)": acc,
        "parameters": f"{metrics['params_before']} -> {metrics['params']}",
        "slim model re-simulated (cycles)": sim.total_cycles,
    }
    atomic_write_text(stage / "report.md", plan_markdown(plan, plots, extra))
    _say(cfg, f"accuracy {accs['baseline_accuracy']:.4f} -> {accs['finetuned_accuracy']:.4f}")
    return metrics


def _count(loader: Any) -> int | None:
    try:
        return len(loader.dataset)
    except TypeError:
        return None


def _world_size() -> int:
    """Processes training together (1 unless launched by torchrun)."""
    from hwprune.train.device import is_distributed

    return torch.distributed.get_world_size() if is_distributed() else 1


def _budget_value(budget: str) -> float | int | str:
    text = str(budget).strip()
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def _budget_str(budget: str) -> str:
    from hwprune.planning.budget import parse_budget

    return str(parse_budget(_budget_value(budget)))
