"""One evaluation of a subnet, as the backends run it: build, calibrate (optionally), score.

The payload holds what every evaluation shares (the model, its example inputs, the user's functions
and their arguments) and is sent to each worker once; a task names one subnet by the channels it keeps.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hwprune.runtime.userfn import call_eval
from hwprune.train.calibrate import adaptive_bn

__all__ = ["EvalPayload", "EvalTask", "build_subnet", "evaluate_subnet"]


@dataclass(frozen=True, slots=True)
class EvalPayload:
    """What every evaluation of one run shares.

    Attributes:
        model: the original model (workers prune copies of it).
        inputs: its example inputs.
        eval_fn / eval_args: the user's eval function and its extra arguments.
        calibration_fn / calib_args: adaptive-BN calibration before evaluating (None: skip).
        graph: the model's traced graph, to prune without tracing again (None: trace per subnet;
            used where the graph cannot travel, e.g. to Ray workers).
    """

    model: nn.Module
    inputs: tuple[torch.Tensor, ...]
    eval_fn: Callable[..., Any]
    eval_args: tuple[Any, ...] = ()
    calibration_fn: Callable[..., Any] | None = None
    calib_args: tuple[Any, ...] = ()
    graph: Any = None


@dataclass(frozen=True, slots=True)
class EvalTask:
    """One subnet: kept channel indices per group id, and a description for messages."""

    key: str
    keep: tuple[tuple[int, tuple[int, ...]], ...]
    where: str = ""


def build_subnet(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], keep: dict[int, tuple[int, ...]], graph: Any = None
) -> nn.Module:
    """A slim copy of ``model`` keeping the given channels of each group (the model is not changed).

    Args:
        model: the model whose weights to use.
        inputs: its example inputs (to trace it when ``graph`` is None).
        keep: group id -> kept member indices.
        graph: ``model``'s traced graph (its weights are those of ``model`` when traced).
    """
    from hwprune.pruning import apply_keep, prune_with_keep

    if not keep:
        return copy.deepcopy(model)
    keep_lists: dict[int | str, Sequence[int] | int] = {gid: list(idx) for gid, idx in keep.items()}
    if graph is not None:
        return apply_keep(graph, keep_lists)
    return prune_with_keep(model, inputs, keep_lists)


def evaluate_subnet(payload: EvalPayload, task: EvalTask) -> float:
    """Build the subnet of ``task``, calibrate its batch norms if asked, and return its score.

    Raises:
        EvalFnError: the user's eval or calibration function failed or returned a non-number.
    """
    sub = build_subnet(payload.model, payload.inputs, dict(task.keep), payload.graph)
    where = task.where or task.key
    if payload.calibration_fn is not None:
        adaptive_bn(sub, payload.calibration_fn, payload.calib_args, where=where)
    else:
        sub.eval()
    return call_eval(payload.eval_fn, sub, payload.eval_args, where=where)
