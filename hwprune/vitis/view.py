"""What the Vitis workflows need to know about one model, computed once per runner.

A :class:`ModelView` traces the model, finds its channel groups, ranks each group's channels by
importance, and answers the questions the workflows ask of a subnet given as kept channels per group
key: its MACs, its latency on the modelled hardware, the slim model, the same-shape masked ("sparse")
model, and the spec that rebuilds it. Everything FE and the planner provide is reached from here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from hwprune.analysis.flow import WEIGHT_ROLES, SlotRole
from hwprune.analysis.groups import ChannelGroup
from hwprune.errors import ExcludeError, PruneConfigError
from hwprune.frontend.trace import as_input_tuple
from hwprune.traced import Traced
from hwprune.transforms.nm import WeightMask
from hwprune.vitis.sampling import GroupSlot

__all__ = ["ModelView", "GroupInfo", "module_name_excludes"]


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A prunable group: id (in the unexcluded analysis), key, size and channel order."""

    gid: int
    key: str
    size: int
    order: tuple[int, ...]  # member indices, most important first


def module_name_excludes(model: nn.Module, excludes: Sequence[Any] | None) -> tuple[str, ...]:
    """Excludes as module names: names pass through, module objects are looked up in ``model``.

    Raises:
        ExcludeError: a module object that is not part of ``model``, or something else entirely.
    """
    by_id = {id(m): name for name, m in model.named_modules() if name}
    out = []
    for ex in excludes or ():
        if isinstance(ex, str):
            out.append(ex)
        elif isinstance(ex, nn.Module) and id(ex) in by_id:
            out.append(by_id[id(ex)])
        else:
            raise ExcludeError(
                f"exclude {ex!r} is neither a module name nor a submodule of the model; "
                "pass names as in model.named_modules()"
            )
    return tuple(sorted(set(out)))


class ModelView:
    """Channel groups, costs and subnet builders of one model.

    Args:
        model: the user's model (never modified).
        inputs: example input tensor(s).
        hw: the accelerator (preset name, config file or ``AcceleratorConfig``) latencies refer to.
        importance: how channels of a group are ranked (``"l1"``, ``"l2"``, ``"bn_scale"``, ...).
    """

    def __init__(self, model: nn.Module, inputs: Any, hw: Any = "dpu-b4096", importance: str = "l1") -> None:
        self.model = model
        self.importance = importance
        self.inputs = as_input_tuple(inputs)
        self.hw = hw
        self.traced = Traced(model, self.inputs)
        self.graph = self.traced.graph
        self.analysis = self.traced.analysis()
        self.groups: tuple[ChannelGroup, ...] = self.analysis.groups
        self._by_key = {g.key: g for g in self.groups}

    # ----------------------------------------------------------------------------- identity
    @property
    def structure_hash(self) -> str:
        return self.traced.structure_hash

    # ----------------------------------------------------------------------------- groups
    def prunable(self, excludes: Sequence[Any] | None = ()) -> list[GroupInfo]:
        """The groups that may lose channels with these excludes (module names or modules).

        Raises:
            ExcludeError: an exclude names no module of the model.
        """
        names = module_name_excludes(self.model, excludes)
        blocked = {g.key for g in self.traced.analysis(names).groups if not g.prunable} if names else set()
        return [
            GroupInfo(g.id, g.key, g.size, self.order(g.id))
            for g in self.groups
            if g.prunable and g.key not in blocked and g.size > 1
        ]

    def slots(self, excludes: Sequence[Any] | None = ()) -> list[GroupSlot]:
        return [GroupSlot(g.key, g.size) for g in self.prunable(excludes)]

    def order(self, gid: int) -> tuple[int, ...]:
        """Member indices of group ``gid``, most important first."""
        return self._orders[gid]

    @cached_property
    def _orders(self) -> dict[int, tuple[int, ...]]:
        from hwprune.analysis.importance import group_importance

        scores = group_importance(self.graph, self.groups, self.importance)
        # stable sort on -score: ties keep the lower index first, as hwprune.prune does
        return {
            gid: tuple(int(i) for i in np.argsort(-np.asarray(s), kind="stable")) for gid, s in scores.items()
        }

    def top_channels(self, keep: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
        """The ``k`` most important member indices (sorted) per group key, for groups that lose any.

        Raises:
            PruneConfigError: an unknown group key or a count out of range.
        """
        out = {}
        for key, k in keep.items():
            g = self._group(key)
            if not 1 <= k <= g.size:
                raise PruneConfigError(f"group {key!r}: cannot keep {k} of {g.size} channels")
            if k < g.size:
                out[key] = tuple(sorted(self.order(g.id)[:k]))
        return out

    def by_id(self, indices: Mapping[str, Sequence[int]]) -> dict[int, tuple[int, ...]]:
        """Kept member indices keyed by group id instead of key."""
        return {self._group(key).id: tuple(int(i) for i in idx) for key, idx in indices.items()}

    def _group(self, key: str) -> ChannelGroup:
        g = self._by_key.get(key)
        if g is None:
            raise PruneConfigError(
                f"no channel group {key!r} in this model; was the spec or result file made for another model?"
            )
        return g

    # ----------------------------------------------------------------------------- costs
    def _kept(self, keep: Mapping[str, int]) -> dict[int, int]:
        return {self._group(k).id: int(v) for k, v in keep.items()}

    def macs(self, keep: Mapping[str, int]) -> int:
        """Multiply-accumulates per sample of conv and linear layers with ``keep`` channels per group key."""
        return int(self.latency.macs(self._kept(keep)))

    def cycles(self, keep: Mapping[str, int]) -> int:
        """Latency in cycles on ``hw`` of the subnet keeping ``keep`` channels per group key.

        The shared latency model's analytic sum (:class:`hwprune.planning.latency.LatencyModel`), as
        the planner's lookup tables count it.
        """
        return int(self.latency.cycles(self._kept(keep)))

    @cached_property
    def latency(self) -> Any:
        """The model's :class:`~hwprune.planning.latency.LatencyModel` on ``hw`` (built on first use)."""
        from hwprune.lower.simulate import resolve_hw
        from hwprune.planning.latency import LatencyModel

        return LatencyModel.of(self.traced, resolve_hw(self.hw))

    # ----------------------------------------------------------------------------- models
    def slim(self, indices: Mapping[str, Sequence[int]], model: nn.Module | None = None) -> nn.Module:
        """A slim copy of ``model`` (default: the view's model) keeping the given member indices."""
        from hwprune.vitis.evaluate import build_subnet

        if model is None:
            return build_subnet(self.model, self.inputs, self.by_id(indices), self.graph)
        return build_subnet(model, self.inputs, self.by_id(indices))

    def sparse(self, indices: Mapping[str, Sequence[int]], model: nn.Module | None = None) -> nn.Module:
        """A same-shape copy whose pruned channels are zero and stay zero during fine-tuning.

        Weights (and biases, BN affine parameters) of pruned channels are masked through a
        parametrization; consumer input channels are masked too, so the model computes exactly
        what the slim model does.
        """
        from hwprune.transforms.channels import normalise_keep, removed_elements

        out = copy.deepcopy(model if model is not None else self.model)
        dead = removed_elements(self.analysis, normalise_keep(self.analysis, self.by_id(indices)))
        masks: dict[tuple[str, str], torch.Tensor] = {}
        for s in self.analysis.flow.slots:
            if s.role not in WEIGHT_ROLES:
                continue
            pos = np.flatnonzero(dead[s.ids])
            if pos.size == 0:
                continue
            module = self._module_in(out, s.op)
            names = ("weight", "bias") if s.role in (SlotRole.OUT, SlotRole.PARAM) else ("weight",)
            for pname in names:
                p = getattr(module, pname, None)
                if not isinstance(p, torch.Tensor) or s.dim >= p.dim() or p.shape[s.dim] != len(s.ids):
                    continue
                m = masks.setdefault((s.op, pname), torch.ones_like(p))
                m.index_fill_(s.dim, torch.as_tensor(pos), 0.0)
        for (op, pname), mask in masks.items():
            module = self._module_in(out, op)
            assert module is not None  # masks are only made for ops that call a module
            parametrize.register_parametrization(module, pname, WeightMask(mask))
        return out

    def _module_in(self, model: nn.Module, op_name: str) -> nn.Module | None:
        """The submodule of ``model`` (a copy of the view's model) that op ``op_name`` calls, if any."""
        source = self.graph.source
        assert source is not None, "a traced graph keeps its fx source"
        node = source.nodes[self.graph.op(op_name).node]
        if node.op != "call_module":
            return None
        return model.get_submodule(str(node.target))
