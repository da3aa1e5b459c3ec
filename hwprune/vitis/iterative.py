"""The iterative prune -> fine-tune loop of Vitis AI, with a checkpoint after every round.

Recipe (what :func:`iterative_prune` automates)::

    runner = hwprune.get_pruning_runner(model, x, "iterative")
    runner.ana(eval_fn, args=(val_loader,))                 # once; reused by every round
    for ratio in (0.2, 0.35, 0.5):                          # or latency budgets 0.8, 0.65, 0.5
        sparse = runner.prune(removal_ratio=ratio, mode="sparse")
        finetune(sparse, train_loader)                      # masks keep pruned channels at zero
        # (the next round prunes the fine-tuned weights: a runner on the exported sparse model)
    slim = runner.get_slim_model(model=sparse)              # channels really removed

Each round is saved to ``<workdir>/<name>.iter/round-<i>.pt`` (the fine-tuned weights, masks baked
in) and ``round-<i>.spec`` (its kept channels) before the next one starts, and the manifest
``<name>.iter/rounds.json`` lists finished rounds. A rerun with the same schedule skips them and
continues from the last checkpoint, so a crash costs at most one round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwprune.errors import PruneConfigError, StaleFileError
from hwprune.io import atomic_write_text, save_state_dict
from hwprune.runtime.store import ResultStore
from hwprune.runtime.userfn import as_args, call_calibration, call_eval
from hwprune.transforms.nm import bake

__all__ = ["RoundResult", "IterativeResult", "iterative_prune"]


@dataclass(frozen=True, slots=True)
class RoundResult:
    """One finished round: its target, checkpoint, spec, and score after fine-tuning (if measured)."""

    index: int
    target: str
    checkpoint: Path
    spec: Path
    macs: int
    score: float | None


@dataclass(frozen=True, slots=True)
class IterativeResult:
    """The rounds and the final slim model."""

    rounds: tuple[RoundResult, ...]
    slim: nn.Module


def iterative_prune(
    runner: Any,
    finetune_fn: Callable[..., Any],
    finetune_args: Sequence[Any] = (),
    *,
    removal_ratios: Sequence[float] | None = None,
    latency_budgets: Sequence[Any] | None = None,
    eval_fn: Callable[..., Any] | None = None,
    eval_args: Sequence[Any] = (),
    excludes: Sequence[Any] | None = (),
    channel_divisible: int = 2,
) -> IterativeResult:
    """Prune -> fine-tune rounds with increasing targets, checkpointing every round; resumable.

    Args:
        runner: an :class:`~hwprune.vitis.runner.IterativeRunner` (``ana`` already run, if the
            allocation should follow the measured sensitivity).
        finetune_fn: ``finetune_fn(model, *finetune_args)`` trains the sparse model in place.
        finetune_args: its extra arguments.
        removal_ratios: increasing MAC reductions per round ...
        latency_budgets: ... or decreasing latency budgets (exactly one of the two).
        eval_fn / eval_args: optional ``eval_fn(model, *eval_args)`` scored after each round.
        excludes: module names (or modules) to keep whole.
        channel_divisible: see ``IterativeRunner.prune``.

    Returns:
        The rounds and the slim model of the last round (fine-tuned weights, channels removed).

    Raises:
        StaleFileError: the manifest was written for another model or schedule.
        EvalFnError: the fine-tune or eval function failed; finished rounds stay on disk.
    """
    from hwprune.vitis.runner import IterativeRunner

    if (removal_ratios is None) == (latency_budgets is None):
        raise PruneConfigError("give exactly one of removal_ratios= or latency_budgets=")
    schedule = list(removal_ratios) if removal_ratios is not None else list(latency_budgets or ())
    if not schedule:
        raise PruneConfigError("the schedule is empty: give at least one removal ratio or latency budget")
    kind = "removal_ratio" if removal_ratios is not None else "latency_budget"
    finetune_args = as_args(finetune_args, "finetune_args")
    eval_args = as_args(eval_args, "eval_args")
    folder = runner.workdir / f"{runner.name}.iter"
    manifest = ResultStore(
        folder / "rounds.json",
        kind="iterative",
        structure_hash=runner.view.structure_hash,
        config={"kind": kind, "schedule": [str(t) for t in schedule], "channel_divisible": channel_divisible},
    )
    rounds: list[RoundResult] = []
    current = runner
    sparse: nn.Module | None = None
    for i, target in enumerate(schedule):
        ckpt, spec = folder / f"round-{i}.pt", folder / f"round-{i}.spec"
        rec = manifest.get(str(i))
        if rec is not None and ckpt.is_file() and spec.is_file():
            sparse = current.view.sparse(_kept(current, spec))
            sparse.load_state_dict(
                _masked_state(sparse, torch.load(ckpt, map_location="cpu", weights_only=True))
            )
        else:
            options = {"channel_divisible": channel_divisible} if kind == "removal_ratio" else {}
            sparse = current.prune(**{kind: target}, excludes=excludes, mode="sparse", **options)
            atomic_write_text(spec, current.last_spec.read_text(encoding="utf-8"))
            call_calibration(finetune_fn, sparse, finetune_args, where=f"round {i}", role="finetune_fn")
            score = call_eval(eval_fn, sparse, eval_args, where=f"round {i}") if eval_fn is not None else None
            save_state_dict(ckpt, bake(sparse).state_dict())
            rec = {"target": str(target), "macs": _macs(spec), "score": score}
            manifest.add(str(i), rec)
        rounds.append(RoundResult(i, str(target), ckpt, spec, int(rec["macs"]), rec["score"]))
        if i + 1 < len(schedule):
            # the next round ranks channels by the fine-tuned weights; pruned ones are zero, so they go first
            current = IterativeRunner(
                bake(sparse),
                current.inputs,
                current.hw,
                name=runner.name,
                workdir=runner.workdir,
                backend=runner.backend,
                progress=runner.progress,
                importance=runner.view.importance,
            )
    manifest.mark_complete()
    slim = runner.get_slim_model(rounds[-1].spec, model=sparse)
    return IterativeResult(tuple(rounds), slim)


def _kept(runner: Any, spec: Path) -> dict[str, tuple[int, ...]]:
    from hwprune.vitis.specfile import kept_of, load_spec

    return kept_of(load_spec(spec, runner.view))


def _macs(spec: Path) -> int:
    from hwprune.vitis.specfile import load_spec, vitis_info

    return int(vitis_info(load_spec(spec)).get("macs", 0))


def _masked_state(sparse: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A plain state_dict renamed for a parametrized model (``weight`` -> ``parametrizations.weight.original``)."""
    target = sparse.state_dict()
    out = {}
    for k, v in state.items():
        if k in target:
            out[k] = v
            continue
        mod, _, name = k.rpartition(".")
        alt = f"{mod}.parametrizations.{name}.original" if mod else f"parametrizations.{name}.original"
        if alt not in target:
            raise StaleFileError(
                f"checkpoint tensor {k!r} has no place in the model; delete the .iter folder"
            )
        out[alt] = v
    for k, v in target.items():  # the masks themselves come from the spec
        out.setdefault(k, v)
    return out
