"""``hwprune.apply``: a Plan -> a real slim model with its N:M masks in place.

Channels are removed for real (smaller layers); N:M weight masks are parametrizations, so masked
fine-tuning keeps the pattern; 2:4 activation sparsity is a forward pre-hook.
:func:`hwprune.bake` folds the masks into plain weights for export.
"""

from __future__ import annotations

from typing import Any

from torch import fx, nn

from hwmodel.errors import SparsityError
from hwmodel.workloads.layers import LayerSparsity
from hwprune.analysis.hashing import structure_hash
from hwprune.errors import SpecError
from hwprune.frontend.specialise import specialisation_note
from hwprune.frontend.trace import trace
from hwprune.planning.plan import Plan
from hwprune.pruning import apply_keep
from hwprune.transforms.nm import mask_layer

__all__ = ["apply"]


def apply(model: nn.Module, example_inputs: Any, plan: Plan, *, leaf_modules=()) -> fx.GraphModule:
    """Build the slim model a plan describes.

    Args:
        model: the model the plan was made for (never modified).
        example_inputs: a tensor or tuple of tensors.
        plan: from :func:`hwprune.plan` or :meth:`Plan.load`.
        leaf_modules: passed to ``hwprune.trace``.

    Returns:
        A new ``GraphModule`` with fewer channels and N:M masks on the planned layers; ``.hwprune_spec``
        is its channel spec and ``.hwprune_plan`` the plan.

    Raises:
        PlanMismatchError: the plan was made for a model of another structure.
    """
    graph = trace(model, example_inputs, leaf_modules=leaf_modules)
    plan.check_model(structure_hash(graph), where=type(model).__name__, note=specialisation_note(graph.source))
    keep = {g.gid: g.kept for g in plan.groups if g.kept < g.size}
    slim = apply_keep(graph, keep, importance=plan.importance)
    for name, text in plan.nm().items():
        try:
            module = slim.get_submodule(name)
        except AttributeError as e:
            raise SpecError(f"plan names layer {name!r} for N:M, but the slim model has no such module") from e
        try:
            mask_layer(module, LayerSparsity.parse(text))
        except (ValueError, SparsityError) as e:
            raise SpecError(f"plan layer {name!r}, pattern {text!r}: {e}") from e
    slim.hwprune_plan = plan
    return slim
