"""Spec files: what was pruned, as JSON, so a slim model is rebuilt from the original without pickling.

A spec holds the original's structure hash, its input shapes, the leaf modules used when tracing, and
the kept member indices of every pruned group (by group key). ``transform(model, spec)`` traces the
original again, checks the hash and prunes; ``get_slim_model`` also loads a state_dict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import fx, nn

from hwprune.analysis.groups import analyze
from hwprune.analysis.hashing import structure_hash
from hwprune.errors import PlanMismatchError, SpecError
from hwprune.io import read_json, write_json
from hwprune.ir.graph import Graph

__all__ = ["SPEC_FORMAT", "SPEC_VERSION", "make_spec", "save_spec", "load_spec", "transform", "get_slim_model",
           "export_onnx"]

SPEC_FORMAT = "hwprune-spec"
SPEC_VERSION = 1


def make_spec(graph: Graph, keep: Mapping[int, Sequence[int]]) -> dict[str, Any]:
    """The spec document of pruning ``graph`` with ``keep`` (group id -> kept indices)."""
    import hwprune

    groups = analyze(graph).groups
    src = graph.source
    return {
        "format": SPEC_FORMAT,
        "version": SPEC_VERSION,
        "hwprune": hwprune.__version__,
        "torch": torch.__version__,
        "model_class": src.model_class if src else None,
        "structure_hash": structure_hash(graph),
        "inputs": [{"shape": list(s), "dtype": d} for s, d in (src.example_inputs if src else ())],
        "leaf_modules": list(src.leaf_modules if src else ()),
        "keep": {groups[gid].key: [int(i) for i in idx] for gid, idx in sorted(keep.items())
                 if len(idx) < groups[gid].size},
    }


def save_spec(spec: Mapping[str, Any] | nn.Module, path: str | os.PathLike) -> None:
    """Write a spec (or a slim model's ``hwprune_spec``) to ``path`` atomically."""
    if isinstance(spec, nn.Module):
        spec = getattr(spec, "hwprune_spec", None)
        if spec is None:
            raise SpecError("this module carries no hwprune_spec; only models from hwprune.prune have one")
    write_json(path, dict(spec))


def load_spec(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a spec file."""
    spec = read_json(path, kind="spec file")
    _check(spec, str(path))
    return spec


def _check(spec: Any, where: str) -> None:
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        raise SpecError(f"{where} is not an hwprune spec (format must be {SPEC_FORMAT!r})")
    if spec.get("version") != SPEC_VERSION:
        raise SpecError(f"{where} has spec version {spec.get('version')!r}; this hwprune reads version {SPEC_VERSION}")
    for key in ("structure_hash", "inputs", "keep"):
        if key not in spec:
            raise SpecError(f"{where} lacks {key!r}; regenerate it with hwprune")


def transform(model: nn.Module, spec: Mapping[str, Any] | str | os.PathLike, example_inputs: Any = None) -> fx.GraphModule:
    """Rebuild the slim model from the original ``model`` and a spec (dict or path).

    Args:
        model: the original (unpruned) model; never mutated.
        spec: a spec dict or the path of a spec JSON file.
        example_inputs: inputs to trace with; default zeros of the shapes recorded in the spec.

    Returns:
        The slim model (weights sliced from ``model``).

    Raises:
        PlanMismatchError: ``model`` is not the architecture the spec was made for.
        SpecError: the spec is malformed.
    """
    from hwprune.frontend.trace import trace
    from hwprune.pruning import apply_keep

    if not isinstance(spec, Mapping):
        spec = load_spec(spec)
    _check(spec, "spec")
    if example_inputs is None:
        example_inputs = tuple(torch.zeros(i["shape"], dtype=getattr(torch, i["dtype"])) for i in spec["inputs"])
    graph = trace(model, example_inputs, leaf_modules=tuple(spec.get("leaf_modules", ())))
    h = structure_hash(graph)
    if h != spec["structure_hash"]:
        raise PlanMismatchError(
            f"the spec was made for a model with structure hash {spec['structure_hash']}, this "
            f"{type(model).__name__} has {h}; apply it to the same architecture and input shape it was made for")
    return apply_keep(graph, dict(spec["keep"]))


def get_slim_model(model: nn.Module, spec: Mapping[str, Any] | str | os.PathLike,
                   state_dict: Mapping[str, torch.Tensor] | str | os.PathLike | None = None) -> fx.GraphModule:
    """``transform`` plus loading the slim model's weights (a state_dict or the path of one)."""
    slim = transform(model, spec)
    if state_dict is not None:
        if not isinstance(state_dict, Mapping):
            state_dict = torch.load(state_dict, map_location="cpu", weights_only=True)
        slim.load_state_dict(state_dict)
    return slim


def export_onnx(module: nn.Module, example_inputs: Any, path: str | os.PathLike, *, opset: int = 17) -> str:
    """Export ``module`` (e.g. a slim model) to ONNX with the TorchScript exporter; needs ``onnx``."""
    try:
        import onnx  # noqa: F401
    except ImportError as e:
        raise SpecError("ONNX export needs the onnx package: pip install 'hwprune[onnx]'") from e
    from hwprune.frontend.trace import as_input_tuple

    inputs = as_input_tuple(example_inputs)
    was = module.training
    module.eval()
    try:
        torch.onnx.export(module, inputs, str(path), opset_version=opset, dynamo=False)
    finally:
        module.train(was)
    return str(path)
