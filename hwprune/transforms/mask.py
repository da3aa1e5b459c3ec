"""The masked reference: the original model with pruned channels zeroed on the consumer side.

For an exact group, the slim model equals this masked model: every conv/linear that reads a removed
channel gets a zero weight for it, so the channel no longer influences anything. Tests and the
Vitis-style runners use it as the reference of what pruning must compute.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import fx

from hwprune.analysis.flow import SlotRole
from hwprune.analysis.groups import analyze
from hwprune.emit.rules import get_attr
from hwprune.errors import HwPruneError
from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind
from hwprune.transforms.channels import Keep, normalise_keep

__all__ = ["masked_model"]


def masked_model(graph: Graph, keep: Keep) -> fx.GraphModule:
    """A copy of the traced model with the channels ``keep`` removes zeroed in every consumer.

    Args:
        graph: an unpruned graph from ``hwprune.trace``.
        keep: group id (or key) -> kept member indices, as for ``prune_channels``.

    Returns:
        A deep copy of the traced GraphModule with masked weights (same shapes as the original).

    Raises:
        HwPruneError: the graph has no source module to take weights from.
    """
    if graph.source is None:
        raise HwPruneError(
            "this graph has no source module (was it built by hand?); mask graphs from hwprune.trace"
        )
    analysis = analyze(graph)
    norm = normalise_keep(analysis, keep)
    gm: fx.GraphModule = copy.deepcopy(graph.source.gm)
    with torch.no_grad():
        for gid, kept in norm.items():
            group = analysis.groups[gid]
            dead = np.setdiff1d(np.arange(group.size), kept)
            for s in group.slots_of(SlotRole.IN):
                op = graph.op(s.op)
                target = op.attr("weight_param")  # F.conv*/F.linear: the parameter its weight comes from
                w: torch.Tensor = get_attr(gm, target or f"{op.target}.weight")
                pos = s.positions()[dead].reshape(-1)
                if op.kind is OpKind.LINEAR:
                    w[:, torch.as_tensor(pos)] = 0
                    continue
                g, cin = op.attr("groups"), op.attr("in_channels")
                if op.kind is OpKind.CONV_TRANSPOSE:  # weight rows are its input channels
                    if not (cin // g == 1 and g > 1):
                        w[torch.as_tensor(pos)] = 0
                    continue
                cpg, opg = cin // g, op.attr("out_channels") // g
                if cpg == 1 and g > 1:
                    continue  # depthwise: its output channel is the same element, removed downstream
                for c in pos.tolist():
                    grp = c // cpg
                    w[grp * opg : (grp + 1) * opg, c % cpg] = 0
    return gm
