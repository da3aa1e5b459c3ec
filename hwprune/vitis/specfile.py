"""Pruning specs of the Vitis workflows, in hwprune's spec format (``hwprune.emit.spec``).

A spec names the kept member indices of every group that lost channels (by group key) and the
original's structure hash, so ``hwprune.transform(model, spec)`` / ``hwprune.get_slim_model`` rebuild
the slim model from the original. The runners add a ``"vitis"`` section: the runner's model name,
the mode ``prune`` returned, and how the channels were chosen (removal ratio, latency budget, subnet).
Indices, not counts: the sparse model of an iterative round, fine-tuned, turns into exactly the slim
model its masks describe, whatever its weights became.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hwprune.emit import spec as fe_spec
from hwprune.errors import PlanMismatchError, SpecError, StaleFileError

__all__ = ["make_spec", "save_spec", "load_spec", "kept_of", "vitis_info", "latest"]


def make_spec(
    view: Any, name: str, indices: Mapping[str, Sequence[int]], *, mode: str, **info: Any
) -> dict[str, Any]:
    """The spec of keeping ``indices`` (group key -> member indices) of ``view``'s model.

    Args:
        view: the runner's :class:`~hwprune.vitis.view.ModelView`.
        name: the runner's model name.
        indices: kept member indices per group key (groups not named keep everything).
        mode: what ``prune`` returned (``"sparse"`` or ``"slim"``).
        **info: how the channels were chosen; MACs before and after are added.
    """
    spec = fe_spec.make_spec(view.graph, view.by_id(indices))
    sizes = {g.key: g.size for g in view.groups}
    counts = dict(sizes, **{k: len(v) for k, v in indices.items()})
    spec["vitis"] = {
        "model": name,
        "mode": mode,
        **info,
        "macs": view.macs(counts),
        "macs_before": view.macs(sizes),
    }
    return spec


def save_spec(spec: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``spec`` as JSON, atomically."""
    fe_spec.save_spec(spec, path)
    return Path(path)


def load_spec(path: str | os.PathLike[str], view: Any = None) -> dict[str, Any]:
    """Read a spec; with ``view``, check that it belongs to that model's structure.

    Raises:
        SpecError: the file is missing, corrupt or not a spec.
        PlanMismatchError: the spec is for a model of another structure.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {path} does not exist; run runner.prune(...) to write one")
    try:
        spec = fe_spec.load_spec(path)
    except StaleFileError as e:  # corrupt JSON
        raise SpecError(str(e)) from e
    if view is not None and spec["structure_hash"] != view.structure_hash:
        raise PlanMismatchError(
            f"spec file {path} was made for another model structure (hash {str(spec['structure_hash'])[:12]}..., "
            f"this model {view.structure_hash[:12]}...); prune this model to get its own spec"
        )
    return spec


def kept_of(spec: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Group key -> kept member indices of a spec."""
    try:
        return {str(k): tuple(int(i) for i in v) for k, v in spec["keep"].items()}
    except (AttributeError, TypeError, ValueError) as e:
        raise SpecError(f"the spec's 'keep' table is malformed ({e}); regenerate it with runner.prune") from e


def vitis_info(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The runner's section of a spec (empty for specs written elsewhere)."""
    info = spec.get("vitis", {})
    return dict(info) if isinstance(info, Mapping) else {}


def latest(workdir: str | os.PathLike[str]) -> Path:
    """The newest spec of a work folder (``<workdir>/latest_spec`` holds its path).

    Raises:
        SpecError: no spec was written there yet.
    """
    pointer = Path(workdir) / "latest_spec"
    if not pointer.is_file():
        raise SpecError(f"no {pointer}: run runner.prune(...) first or pass spec_path=")
    path = Path(pointer.read_text(encoding="utf-8").strip())
    if not path.is_absolute() and not path.exists():  # an older pointer, relative to another cwd
        path = Path(workdir) / path.name
    return path
