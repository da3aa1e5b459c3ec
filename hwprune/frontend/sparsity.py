"""Read a masked layer's sparsity (weight N:M, activation sparsity) from its module into the IR.

Masks announce themselves: an N:M weight parametrization carries ``weight_nm`` (an ``NMPattern``) and
an activation-sparsity pre-hook carries ``act_sparsity`` (see ``hwprune.transforms.nm``). This is the
only place that looks at a module's parametrizations and hooks; everything after the frontend reads
``Op.sparsity``.
"""

from __future__ import annotations

from typing import cast

from torch import nn
from torch.nn.utils import parametrize

from hwmodel.workloads.layers import LayerSparsity, NMPattern

__all__ = ["module_sparsity"]


def module_sparsity(module: nn.Module) -> LayerSparsity | None:
    """The sparsity the masks on ``module`` impose, or None when it has none."""
    weight = None
    if parametrize.is_parametrized(module, "weight"):
        # the ModuleDict register_parametrization adds: tensor name -> its list of parametrizations
        for p in cast(nn.ModuleList, cast(nn.ModuleDict, module.parametrizations)["weight"]):
            nm = getattr(p, "weight_nm", None)
            if isinstance(nm, NMPattern):
                weight = nm
    act = 0.0
    for hook in module._forward_pre_hooks.values():
        a = getattr(hook, "act_sparsity", None)
        if isinstance(a, float) and a > 0.0:
            act = a
    if weight is None and not act:
        return None
    return LayerSparsity(weight, act)
