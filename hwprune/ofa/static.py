"""Static subnets: a real slim model (smaller layers, copied weights) with the supernet's trained weights.

The model was traced once; its graph's module tree shares the user's weight tensors. To emit a
subnet with the supernet's (trained) weights, that tree points at the supernet's tensors for the
duration of :func:`hwprune.pruning.apply_keep` (references only: no tensor is written, the user's
model never changes) and at the user's again afterwards, so the trace is reused. Convs whose kernel
the subnet crops then become real smaller convs (weights: the supernet's transformed centre crop,
:mod:`hwprune.ofa.kernel`), and skipped blocks are dropped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import fx, nn

from hwprune.errors import SpecError
from hwprune.ir.graph import Graph
from hwprune.ofa.depth import drop_blocks
from hwprune.ofa.kernel import active_kernel, crop_static
from hwprune.ofa.space import Code, SearchSpace
from hwprune.ofa.supernet import OFASupernet, kernel_matrices, raw_state_dict
from hwprune.pruning import apply_keep

__all__ = ["static_subnet", "swapped_weights", "keep_indices", "rebuild_static_subnet"]


@contextlib.contextmanager
def swapped_weights(module: nn.Module, state: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Point ``module``'s parameters and buffers named in ``state`` at those tensors; restore on exit.

    Only references change (no tensor is written): the traced graph shares the user's tensors.

    Raises:
        SpecError: a tensor of another shape (the supernet was built for another model).
    """
    saved: list[tuple[dict[str, Any], str, Any]] = []
    try:
        for name, tensor in state.items():
            owner_name, _, leaf = name.rpartition(".")
            try:
                owner = module.get_submodule(owner_name) if owner_name else module
            except AttributeError:
                continue  # a module the traced graph never uses
            table: dict[str, Any] | None = (
                owner._parameters
                if leaf in owner._parameters
                else (owner._buffers if leaf in owner._buffers else None)
            )
            if table is None or table[leaf] is None:
                continue
            if table[leaf].shape != tensor.shape:
                raise SpecError(
                    f"weight {name!r} has shape {tuple(tensor.shape)} in the supernet but "
                    f"{tuple(table[leaf].shape)} in the traced model; the supernet was built for "
                    "another model"
                )
            saved.append((table, leaf, table[leaf]))
            old_grad = table[leaf].requires_grad
            table[leaf] = (
                nn.Parameter(tensor.detach(), requires_grad=old_grad)
                if table is owner._parameters
                else tensor.detach()
            )
        yield
    finally:
        for table, leaf, old in reversed(saved):
            table[leaf] = old


def keep_indices(space: SearchSpace, code: Code) -> dict[str, list[int]]:
    """Group key -> kept member indices (sorted) for the groups a subnet narrows."""
    out = {}
    for g, c in zip(space.groups, code[: len(space.groups)], strict=True):
        k = g.choices[int(c)]
        if k < g.size:
            out[g.key] = g.kept_indices(k)
    return out


def static_subnet(graph: Graph, supernet: OFASupernet, code: Code) -> fx.GraphModule:
    """The slim model of subnet ``code`` with the supernet's weights and BN statistics.

    Args:
        graph: the model's traced graph (the one the space was built from).
        supernet: the supernet (its raw weights are used; masks are irrelevant to the slim model).
        code: choice index per elastic group.

    Returns:
        A new ``GraphModule`` in the supernet's train/eval mode; ``.hwprune_spec`` rebuilds it from the
        original model (:func:`hwprune.transform`).
    """
    keep: dict[int | str, Sequence[int] | int] = dict(keep_indices(supernet.space, code).items())
    state = {k: v.to("cpu") for k, v in raw_state_dict(supernet.model).items()}
    assert graph.source is not None, "a traced graph keeps its fx source"
    with swapped_weights(graph.source.gm, state):
        slim = apply_keep(graph, keep)
    spec: dict[str, Any] = dict(getattr(slim, "hwprune_spec"))  # noqa: B009  (typed Any, not Tensor)
    sizes = supernet.space.kernel_sizes(code)
    if sizes:
        by_op = {ek.op: ek for ek in supernet.space.kernels}
        kernels, weights = {}, {}
        for op, k in sizes.items():
            ek = by_op[op]
            choices, mats = kernel_matrices(supernet, op)
            conv = slim.get_submodule(ek.target)
            assert isinstance(conv, nn.Conv2d)
            w = conv.weight.detach()  # channel-sliced full kernel
            with torch.no_grad():
                weights[ek.target] = active_kernel(w, k, choices, mats)
            kernels[ek.target] = (k, ek.padding - (ek.size - k) // 2)
        crop_static(slim, kernels, weights)
        spec["ofa_kernel"] = {t: {"kernel": k, "padding": p} for t, (k, p) in kernels.items()}
    skipped = supernet.space.skipped(code)
    if skipped:
        drop_blocks(slim, skipped)
        spec["ofa_skip"] = [{"add": b.add, "node": b.node, "identity": b.identity} for b in skipped]
    slim.hwprune_spec = spec  # type: ignore[assignment]
    slim.train(supernet.training)
    return slim


def rebuild_static_subnet(
    model: nn.Module,
    spec: Mapping[str, Any] | str | os.PathLike[str],
    state_dict: Mapping[str, torch.Tensor] | str | os.PathLike[str] | None = None,
) -> fx.GraphModule:
    """A static subnet from the original model, its spec and state_dict (cropped kernels and skipped
    blocks included).

    ``hwprune.get_slim_model`` rebuilds the channels; this also crops the kernels the spec's
    ``ofa_kernel`` lists (elastic kernel size) and drops the blocks its ``ofa_skip`` lists (elastic depth).
    """
    from hwprune.emit.spec import load_spec
    from hwprune.ofa.depth import SkipBlock
    from hwprune.pruning import transform

    if not isinstance(spec, Mapping):
        spec = load_spec(spec)
    slim = transform(model, spec)
    kernels = {t: (int(d["kernel"]), int(d["padding"])) for t, d in spec.get("ofa_kernel", {}).items()}
    crop_static(slim, kernels, None)  # the state_dict holds the transformed kernels
    skip = [SkipBlock(d["add"], d["node"], d["identity"], (), "") for d in spec.get("ofa_skip", ())]
    drop_blocks(slim, skip)
    if state_dict is not None:
        loaded: Mapping[str, Any] = (
            state_dict
            if isinstance(state_dict, Mapping)
            else torch.load(state_dict, map_location="cpu", weights_only=True)
        )
        slim.load_state_dict(loaded)
    return slim
