"""Static subnets: a real slim model (smaller layers, copied weights) with the supernet's trained weights.

The model was traced once; its graph's source module holds the weights it was traced with. To emit a
subnet with the supernet's (trained) weights, those are loaded into the source module for the
duration of :func:`hwprune.pruning.apply_keep` and the traced weights restored afterwards, so the
trace is reused and the graph's owner sees no change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch
from torch import fx, nn

from hwprune.errors import SpecError
from hwprune.ir.graph import Graph
from hwprune.ofa.space import SearchSpace
from hwprune.ofa.supernet import OFASupernet, raw_state_dict
from hwprune.pruning import apply_keep

__all__ = ["static_subnet", "swapped_weights", "keep_indices"]


@contextlib.contextmanager
def swapped_weights(module: nn.Module, state: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Load ``state`` (entries ``module`` has) into ``module``; restore its own on exit."""
    own = module.state_dict()
    saved = {k: v.detach().clone() for k, v in own.items() if k in state}
    for k in saved:
        if own[k].shape != state[k].shape:
            raise SpecError(f"weight {k!r} has shape {tuple(state[k].shape)} in the supernet but "
                            f"{tuple(own[k].shape)} in the traced model; the supernet was built for another model")
    try:
        module.load_state_dict({k: state[k] for k in saved}, strict=False)
        yield
    finally:
        module.load_state_dict(saved, strict=False)


def keep_indices(space: SearchSpace, code) -> dict[str, list[int]]:
    """Group key -> kept member indices (sorted) for the groups a subnet narrows."""
    out = {}
    for g, c in zip(space.groups, code, strict=True):
        k = g.choices[int(c)]
        if k < g.size:
            out[g.key] = g.kept_indices(k)
    return out


def static_subnet(graph: Graph, supernet: OFASupernet, code) -> fx.GraphModule:
    """The slim model of subnet ``code`` with the supernet's weights and BN statistics.

    Args:
        graph: the model's traced graph (the one the space was built from).
        supernet: the supernet (its raw weights are used; masks are irrelevant to the slim model).
        code: choice index per elastic group.

    Returns:
        A new ``GraphModule`` in the supernet's train/eval mode; ``.hwprune_spec`` rebuilds it from the
        original model (:func:`hwprune.transform`).
    """
    keep = keep_indices(supernet.space, code)
    state = {k: v.to("cpu") for k, v in raw_state_dict(supernet.model).items()}
    with swapped_weights(graph.source.gm, state):
        slim = apply_keep(graph, keep)
    slim.train(supernet.training)
    return slim
