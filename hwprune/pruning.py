"""``hwprune.prune`` (uniform per-group pruning) and ``prune_with_keep`` (explicit kept channels)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from hwprune.analysis.groups import analyze
from hwprune.analysis.hashing import structure_hash
from hwprune.analysis.importance import group_importance
from hwprune.emit.module import emit
from hwprune.emit.spec import check_spec, load_spec, make_spec
from hwprune.errors import PlanMismatchError, PruneConfigError
from hwprune.frontend.specialise import specialisation_note
from hwprune.frontend.trace import trace
from hwprune.ir.graph import Graph
from hwprune.ir.verify import verify
from hwprune.transforms.channels import prune_channels

__all__ = [
    "prune",
    "prune_with_keep",
    "uniform_keep",
    "keep_top",
    "resolve_keep",
    "apply_keep",
    "emit_pruned",
    "transform",
    "get_slim_model",
]


def _check_ratio(ratio: Any) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= float(ratio) < 1.0:
        raise PruneConfigError(
            f"ratio must be a number in [0, 1) (the fraction of channels removed), got {ratio!r}"
        )
    return float(ratio)


def _check_round(round_to: Any) -> int:
    if round_to is None:
        return 1
    if isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1:
        raise PruneConfigError(f"round_to must be None or a positive integer, got {round_to!r}")
    return round_to


def keep_top(scores: np.ndarray, n_keep: int) -> list[int]:
    """Indices of the ``n_keep`` highest scores, sorted ascending (ties broken by lower index)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return sorted(int(i) for i in order[:n_keep])


def uniform_keep(size: int, ratio: float, round_to: int = 1) -> int:
    """How many of ``size`` channels to keep when removing ``ratio`` of them, rounded to ``round_to``."""
    n = size - math.floor(size * ratio)
    if round_to > 1 and size >= round_to:
        n = max(round_to, min(size, int(round(n / round_to)) * round_to))
    return max(1, n)


def resolve_keep(
    graph: Graph,
    keep: Mapping[int | str, Sequence[int] | int],
    *,
    importance: str = "l1",
    model: nn.Module | None = None,
) -> dict[int, list[int]]:
    """``keep`` (group id/key -> kept indices or a kept count) as group id -> sorted kept indices.

    Counts keep the most important members by ``importance``.

    Raises:
        PruneConfigError: a key names no group, or a count is out of range.
    """
    groups = analyze(graph).groups
    by_key = {g.key: g for g in groups}
    scores: dict[int, np.ndarray] | None = None
    explicit: dict[int, list[int]] = {}
    for k, v in keep.items():
        g = (
            by_key.get(k)
            if isinstance(k, str)
            else (groups[k] if isinstance(k, int) and 0 <= k < len(groups) else None)
        )
        if g is None:
            raise PruneConfigError(
                f"keep names group {k!r}, which is not a channel group of this model; "
                "use ids or keys from hwprune.channel_groups(hwprune.trace(model, x))"
            )
        if isinstance(v, (int, np.integer)):
            if not 0 < int(v) <= g.size:
                raise PruneConfigError(f"group {g.key!r}: kept count must be in [1, {g.size}], got {v}")
            if not g.prunable or int(v) == g.size:
                explicit[g.id] = list(
                    range(int(v))
                )  # a blocked group asked to shrink fails in prune_channels
                continue
            if scores is None:
                scores = group_importance(graph, groups, importance, model=model)
            explicit[g.id] = keep_top(scores[g.id], int(v))
        else:
            explicit[g.id] = sorted(int(i) for i in v)
    return explicit


def emit_pruned(graph: Graph, pruned: Graph, explicit: Mapping[int, Sequence[int]]) -> fx.GraphModule:
    """Emit the (verified) ``pruned`` IR of ``graph``; ``.hwprune_spec`` is its spec."""
    slim = emit(pruned)
    # nn.Module.__setattr__ is typed for tensors and modules; a plain dict becomes an ordinary attribute
    slim.hwprune_spec = make_spec(graph, explicit)  # type: ignore[assignment]
    return slim


def apply_keep(
    graph: Graph,
    keep: Mapping[int | str, Sequence[int] | int],
    *,
    importance: str = "l1",
    model: nn.Module | None = None,
) -> fx.GraphModule:
    """Prune an already traced graph: ``keep`` maps group id/key to kept indices or a kept count."""
    explicit = resolve_keep(graph, keep, importance=importance, model=model)
    return emit_pruned(graph, verify(prune_channels(graph, explicit)), explicit)


def prune_with_keep(
    model: nn.Module,
    example_inputs: Any,
    keep: Mapping[int | str, Sequence[int] | int],
    *,
    leaf_modules: Sequence[str | type] = (),
    importance: str = "l1",
) -> fx.GraphModule:
    """Trace ``model`` and keep exactly the given channels.

    Args:
        model: the user's model (never mutated).
        example_inputs: a tensor or tuple of tensors.
        keep: group id or key -> sorted kept member indices, or a kept count (the most important
            members by ``importance`` are kept). Groups not named keep everything.
        leaf_modules: passed to ``hwprune.trace``.
        importance: criterion used for counts.

    Returns:
        The slim ``GraphModule``; ``slim.hwprune_spec`` is its spec (save with ``hwprune.emit.spec.save_spec``).
    """
    graph = trace(model, example_inputs, leaf_modules=leaf_modules)
    return apply_keep(graph, keep, importance=importance)


def prune(
    model: nn.Module,
    example_inputs: Any,
    *,
    ratio: float,
    importance: str = "l1",
    round_to: int | None = None,
    excludes: Sequence[str] = (),
    leaf_modules: Sequence[str | type] = (),
    grads: Mapping[str, torch.Tensor] | None = None,
    seed: int = 0,
) -> fx.GraphModule:
    """Remove ``ratio`` of the channels of every prunable group, the least important first.

    Args:
        model: the user's model (never mutated).
        example_inputs: a tensor or tuple of tensors.
        ratio: fraction of channels removed per group, in [0, 1).
        importance: "l1", "l2", "bn_scale", "taylor" (needs gradients) or "random".
        round_to: keep a multiple of this many members per group (hardware channel granularity).
        excludes: module names (or prefixes) whose channels stay.
        leaf_modules: submodules to treat as opaque leaves when tracing.
        grads: gradients for "taylor" (param name -> grad), else the model's ``.grad``.
        seed: seed of the "random" criterion.

    Returns:
        A new, smaller ``GraphModule`` with real smaller layers; ``.hwprune_spec`` holds its spec.

    Raises:
        PruneConfigError: bad ratio, round_to or importance; ExcludeError: an exclude names no module.
        TraceError: the model cannot be traced.
    """
    ratio = _check_ratio(ratio)
    step = _check_round(round_to)
    graph = trace(model, example_inputs, leaf_modules=leaf_modules)
    groups = analyze(graph, excludes).groups
    scores = group_importance(
        graph, groups, importance, model=model if importance == "taylor" else None, grads=grads, seed=seed
    )
    keep = {}
    for g in groups:
        if g.prunable:
            n = uniform_keep(g.size, ratio, step)
            if n < g.size:
                keep[g.id] = keep_top(scores[g.id], n)
    return emit_pruned(graph, verify(prune_channels(graph, keep)), keep)


def transform(
    model: nn.Module, spec: Mapping[str, Any] | str | os.PathLike[str], example_inputs: Any = None
) -> fx.GraphModule:
    """Rebuild the slim model from the original ``model`` and a spec (dict or path).

    Args:
        model: the original (unpruned) model; never mutated.
        spec: a spec dict or the path of a spec JSON file.
        example_inputs: inputs to trace with; default zeros of the shapes recorded in the spec.

    Returns:
        The slim model (weights sliced from ``model``).

    Raises:
        PlanMismatchError: ``model`` is not the architecture the spec was made for.
        SpecError: the spec is malformed.
    """
    if not isinstance(spec, Mapping):
        spec = load_spec(spec)
    check_spec(spec, "spec")
    if example_inputs is None:
        example_inputs = tuple(
            torch.zeros(i["shape"], dtype=getattr(torch, i["dtype"])) for i in spec["inputs"]
        )
    graph = trace(model, example_inputs, leaf_modules=tuple(spec.get("leaf_modules", ())))
    h = structure_hash(graph)
    if h != spec["structure_hash"]:
        raise PlanMismatchError(
            f"the spec was made for a model with structure hash {spec['structure_hash']}, this "
            f"{type(model).__name__} has {h}; apply it to the same architecture and input shape it was made for"
            f"{specialisation_note(graph.source)}"
        )
    return apply_keep(graph, dict(spec["keep"]))


def get_slim_model(
    model: nn.Module,
    spec: Mapping[str, Any] | str | os.PathLike[str],
    state_dict: Mapping[str, torch.Tensor] | str | os.PathLike[str] | None = None,
) -> fx.GraphModule:
    """``transform`` plus loading the slim model's weights (a state_dict or the path of one)."""
    slim = transform(model, spec)
    if state_dict is not None:
        weights: Mapping[str, torch.Tensor] = (
            state_dict
            if isinstance(state_dict, Mapping)
            else torch.load(state_dict, map_location="cpu", weights_only=True)
        )
        slim.load_state_dict(weights)
    return slim
