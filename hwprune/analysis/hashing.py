"""``structure_hash``: a stable digest of a graph's structure, independent of weights and of the run."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind

__all__ = ["structure_hash", "weights_hash"]


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return repr(v)


def _unbatched(shape: tuple[int, ...] | None, batch: int | None) -> Any:
    if not shape or batch is None or shape[0] != batch:
        return _plain(shape)
    return ["B", *shape[1:]]


def structure_hash(graph: Graph) -> str:
    """SHA-256 (hex, 16 chars) over op names, kinds, targets, attributes, wiring and value shapes.

    The batch size is left out (a leading dim equal to the first input's batch is written as "B"), so
    files made with one batch size stay valid with another.

    Args:
        graph: an IR graph.

    Returns:
        A string that changes when the architecture or an input's per-sample shape changes, and only then.
    """
    first = graph.value(graph.inputs[0]).shape if graph.inputs else None
    batch = first[0] if first else None
    doc = []
    for op in graph.ops:
        v = graph.value(op.output)
        b = None if op.kind is OpKind.PARAM else batch
        parts = [_unbatched(p, b) for p in v.parts] if v.parts else None
        doc.append(
            [
                op.name,
                op.kind.value,
                op.target,
                list(op.inputs),
                _plain(op.attrs),
                _unbatched(v.shape, b),
                parts,
            ]
        )
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def weights_hash(model: Any) -> str:
    """SHA-256 (16 hex chars) over the model's parameters and buffers, by name (importance reads them)."""
    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]
