"""The Plan: what the planner decided, as data. Saved as JSON, inspected, edited and re-applied."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwprune.errors import PlanMismatchError, SpecError
from hwprune.io import read_json, write_json

__all__ = ["Plan", "GroupPlan", "LayerPlan", "PLAN_VERSION"]

PLAN_VERSION = 1


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """Kept channels of one channel group.

    ``indices`` are the kept members, recorded when the plan's importance criterion reads gradients
    (Taylor), which :func:`hwprune.apply` does not have; empty otherwise: apply ranks the members by
    the plan's criterion on the model's weights.
    """

    key: str
    gid: int
    size: int
    kept: int
    prunable: bool
    reason: str = ""
    indices: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerPlan:
    """One accelerator layer before and after the plan."""

    name: str
    kind: str
    cin: int
    cout: int
    cin_before: int
    cout_before: int
    nm: str | None
    cycles_before: int
    cycles: int
    macs_before: int
    macs: int
    params_before: int
    params: int


_INT_FIELDS = {
    "GroupPlan": ("gid", "size", "kept"),
    "LayerPlan": (
        "cin",
        "cout",
        "cin_before",
        "cout_before",
        "cycles_before",
        "cycles",
        "macs_before",
        "macs",
        "params_before",
        "params",
    ),
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _typed(cls: type, d: Any, where: str) -> Any:
    """``cls(**d)`` after checking that its count fields are integers (a hand-edited plan may not be)."""
    if not isinstance(d, dict):
        raise TypeError(f"{cls.__name__} entry is {type(d).__name__}, not an object")
    for name in _INT_FIELDS[cls.__name__]:
        if name in d and not _is_int(d[name]):
            raise ValueError(
                f"{cls.__name__} {d.get('key') or d.get('name')!r}: {name} = {d[name]!r} is not an integer"
            )
    if "indices" in d:
        idx = d["indices"]
        if not isinstance(idx, list) or not all(_is_int(i) for i in idx):
            raise ValueError(f"{cls.__name__} {d.get('key')!r}: indices = {idx!r} is not a list of integers")
        d = {**d, "indices": tuple(idx)}
    return cls(**d)


@dataclass(frozen=True, slots=True)
class Plan:
    """A latency-budget plan for one model on one accelerator.

    Attributes:
        model_hash: structure hash of the model the plan is for.
        hw: accelerator preset or config name; ``hw_config`` its full description.
        budget: the budget as given; ``budget_cycles`` in cycles.
        unpruned_cycles / cycles: latency before and after (cycle-mode simulator, when ``verified``).
        predicted_cycles: the analytic latency the solver optimised.
        clock_mhz: the accelerator clock, for milliseconds.
        groups / layers: per-group kept channels and per-layer choices.
        solver, loss: which solver and the proxy loss it reached.
        inputs: everything that shaped the plan (model structure and weights, hardware config, budget,
            N:M mode, excludes, solver, importance, rounding, sensitivity): the key under which a
            saved plan may be reused (``hwprune.planning.reuse``).
        unmodelled: ops with no cost model (name, op, kind, why); they count as 0 cycles above.
    """

    model_hash: str
    hw: str
    budget: str
    budget_cycles: int
    unpruned_cycles: int
    cycles: int
    predicted_cycles: int
    clock_mhz: float
    groups: tuple[GroupPlan, ...]
    layers: tuple[LayerPlan, ...]
    solver: str
    loss: float
    verified: bool = False
    importance: str = "l1"
    hw_config: dict[str, Any] = field(default_factory=dict, compare=False)
    version: int = PLAN_VERSION
    inputs: dict[str, Any] = field(default_factory=dict, compare=False)
    unmodelled: tuple[dict[str, str], ...] = ()

    # derived figures --------------------------------------------------------------------------
    @property
    def latency_ms(self) -> float:
        return self.cycles / (self.clock_mhz * 1e3)

    @property
    def unpruned_ms(self) -> float:
        return self.unpruned_cycles / (self.clock_mhz * 1e3)

    @property
    def speedup(self) -> float:
        return self.unpruned_cycles / max(self.cycles, 1)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def macs_before(self) -> int:
        return sum(layer.macs_before for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def params_before(self) -> int:
        return sum(layer.params_before for layer in self.layers)

    def kept(self) -> dict[int, int]:
        """Group id -> kept channels."""
        return {g.gid: g.kept for g in self.groups}

    def nm(self) -> dict[str, str]:
        """Layer name -> N:M pattern, for layers that have one."""
        return {layer.name: layer.nm for layer in self.layers if layer.nm}

    # files ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for g in d["groups"]:  # recorded only for gradient criteria: other plans' files stay as they were
            if not g["indices"]:
                del g["indices"]
            else:
                g["indices"] = list(g["indices"])
        d["summary"] = {
            "latency_ms": self.latency_ms,
            "unpruned_ms": self.unpruned_ms,
            "speedup": self.speedup,
            "macs": self.macs,
            "macs_before": self.macs_before,
            "params": self.params,
            "params_before": self.params_before,
        }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "plan") -> Plan:
        if not isinstance(d, dict) or d.get("version") != PLAN_VERSION:
            got = d.get("version") if isinstance(d, dict) else type(d).__name__
            raise SpecError(f"{where}: not a hwprune plan of version {PLAN_VERSION} (found {got!r})")
        d = {k: v for k, v in d.items() if k != "summary"}
        try:
            d["groups"] = tuple(_typed(GroupPlan, g, where) for g in d["groups"])
            d["layers"] = tuple(_typed(LayerPlan, layer, where) for layer in d["layers"])
            d["unmodelled"] = tuple(dict(u) for u in d.get("unmodelled", ()))
            d["inputs"] = dict(d.get("inputs") or {})
            plan = cls(**d)
        except (KeyError, TypeError, ValueError) as e:
            raise SpecError(f"{where}: malformed plan ({e}); regenerate it with hwprune plan") from e
        for name in ("budget_cycles", "unpruned_cycles", "cycles", "predicted_cycles"):
            if not _is_int(getattr(plan, name)):
                raise SpecError(
                    f"{where}: malformed plan ({name} = {getattr(plan, name)!r} is not an integer); "
                    "regenerate it with hwprune plan"
                )
        if not isinstance(plan.clock_mhz, (int, float)) or plan.clock_mhz <= 0:
            raise SpecError(
                f"{where}: malformed plan (clock_mhz = {plan.clock_mhz!r}); regenerate it with hwprune plan"
            )
        return plan

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the plan as JSON (atomically)."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Plan:
        """Read a plan written by :meth:`save`."""
        return cls.from_dict(
            read_json(path, kind="plan file", fix="regenerate it with `hwprune plan`"), where=str(path)
        )

    def check_model(self, model_hash: str, where: str = "model", note: str = "") -> None:
        """Raise :class:`PlanMismatchError` unless the plan was made for a model of this structure.

        ``note`` is appended to the message (e.g. that the model's trace is specialised to an input size).
        """
        if model_hash != self.model_hash:
            raise PlanMismatchError(
                f"this plan was made for another model (structure hash {self.model_hash[:12]}..., "
                f"{where} has {model_hash[:12]}...); re-run hwprune plan on this model{note}"
            )
