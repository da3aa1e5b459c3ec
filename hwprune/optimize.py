"""``hwprune optimize``: train (or load) a baseline, plan to a latency budget, apply, fine-tune, report.

The run folder holds ``plan.json``, the slim model (``slim.spec.json`` + ``slim.pt`` state_dict with
N:M masks baked in; rebuild with ``hwprune.get_slim_model(original, spec, state_dict)`` and re-apply
the masks from the plan), ``metrics.json`` and ``report.md`` with plots. Baselines are cached under
``.hwprune/cache`` so a second run (or a resumed one) skips training; an existing ``plan.json`` for
the same model, hardware and budget is reused.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwprune.errors import HwPruneError, PruneConfigError
from hwprune.io import atomic_write_text, save_state_dict, write_json

__all__ = ["OptimizeConfig", "optimize", "load_factory"]


@dataclass(frozen=True)
class OptimizeConfig:
    """Everything ``hwprune optimize`` needs; the CLI fills it from its flags.

    Attributes:
        model: a reference net name (``hwprune.models.names()``) or ``package.module:factory``.
        data: "digits" (scikit-learn's bundled digits, upscaled) or "synthetic".
        hw: accelerator preset or config file.
        budget: latency budget (fraction, "2.5ms", cycles).
        nm: "auto", "on" or "off".
        epochs / finetune_epochs: baseline training and fine-tuning epochs.
        out: run folder.
    """

    model: str = "resnet20"
    data: str = "digits"
    hw: str = "dpu-b4096"
    budget: str = "0.6"
    nm: str = "auto"
    epochs: int = 15
    finetune_epochs: int = 8
    batch_size: int = 64
    lr: float = 0.05
    finetune_lr: float = 0.02
    importance: str = "l1"
    solver: str = "greedy"
    seed: int = 0
    input_size: int = 32
    in_channels: int | None = None
    num_classes: int = 10
    excludes: tuple[str, ...] = ()
    out: str = "runs/optimize"
    cache_dir: str = ".hwprune/cache"
    progress: bool = True


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """``"package.module:factory"`` -> the callable (clear errors for each way it can be wrong)."""
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise PruneConfigError(f"--model {spec!r}: give a reference net name or 'package.module:factory'")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise PruneConfigError(f"--model {spec!r}: cannot import {mod_name!r} ({e}); is it on PYTHONPATH?") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise PruneConfigError(f"--model {spec!r}: {mod_name} has no callable {attr!r}")
    return fn


def _build_model(cfg: OptimizeConfig) -> tuple[nn.Module, int]:
    from hwprune import models

    if ":" in cfg.model:
        model = load_factory(cfg.model)()
        if not isinstance(model, nn.Module):
            raise PruneConfigError(f"--model {cfg.model!r}: the factory returned {type(model).__name__}, not nn.Module")
        return model, cfg.in_channels or 3
    if cfg.model not in models.names():
        raise PruneConfigError(f"unknown model {cfg.model!r}; use one of {', '.join(models.names())} "
                               "or 'package.module:factory'")
    channels = cfg.in_channels or (1 if cfg.data == "digits" else 3)
    torch.manual_seed(cfg.seed)
    return models.get(cfg.model, num_classes=cfg.num_classes, in_channels=channels), channels


def _loaders(cfg: OptimizeConfig, channels: int):
    from hwprune.train.data import digits_loaders, synthetic_loaders

    if cfg.data == "digits":
        return digits_loaders(cfg.batch_size, size=cfg.input_size, channels=channels, seed=cfg.seed)
    if cfg.data == "synthetic":
        return synthetic_loaders(batch_size=cfg.batch_size, num_classes=cfg.num_classes,
                                 shape=(channels, cfg.input_size, cfg.input_size), seed=cfg.seed)
    raise PruneConfigError(f"unknown data {cfg.data!r}; use 'digits' or 'synthetic'")


def _say(cfg: OptimizeConfig, msg: str) -> None:
    if cfg.progress:
        print(f"[hwprune] {msg}", flush=True)


def optimize(cfg: OptimizeConfig) -> dict[str, Any]:
    """Run the whole job; returns the metrics written to ``metrics.json``.

    Raises:
        HwPruneError (and subclasses): bad configuration, unreachable budget, ...
    """
    import hwprune
    from hwprune.emit.spec import save_spec
    from hwprune.lower.simulate import resolve_hw
    from hwprune.report.plan_report import plan_markdown, plot_plan
    from hwprune.train.calibrate import adaptive_bn, loader_calibration
    from hwprune.train.loop import evaluate, train
    from hwprune.transforms.nm import bake

    t0 = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model, channels = _build_model(cfg)
    train_loader, test_loader = _loaders(cfg, channels)
    example = next(iter(test_loader))[0][:1]

    # 1. baseline: cached by model structure, data and recipe
    h = hwprune.structure_hash(hwprune.trace(model, example))
    recipe = json.dumps([cfg.model, cfg.data, cfg.input_size, channels, cfg.epochs, cfg.lr, cfg.batch_size,
                         cfg.seed, h], sort_keys=True)
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    cache = Path(cfg.cache_dir) / f"{cfg.model.replace(':', '_').replace('.', '_')}-{cfg.data}-{key}.pt"
    if cache.is_file():
        model.load_state_dict(torch.load(cache, map_location="cpu", weights_only=True))
        _say(cfg, f"baseline loaded from {cache}")
    else:
        _say(cfg, f"training baseline {cfg.model} on {cfg.data} for {cfg.epochs} epochs")
        train(model, train_loader, cfg.epochs, lr=cfg.lr, seed=cfg.seed, progress=cfg.progress)
        save_state_dict(cache, model.state_dict())
    model.eval()
    base_acc = evaluate(model, test_loader)
    _say(cfg, f"baseline accuracy {base_acc:.4f}")

    # 2. plan (reused when the run folder already has one for this model, hardware and budget)
    plan_path = out / "plan.json"
    plan = None
    hw_name = resolve_hw(cfg.hw).name
    if plan_path.is_file():
        try:
            old = hwprune.Plan.load(plan_path)
        except HwPruneError:
            old = None
        if old is not None and (old.model_hash, old.hw, old.budget, old.importance) == (
                h, hw_name, _budget_str(cfg.budget), cfg.importance):
            plan = old
            _say(cfg, f"reusing {plan_path}")
    if plan is None:
        t = time.time()
        plan = hwprune.plan(model, example, hw=cfg.hw, budget=_budget_value(cfg.budget),
                            nm={"auto": "auto", "on": True, "off": False}[cfg.nm], excludes=cfg.excludes,
                            importance=cfg.importance, solver=cfg.solver)
        plan.save(plan_path)
        _say(cfg, f"planned in {time.time() - t:.1f}s: {plan.unpruned_ms:.4f} ms -> {plan.latency_ms:.4f} ms "
                  f"on {plan.hw} ({plan.speedup:.2f}x), budget {plan.budget}")

    # 3. apply, evaluate, fine-tune with masks kept
    slim = hwprune.apply(model, example, plan)
    pruned_acc = evaluate(slim, test_loader)
    # removed channels shift the statistics downstream BNs see: re-estimate them (EagleEye's adaptive BN)
    adaptive_bn(slim, loader_calibration, (train_loader, 20))
    calibrated_acc = evaluate(slim, test_loader)
    _say(cfg, f"pruned accuracy {pruned_acc:.4f}, {calibrated_acc:.4f} after BN recalibration; "
              f"fine-tuning {cfg.finetune_epochs} epochs")
    if cfg.finetune_epochs > 0:
        train(slim, train_loader, cfg.finetune_epochs, lr=cfg.finetune_lr, seed=cfg.seed, progress=cfg.progress)
    slim.eval()
    final_acc = evaluate(slim, test_loader)
    sim = hwprune.simulate(slim, example, hw=cfg.hw)

    # 4. write the run folder
    baked = bake(slim)
    save_spec(slim, out / "slim.spec.json")
    save_state_dict(out / "slim.pt", baked.state_dict())
    plots = plot_plan(plan, out)
    metrics = {
        "model": cfg.model, "data": cfg.data, "hw": plan.hw, "budget": plan.budget,
        "baseline_accuracy": base_acc, "pruned_accuracy": pruned_acc, "bn_recalibrated_accuracy": calibrated_acc,
        "finetuned_accuracy": final_acc,
        "unpruned_cycles": plan.unpruned_cycles, "cycles": plan.cycles, "slim_simulated_cycles": sim.total_cycles,
        "latency_ms": plan.latency_ms, "unpruned_ms": plan.unpruned_ms, "speedup": plan.speedup,
        "macs": plan.macs, "macs_before": plan.macs_before, "params": sum(p.numel() for p in baked.parameters()),
        "params_before": sum(p.numel() for p in model.parameters()), "nm_layers": plan.nm(),
        "seconds": round(time.time() - t0, 1), "config": asdict(cfg),
    }
    write_json(out / "metrics.json", metrics)
    extra = {"accuracy (baseline / pruned / BN recalibrated / fine-tuned)":
             f"{base_acc:.4f} / {pruned_acc:.4f} / {calibrated_acc:.4f} / {final_acc:.4f}",
             "parameters": f"{metrics['params_before']} -> {metrics['params']}",
             "slim model re-simulated (cycles)": sim.total_cycles}
    atomic_write_text(out / "report.md", plan_markdown(plan, plots, extra))
    _say(cfg, f"accuracy {base_acc:.4f} -> {final_acc:.4f}; wrote {out}/report.md ({metrics['seconds']}s)")
    return metrics


def _budget_value(budget: str) -> float | int | str:
    text = str(budget).strip()
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def _budget_str(budget: str) -> str:
    from hwprune.planning.budget import parse_budget

    return str(parse_budget(_budget_value(budget)))
