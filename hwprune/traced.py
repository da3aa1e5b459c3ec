"""``Traced``: a model traced once, and everything derived from that one trace.

The public functions that take an ``nn.Module`` (``hwprune.plan``, ``apply``, ``simulate``, the
Vitis runners, ``optimize``, OFA) each build one ``Traced`` and pass it on to the graph-level
functions, so a job traces the user's model once, analyses its channel groups once per exclude
list and lowers it once. A job that holds a ``Traced`` (``hwprune.optimize`` does) calls the
graph-level functions directly: ``plan_graph``, ``apply_graph``, ``simulate_graph``.

The graph's private module tree shares the user's parameter and buffer tensors (see
:func:`hwprune.trace`), so in-place training is seen by the graph. ``Module.to(device)`` replaces
buffers rather than writing them, so a job that trained on another device calls :meth:`Traced.sync`
before it reads weights from the graph again.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import torch
from torch import nn

from hwprune.analysis.groups import Analysis, analyze
from hwprune.analysis.hashing import structure_hash, weights_hash
from hwprune.errors import HwPruneError
from hwprune.frontend.trace import as_input_tuple, trace
from hwprune.ir.graph import Graph
from hwprune.ir.verify import verify
from hwprune.lower.lower import Lowering, lower_graph

__all__ = ["Traced", "as_traced"]


class Traced:
    """A model, its example inputs and its IR graph, traced once.

    Args:
        model: the user's model (never modified).
        example_inputs: a tensor or tuple of tensors, as passed to ``model(*example_inputs)``.
        leaf_modules: passed to :func:`hwprune.trace`.

    Attributes:
        model: the model.
        inputs: the example inputs as a tuple.
        graph: the verified IR graph.
    """

    def __init__(
        self, model: nn.Module, example_inputs: Any, *, leaf_modules: Sequence[str | type] = ()
    ) -> None:
        self.model = model
        self.inputs: tuple[torch.Tensor, ...] = as_input_tuple(example_inputs)
        self.graph: Graph = verify(trace(model, self.inputs, leaf_modules=leaf_modules))

    def analysis(self, excludes: Sequence[str] = ()) -> Analysis:
        """The channel groups with ``excludes`` pinned.

        Computed once per exclude list: :func:`analyze` keeps it on the graph's source, the one
        cache of analyses.

        Raises:
            ExcludeError: an exclude names no module.
        """
        return analyze(self.graph, excludes)

    @cached_property
    def lowering(self) -> Lowering:
        """The graph lowered to accelerator workloads (plus the ops left unpriced)."""
        return lower_graph(self.graph)

    @cached_property
    def structure_hash(self) -> str:
        """The graph's structure hash (what a plan or spec is checked against)."""
        return structure_hash(self.graph)

    def weights_hash(self) -> str:
        """Hash of the model's current weights (not cached: training changes them)."""
        return weights_hash(self.model)

    def sync(self) -> None:
        """Point the graph's module tree at the model's current parameter and buffer tensors.

        Needed after ``model.to(device)`` or anything else that replaced (rather than wrote) a
        tensor of the model; a no-op when nothing was replaced.
        """
        gm = self.graph.source.gm if self.graph.source is not None else None
        if gm is None:
            return
        for name, tensor in (
            *self.model.named_parameters(remove_duplicate=False),
            *self.model.named_buffers(remove_duplicate=False),
        ):
            owner_name, _, leaf = name.rpartition(".")
            try:
                owner = gm.get_submodule(owner_name) if owner_name else gm
            except AttributeError:
                continue  # a module the traced graph never uses
            if leaf in owner._parameters:
                if owner._parameters[leaf] is not tensor:
                    owner._parameters[leaf] = tensor
            elif leaf in owner._buffers and owner._buffers[leaf] is not tensor:
                owner._buffers[leaf] = tensor

    def __repr__(self) -> str:
        return f"Traced({self.graph.source.model_class if self.graph.source else '?'}, {len(self.graph.ops)} ops)"


def as_traced(
    model: nn.Module | Traced, example_inputs: Any = None, *, leaf_modules: Sequence[str | type] = ()
) -> Traced:
    """``model`` itself when it is a :class:`Traced`, else ``Traced(model, example_inputs)``.

    Raises:
        HwPruneError: a ``Traced`` was given with example inputs of other shapes than it was traced with.
    """
    if isinstance(model, Traced):
        if example_inputs is not None:
            shapes = [tuple(t.shape) for t in as_input_tuple(example_inputs)]
            if shapes != [tuple(t.shape) for t in model.inputs]:
                raise HwPruneError(
                    f"example inputs of shapes {shapes} given with a model traced on "
                    f"{[tuple(t.shape) for t in model.inputs]}; trace it again on these inputs"
                )
        return model
    return Traced(model, example_inputs, leaf_modules=leaf_modules)
