"""Per-channel importance of every group: L1, L2, BN scale, first-order Taylor, random.

Scores are per member of a group (higher = more important) and aggregate over every conv/linear of the
group, both where the channel is produced (weight rows) and where it is consumed (weight columns), as in
group-level pruning. Criteria live in a registry filled by ``@criterion``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hwprune.analysis.flow import SlotRole
from hwprune.analysis.groups import ChannelGroup
from hwprune.errors import PruneConfigError
from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind

__all__ = ["criterion", "criteria", "group_importance", "ImportanceInputs", "NEEDS_GRADS"]

# criteria that read gradients: a plan made with one records the channels it kept, since apply() has no
# gradients to rank them again
NEEDS_GRADS = frozenset({"taylor"})


@dataclass(frozen=True, slots=True)
class ImportanceInputs:
    """What a criterion may read: the graph, the module holding the weights, gradients, a seed."""

    graph: Graph
    model: nn.Module
    grads: Mapping[str, torch.Tensor] | None
    seed: int
    # (op, role, criterion) -> per-position scores
    cache: dict[tuple[str, SlotRole, str], np.ndarray] = field(default_factory=dict)


Criterion = Callable[[ChannelGroup, ImportanceInputs], np.ndarray]
_REGISTRY: dict[str, Criterion] = {}


def criterion(name: str) -> Callable[[Criterion], Criterion]:
    """Decorator: register an importance criterion under ``name``."""

    def deco(fn: Criterion) -> Criterion:
        _REGISTRY[name] = fn
        return fn

    return deco


def criteria() -> tuple[str, ...]:
    """Names of the registered criteria."""
    return tuple(sorted(_REGISTRY))


def _weight(inp: ImportanceInputs, op_name: str, attr: str = "weight") -> tuple[torch.Tensor, str] | None:
    op = inp.graph.op(op_name)
    if attr == "weight" and op.attr("weight_param"):  # F.conv*/F.linear: the parameter its weight comes from
        target = op.attr("weight_param")
        obj: object = inp.model
        for part in target.split("."):
            obj = getattr(obj, part, None)
        return (obj, target) if isinstance(obj, torch.Tensor) else None
    try:
        m = inp.model.get_submodule(op.target)
    except AttributeError:
        return None
    t = getattr(m, attr, None)
    return (t, f"{op.target}.{attr}") if isinstance(t, torch.Tensor) else None


def _position_scores(
    inp: ImportanceInputs,
    op_name: str,
    role: SlotRole,
    tensor: torch.Tensor,
    kind: str,
    cache: dict[tuple[str, SlotRole, str], np.ndarray],
) -> np.ndarray:
    """One number per position of an op's output (role "out") or input (role "in") channels."""
    key = (op_name, role, kind)
    if key in cache:
        return cache[key]
    op = inp.graph.op(op_name)
    t = tensor.detach().cpu()
    arr = t.numpy() if t.dtype in (torch.float32, torch.float64) else t.double().numpy()
    a = (
        np.abs(arr) if kind == "l1" else (arr * arr if kind == "l2" else arr)
    )  # numpy: single-threaded, predictable
    if role is SlotRole.OUT:
        per = a.reshape(a.shape[0], -1).sum(1)
    elif op.kind is OpKind.CONV and op.attr("groups") > 1:
        g = op.attr("groups")
        per = a.reshape(g, a.shape[0] // g, a.shape[1], -1).sum(axis=(1, 3)).reshape(-1)
    else:
        per = a.reshape(a.shape[0], a.shape[1], -1).sum(axis=(0, 2))
    if kind == "taylor":
        per = np.abs(per)
    cache[key] = per.astype(np.float64)
    return cache[key]


def _weighted(group: ChannelGroup, inp: ImportanceInputs, kind: str, use_grad: bool = False) -> np.ndarray:
    score = np.zeros(group.size)
    for s in group.slots:
        op = inp.graph.op(s.op)
        transposed = op.kind is OpKind.CONV_TRANSPOSE and op.attr("groups") == 1
        if s.role not in (SlotRole.OUT, SlotRole.IN) or not (
            op.kind in (OpKind.CONV, OpKind.LINEAR) or transposed
        ):
            continue
        w = _weight(inp, s.op)
        if w is None:
            continue
        tensor, name = w
        if use_grad:
            grad = inp.grads.get(name) if inp.grads is not None else tensor.grad
            if grad is None:
                raise PruneConfigError(
                    f"taylor importance needs the gradient of {name}; run a backward pass "
                    "first or pass grads={{param name: grad}}"
                )
            tensor = tensor.detach() * grad
        if transposed:  # (in, out, k...) -> the (out, in, k...) layout of a conv
            tensor = tensor.transpose(0, 1)
        score += _position_scores(inp, s.op, s.role, tensor, kind, inp.cache)[s.positions()].sum(axis=1)
    return score


@criterion("l1")
def _l1(group: ChannelGroup, inp: ImportanceInputs) -> np.ndarray:
    return _weighted(group, inp, "l1")


@criterion("l2")
def _l2(group: ChannelGroup, inp: ImportanceInputs) -> np.ndarray:
    root: np.ndarray = np.sqrt(_weighted(group, inp, "l2"))
    return root


@criterion("taylor")
def _taylor(group: ChannelGroup, inp: ImportanceInputs) -> np.ndarray:
    return _weighted(group, inp, "taylor", use_grad=True)


@criterion("bn_scale")
def _bn_scale(group: ChannelGroup, inp: ImportanceInputs) -> np.ndarray:
    score = np.zeros(group.size)
    found = False
    for s in group.slots_of(SlotRole.PARAM):
        if inp.graph.op(s.op).kind not in (OpKind.BATCHNORM, OpKind.LAYERNORM):
            continue
        w = _weight(inp, s.op)
        if w is None:
            continue
        found = True
        score += w[0].detach().double().abs().cpu().numpy()[s.positions()].sum(axis=1)
    return score if found else _l1(group, inp)  # no norm layer in the group: fall back to L1


@criterion("random")
def _random(group: ChannelGroup, inp: ImportanceInputs) -> np.ndarray:
    return np.random.default_rng([inp.seed, group.id]).random(group.size)


def group_importance(
    graph: Graph,
    groups: Sequence[ChannelGroup],
    name: str = "l1",
    *,
    model: nn.Module | None = None,
    grads: Mapping[str, torch.Tensor] | None = None,
    seed: int = 0,
) -> dict[int, np.ndarray]:
    """Per-member scores of every prunable group.

    Args:
        graph: the traced graph.
        groups: its channel groups.
        name: one of :func:`criteria` ("l1", "l2", "bn_scale", "taylor", "random").
        model: module to read weights (and ``.grad``) from; default the graph's private copy. Pass the
            user's model for Taylor after a backward pass on it.
        grads: parameter name -> gradient, instead of ``.grad`` fields.
        seed: seed of the "random" criterion.

    Returns:
        group id -> float array of length ``group.size``.

    Raises:
        PruneConfigError: unknown criterion, Taylor without gradients, or no model to read weights from.
    """
    fn = _REGISTRY.get(name) if isinstance(name, str) else None
    if fn is None:
        raise PruneConfigError(f"unknown importance {name!r}; use one of {', '.join(criteria())}")
    if model is None:
        if graph.source is None:
            raise PruneConfigError("this graph has no source module to read weights from; pass model=")
        model = graph.source.gm
    inp = ImportanceInputs(graph, model, grads, seed)
    return {g.id: fn(g, inp) for g in groups if g.prunable}
