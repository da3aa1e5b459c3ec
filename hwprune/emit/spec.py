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
from torch import nn

from hwprune.analysis.groups import analyze
from hwprune.analysis.hashing import structure_hash
from hwprune.errors import SpecError
from hwprune.io import read_json, write_json
from hwprune.ir.graph import Graph

__all__ = ["SPEC_FORMAT", "SPEC_VERSION", "make_spec", "save_spec", "load_spec", "check_spec", "export_onnx"]

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
        "keep": {
            groups[gid].key: [int(i) for i in idx]
            for gid, idx in sorted(keep.items())
            if len(idx) < groups[gid].size
        },
    }


def save_spec(spec: Mapping[str, Any] | nn.Module, path: str | os.PathLike[str]) -> None:
    """Write a spec (or a slim model's ``hwprune_spec``) to ``path`` atomically."""
    if isinstance(spec, nn.Module):
        carried: Mapping[str, Any] | None = getattr(spec, "hwprune_spec", None)
        if carried is None:
            raise SpecError("this module carries no hwprune_spec; only models from hwprune.prune have one")
        spec = carried
    write_json(path, dict(spec))


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a spec file."""
    spec = read_json(path, kind="spec file")
    check_spec(spec, str(path))
    checked: dict[str, Any] = spec  # check_spec raised unless it is a dict
    return checked


def check_spec(spec: Any, where: str) -> None:
    """Raise :class:`SpecError` unless ``spec`` is a spec document of this version (``where`` names it)."""
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        raise SpecError(f"{where} is not an hwprune spec (format must be {SPEC_FORMAT!r})")
    if spec.get("version") != SPEC_VERSION:
        raise SpecError(
            f"{where} has spec version {spec.get('version')!r}; this hwprune reads version {SPEC_VERSION}"
        )
    for key in ("structure_hash", "inputs", "keep"):
        if key not in spec:
            raise SpecError(f"{where} lacks {key!r}; regenerate it with hwprune")


def export_onnx(
    module: nn.Module, example_inputs: Any, path: str | os.PathLike[str], *, opset: int = 17
) -> str:
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
