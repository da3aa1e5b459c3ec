"""``hwprune.plan``: a latency-budget plan of kept channels and N:M patterns, checked in cycle mode.

Pipeline (each step a plain function):
  trace -> analyse groups (excludes) -> importance -> lower to workloads -> build problem (LUTs,
  candidates at latency-step tops, loss proxies) -> solve (greedy or exact) -> check in cycle mode
  (tighten and re-solve if the analytic model under-estimated) -> Plan.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

import hwmodel
from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.reports.model import NetworkReport
from hwmodel.workloads.layers import DENSE, Layer, LayerSparsity
from hwprune.analysis.groups import Analysis
from hwprune.analysis.importance import NEEDS_GRADS, group_importance
from hwprune.errors import BudgetError, HardwareError, NothingPrunableError, PruneConfigError
from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind
from hwprune.lower.simulate import check_unmodelled, resolve_hw
from hwprune.planning.budget import parse_budget
from hwprune.planning.build import LOSS_SHAPES, Built, build_problem
from hwprune.planning.exact import solve_exact
from hwprune.planning.greedy import min_cycles, solve_greedy
from hwprune.planning.latency import LatencyModel
from hwprune.planning.plan import GroupPlan, LayerPlan, Plan
from hwprune.planning.problem import Problem, Solution
from hwprune.planning.reuse import plan_inputs
from hwprune.traced import Traced, as_traced

__all__ = ["plan", "plan_graph", "plan_key", "SOLVERS"]

SOLVERS: dict[str, Callable[[Problem], Solution]] = {"greedy": solve_greedy, "exact": solve_exact}
MAX_TIGHTEN = 6


def _weights(graph: Graph) -> dict[str, torch.Tensor]:
    """Weights of the conv/linear modules (the N:M loss proxy reads them)."""
    out = {}
    for op in graph.ops_of(OpKind.CONV, OpKind.LINEAR):
        m = graph.module(op.name)
        if m is not None and isinstance(getattr(m, "weight", None), torch.Tensor):
            out[op.name] = m.weight
    return out


def _layer_inputs(
    graph: Graph, names: Sequence[str], inputs: tuple[torch.Tensor, ...]
) -> dict[str, torch.Tensor]:
    """Inputs of the named conv/linear modules on the example inputs (for activation-sparsity loss)."""
    if graph.source is None:
        raise PruneConfigError("this graph has no source module to run; plan graphs from hwprune.trace")
    gm: nn.Module = graph.source.gm
    seen: dict[str, torch.Tensor] = {}
    hooks = []
    for name in names:
        try:
            m = gm.get_submodule(name)
        except AttributeError:
            continue
        hooks.append(
            m.register_forward_pre_hook(lambda mod, args, n=name: seen.setdefault(n, args[0].detach()))
        )
    was = gm.training
    gm.eval()
    try:
        with torch.no_grad():
            gm(*inputs)
    finally:
        gm.train(was)
        for h in hooks:
            h.remove()
    return seen


def _subnet(
    latency: LatencyModel, built: Built, sol: Solution | None
) -> tuple[dict[int, int], dict[str, LayerSparsity]]:
    """A solution as (kept channels per group id, sparsity per layer name); None: the unpruned model."""
    if sol is None:
        return {}, {}
    p = built.problem
    kept = {g.gid: g.candidates[i] for g, i in zip(p.groups, sol.group_choice, strict=True)}
    index = {lw.op: li for li, lw in enumerate(latency.lowered)}
    sparsity = {
        lv.name: built.patterns[index[lv.name]][choice]
        for lv, choice in zip(p.layers, sol.pattern_choice, strict=True)
    }
    return kept, {name: s for name, s in sparsity.items() if s != DENSE}


def _workloads(latency: LatencyModel, built: Built, sol: Solution | None) -> list[Layer]:
    """The lowered layers at the solution's channel counts and patterns (None: unpruned)."""
    return latency.workloads(*_subnet(latency, built, sol))


def _resolve_nm(nm: bool | str, cfg: AcceleratorConfig) -> bool:
    if nm == "auto":
        return cfg.sparse is not None
    if nm and cfg.sparse is None:
        raise HardwareError(
            f"hardware {cfg.name!r} has no sparse engine, so N:M patterns cannot speed it up; "
            f"use a sparse variant (e.g. {cfg.name}-sparse) or nm=False"
        )
    return bool(nm)


def plan_key(
    model: nn.Module | Traced,
    example_inputs: Any,
    hw: str | AcceleratorConfig = "dpu-b4096",
    budget: float | int | str = 0.5,
    *,
    nm: bool | str = "auto",
    excludes: Sequence[str] = (),
    importance: str = "l1",
    round_to: int | None = None,
    min_keep: float = 0.0,
    solver: str = "greedy",
    sensitivity: Mapping[str, float] | None = None,
    loss: str = "log",
) -> dict[str, Any]:
    """``plan(...).inputs`` without planning: the key a saved plan must match to be reused.

    Args: as :func:`plan`; ``model`` may be a :class:`hwprune.Traced` (not traced again).
    """
    cfg = resolve_hw(hw)
    t = as_traced(model, example_inputs)
    return plan_inputs(
        model_hash=t.structure_hash,
        weights=t.weights_hash(),
        hw_config=cfg.to_dict(),
        budget=str(parse_budget(budget)),
        nm=_resolve_nm(nm, cfg),
        excludes=excludes,
        solver=solver,
        importance=importance,
        round_to=round_to,
        min_keep=min_keep,
        sensitivity=sensitivity,
        loss=loss,
    )


def plan(
    model: nn.Module | Traced,
    example_inputs: Any,
    hw: str | AcceleratorConfig = "dpu-b4096",
    budget: float | int | str = 0.5,
    *,
    nm: bool | str = "auto",
    excludes: Sequence[str] = (),
    importance: str = "l1",
    round_to: int | None = None,
    min_keep: float = 0.0,
    solver: str = "greedy",
    sensitivity: Mapping[str, float] | None = None,
    grads: Mapping[str, torch.Tensor] | None = None,
    check: bool = True,
    strict: bool = False,
    loss: str = "log",
) -> Plan:
    """Plan kept channels per group and N:M patterns per layer that meet a latency budget.

    Args:
        model: the model (never modified), or a :class:`hwprune.Traced` of it (not traced again).
        example_inputs: a tensor or tuple of tensors; latency is per sample.
        hw: accelerator preset name, config file or :class:`hwmodel.AcceleratorConfig`.
        budget: a fraction of the unpruned latency (0.5), a time ("2.5ms") or cycles (int, "1e6cycles").
        nm: plan N:M patterns too: True, False, or "auto" (when the hardware has a sparse engine).
        excludes: module names whose channels are kept.
        importance: channel importance criterion ("l1", "l2", "bn_scale", "taylor", "random").
        round_to: kept counts must be multiples of this (the full size always allowed).
        min_keep: smallest kept fraction of any group.
        solver: "greedy" (default, fast) or "exact" (MILP, small models).
        sensitivity: group key -> weight (e.g. from a .sens file); 1 where absent.
        grads: parameter name -> gradient, for Taylor importance.
        loss: how a removed share s of a group's importance (or of a layer's weight magnitude, for
            N:M) becomes loss: "log" (-ln(1 - s): emptying a group costs ever more) or "linear" (s).
        check: verify the plan with the cycle-mode simulator and tighten until it fits.
        strict: raise when an op of the model has no cost model (else warn; the plan lists them).

    Returns:
        The :class:`Plan`; ``plan.inputs`` records everything that shaped it (the reuse key) and
        ``plan.unmodelled`` the ops that have no cost model.

    Raises:
        BudgetError: the budget is below the smallest reachable latency (the message states it).
        NothingPrunableError: no group or layer can be made faster (the message says why).
        UnsupportedOpError: ``strict`` and an op has no cost model.
        HardwareError: N:M asked on hardware without a sparse engine, or unknown hardware.
        PruneConfigError: unknown solver or bad arguments.
    """
    return plan_graph(
        as_traced(model, example_inputs),
        hw,
        budget,
        nm=nm,
        excludes=excludes,
        importance=importance,
        round_to=round_to,
        min_keep=min_keep,
        solver=solver,
        sensitivity=sensitivity,
        grads=grads,
        check=check,
        strict=strict,
        loss=loss,
    )


def plan_graph(
    traced: Traced,
    hw: str | AcceleratorConfig = "dpu-b4096",
    budget: float | int | str = 0.5,
    *,
    nm: bool | str = "auto",
    excludes: Sequence[str] = (),
    importance: str = "l1",
    round_to: int | None = None,
    min_keep: float = 0.0,
    solver: str = "greedy",
    sensitivity: Mapping[str, float] | None = None,
    grads: Mapping[str, torch.Tensor] | None = None,
    check: bool = True,
    strict: bool = False,
    loss: str = "log",
) -> Plan:
    """:func:`plan` on an already traced model: analysis and lowering come from ``traced`` (each
    computed once however many plans are made from it)."""
    cfg = resolve_hw(hw)
    nm = _resolve_nm(nm, cfg)
    if solver not in SOLVERS:
        raise PruneConfigError(f"unknown solver {solver!r}; use one of {', '.join(SOLVERS)}")
    if not 0.0 <= min_keep < 1.0:
        raise PruneConfigError(f"min_keep must be in [0, 1), got {min_keep}")
    if loss not in LOSS_SHAPES:
        raise PruneConfigError(f"unknown loss {loss!r}; use one of {', '.join(LOSS_SHAPES)}")
    b = parse_budget(budget)
    inputs = traced.inputs
    graph = traced.graph
    analysis = traced.analysis(excludes)
    model_hash = traced.structure_hash
    lowering = traced.lowering
    check_unmodelled(lowering.unmodelled, strict=strict, stacklevel=4)  # the caller of plan()
    latency = LatencyModel(analysis, cfg, list(lowering.layers))
    scores = group_importance(graph, analysis.groups, importance, grads=grads)
    weights = _weights(graph)
    layer_inputs = (
        _layer_inputs(graph, list(weights), inputs)
        if nm and cfg.sparse and cfg.sparse.act_sparsities
        else None
    )

    built = build_problem(
        latency,
        scores,
        budget=0,
        nm=bool(nm),
        round_to=round_to,
        min_keep=min_keep,
        sensitivity=sensitivity,
        layer_inputs=layer_inputs,
        weights=weights,
        loss_shape=loss,
    )
    full_layers = _workloads(latency, built, None)
    unpruned = hwmodel.simulate(full_layers, cfg, mode="cycle" if check else "analytic")
    unpruned_cycles = unpruned.total_cycles
    target = b.cycles(unpruned_cycles, cfg.clock_mhz)
    common = {
        "model_hash": model_hash,
        "hw": cfg.name,
        "budget": str(b),
        "budget_cycles": target,
        "unpruned_cycles": unpruned_cycles,
        "clock_mhz": cfg.clock_mhz,
        "hw_config": cfg.to_dict(),
        "importance": importance,
        "unmodelled": tuple(u.to_dict() for u in lowering.unmodelled),
        "inputs": plan_inputs(
            model_hash=model_hash,
            weights=traced.weights_hash(),
            hw_config=cfg.to_dict(),
            budget=str(b),
            nm=bool(nm),
            excludes=excludes,
            solver=solver,
            importance=importance,
            round_to=round_to,
            min_keep=min_keep,
            sensitivity=sensitivity,
            loss=loss,
        ),
    }
    if target >= unpruned_cycles:
        warnings.warn(
            f"latency budget {b} ({target} cycles) is not below the unpruned latency "
            f"({unpruned_cycles} cycles); returning the unpruned plan",
            stacklevel=2,
        )
        return _to_plan(latency, built, None, unpruned, unpruned, analysis, common, "none", 0.0, check)
    lo = min_cycles(built.problem)
    if target < lo and lo >= unpruned_cycles:
        raise NothingPrunableError(_nothing_prunable(analysis, cfg.name, bool(nm)))
    if target < lo:
        raise BudgetError(
            f"latency budget {b} = {target} cycles ({target / (cfg.clock_mhz * 1e3):.4g} ms) is below the "
            f"smallest reachable latency of this model on {cfg.name}: {lo} cycles "
            f"({lo / (cfg.clock_mhz * 1e3):.4g} ms, {lo / unpruned_cycles:.3f} of unpruned)"
        )
    solve = SOLVERS[solver]
    inner = target
    for _ in range(MAX_TIGHTEN):
        built = dataclasses.replace(built, problem=dataclasses.replace(built.problem, budget=inner))
        sol = solve(built.problem)
        layers = _workloads(latency, built, sol)
        rep = hwmodel.simulate(layers, cfg, mode="cycle" if check else "analytic")
        if rep.total_cycles <= target:
            return _to_plan(latency, built, sol, unpruned, rep, analysis, common, solver, sol.loss, check)
        inner -= max(1, rep.total_cycles - target)  # the analytic model under-estimated: ask for less
        if inner < lo:
            break
    raise BudgetError(
        f"could not meet {b} in cycle mode after {MAX_TIGHTEN} attempts "
        f"(last {rep.total_cycles} cycles > {target}); raise the budget slightly"
    )


def _nothing_prunable(analysis: Analysis, hw: str, nm: bool) -> str:
    """Why no choice of the planner makes the model faster, in one line."""
    pinned = [g for g in analysis.groups if not g.prunable]
    prunable = len(analysis.groups) - len(pinned)
    reasons: dict[str, int] = {}
    for g in pinned:
        reasons[g.reason or "pinned"] = reasons.get(g.reason or "pinned", 0) + 1
    top = "; ".join(
        f"{why} ({n} group{'s' if n > 1 else ''})"
        for why, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:4]
    )
    if prunable == 0:
        head = f"nothing is prunable: none of the {len(analysis.groups)} channel groups can be pruned"
    else:
        head = (
            f"nothing is prunable to any effect: pruning the {prunable} prunable group(s) saves no cycles "
            f"on {hw}"
        )
    tail = "" if nm else "; N:M sparsity is off"
    return f"{head}{': ' + top if top else ''}{tail}; keep fewer excludes, or plan another model"


def _to_plan(
    latency: LatencyModel,
    built: Built,
    sol: Solution | None,
    before: NetworkReport,
    after: NetworkReport,
    analysis: Analysis,
    common: dict[str, Any],
    solver: str,
    loss: float,
    verified: bool,
) -> Plan:
    p = built.problem
    kept_by_gid: dict[int, int] = {}
    if sol is not None:
        kept_by_gid = {g.gid: g.candidates[i] for g, i in zip(p.groups, sol.group_choice, strict=True)}
    record = common["importance"] in NEEDS_GRADS  # apply() could not rank these channels again

    def indices(gid: int, kept: int, size: int) -> tuple[int, ...]:
        if not record or kept >= size or gid not in built.order:
            return ()
        return tuple(sorted(int(i) for i in built.order[gid][:kept]))

    groups = tuple(
        GroupPlan(
            g.key,
            g.id,
            g.size,
            kept_by_gid.get(g.id, g.size),
            g.prunable,
            g.reason,
            indices(g.id, kept_by_gid.get(g.id, g.size), g.size),
        )
        for g in analysis.groups
    )
    full = _workloads(latency, built, None)
    now = _workloads(latency, built, sol)
    layers: list[LayerPlan] = []
    for lw, a, b, ra, rb in zip(latency.lowered, full, now, before.layers, after.layers, strict=True):
        frac = b.weight_nm.n / b.weight_nm.m if b.weight_nm is not None else 1.0
        layers.append(
            LayerPlan(
                name=lw.op,
                kind=a.kind.value,
                cin=b.channels,
                cout=b.num_filter,
                cin_before=a.channels,
                cout_before=a.num_filter,
                nm=str(b.sparsity) if b.weight_nm else None,
                cycles_before=ra.total_cycles,
                cycles=rb.total_cycles,
                macs_before=a.macs,
                macs=int(round(b.macs * frac)),
                params_before=_params(a),
                params=int(round(_params(b) * frac)),
            )
        )
    predicted = sol.cycles if sol is not None else before.total_cycles
    return Plan(
        cycles=after.total_cycles,
        predicted_cycles=predicted,
        groups=groups,
        layers=tuple(layers),
        solver=solver,
        loss=float(loss),
        verified=verified,
        **common,
    )


def _params(layer: Layer) -> int:
    """Weights of a conv/GEMM workload (bias and norm parameters not counted)."""
    if layer.kind.value in ("conv", "depthwise", "gemm"):
        return layer.gemm_k * layer.num_filter
    return 0
