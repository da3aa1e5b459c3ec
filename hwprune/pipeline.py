"""The compression pipeline: trace -> analyse -> lower -> plan -> apply -> emit, checked after each step.

Each step is a function of the IR (see :class:`hwprune.Traced` for the first three, computed once
per model); this module calls them in order and checks what each produced:

* trace: ``verify`` of the graph (shapes and channel bookkeeping of every op);
* plan: the plan meets its budget in cycle mode (``plan_graph`` tightens until it does);
* apply: ``verify`` of the pruned graph, whose ops carry the planned N:M patterns;
* emit: every conv/linear module has the channels its op says (:func:`hwprune.emit.module.check_emitted`);
* finally the applied graph is simulated in cycle mode: it must cost exactly the plan's cycles.

``hwprune.optimize`` runs it between training the baseline and fine-tuning the slim model.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import fx

import hwmodel
from hwmodel.config.accelerator import AcceleratorConfig
from hwprune.errors import HwPruneError
from hwprune.ir.graph import Graph
from hwprune.lower.simulate import simulate_graph
from hwprune.planning.apply import apply_graph, apply_ir
from hwprune.planning.plan import Plan
from hwprune.planning.planner import plan_graph
from hwprune.traced import Traced

__all__ = ["Compressed", "compress"]


@dataclass(frozen=True)
class Compressed:
    """What :func:`compress` made.

    Attributes:
        plan: the plan (made here, or the one passed in).
        graph: the applied IR: pruned channels, N:M patterns on ``Op.sparsity``.
        model: the slim model emitted from ``graph``, N:M masks in place.
        report: ``graph`` simulated in cycle mode (its total equals ``plan.cycles``).
    """

    plan: Plan
    graph: Graph
    model: fx.GraphModule
    report: hwmodel.NetworkReport


def compress(
    traced: Traced,
    hw: str | AcceleratorConfig = "dpu-b4096",
    budget: float | int | str = 0.5,
    *,
    plan: Plan | None = None,
    nm: bool | str = "auto",
    excludes: Sequence[str] = (),
    importance: str = "l1",
    solver: str = "greedy",
    round_to: int | None = None,
    min_keep: float = 0.0,
    sensitivity: Mapping[str, float] | None = None,
    grads: Mapping[str, torch.Tensor] | None = None,
    strict: bool = False,
    loss: str = "log",
) -> Compressed:
    """Plan (unless ``plan`` is given), apply and emit, checking after every step.

    Args: as :func:`hwprune.plan`; ``plan`` skips planning (e.g. a reused plan; it is checked
    against the model's structure).

    Raises:
        as :func:`hwprune.plan` and :func:`hwprune.apply`; HwPruneError: the applied graph does not
        cost what the plan says (a bug: the message names both figures).
    """
    if plan is None:
        plan = plan_graph(
            traced,
            hw,
            budget,
            nm=nm,
            excludes=excludes,
            importance=importance,
            solver=solver,
            round_to=round_to,
            min_keep=min_keep,
            sensitivity=sensitivity,
            grads=grads,
            strict=strict,
            loss=loss,
        )
    applied = apply_ir(traced, plan)
    slim = apply_graph(traced, plan, applied=applied)
    report = _quiet_simulate(applied[0], plan, f"Slim{type(traced.model).__name__}")
    if plan.verified and report.total_cycles != plan.cycles:
        raise HwPruneError(
            f"the applied model simulates to {report.total_cycles} cycles on {plan.hw}, but the "
            f"plan says {plan.cycles}; this is a bug in hwprune, please report it"
        )
    return Compressed(plan, applied[0], slim, report)


def _quiet_simulate(graph: Graph, plan: Plan, name: str) -> hwmodel.NetworkReport:
    cfg = AcceleratorConfig.from_dict(plan.hw_config) if plan.hw_config else plan.hw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the plan already reported the ops without a cost model
        return simulate_graph(graph, cfg, name=name)
