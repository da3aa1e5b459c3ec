"""When may a saved plan be reused? Only when every input that shaped it matches.

A plan records its *inputs* (``Plan.inputs``): the model's structure and weights, the full hardware
config, the budget, the N:M mode, the excludes, the solver, the importance criterion, rounding and the
sensitivity weights. :func:`reuse_plan` compares them with a new request and says why a plan cannot be
reused; a file that is not a readable plan, or a plan for another model, is moved aside to
``<name>.stale-<timestamp>`` (never silently overwritten).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwprune.analysis.hashing import weights_hash
from hwprune.errors import HwPruneError

__all__ = ["plan_inputs", "weights_hash", "config_hash", "reuse_plan", "Reuse", "describe_difference"]


def config_hash(obj: Any) -> str:
    """SHA-256 (16 hex chars) of a JSON-able object, keys sorted."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=repr).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def plan_inputs(
    *,
    model_hash: str,
    weights: str,
    hw_config: Mapping[str, Any],
    budget: str,
    nm: bool,
    excludes: Sequence[str],
    solver: str,
    importance: str,
    round_to: int | None,
    min_keep: float,
    sensitivity: Mapping[str, float] | None,
    loss: str = "log",
) -> dict[str, Any]:
    """The reuse key of a plan: every input that shapes it, as a flat JSON-able dict."""
    return {
        "model_hash": model_hash,
        "weights_hash": weights,
        "hw_config_hash": config_hash(dict(hw_config)),
        "budget": str(budget),
        "nm": bool(nm),
        "excludes": sorted(excludes),
        "solver": solver,
        "importance": importance,
        "round_to": round_to,
        "min_keep": float(min_keep),
        "sensitivity_hash": config_hash(dict(sensitivity)) if sensitivity else None,
        "loss": loss,
    }


def describe_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``"nm: True -> False; solver: greedy -> exact"`` for the keys that differ ('' when none)."""
    keys = sorted(set(old) | set(new))
    diffs = [
        f"{k}: {old.get(k, '<missing>')!r} -> {new.get(k, '<missing>')!r}"
        for k in keys
        if old.get(k, "<missing>") != new.get(k, "<missing>")
    ]
    return "; ".join(diffs)


@dataclass(frozen=True, slots=True)
class Reuse:
    """The outcome of :func:`reuse_plan`.

    Attributes:
        plan: the reusable plan, or None.
        why: a one-line explanation (why it was reused, or why not); '' when there was no file.
        moved_to: where a corrupt or foreign file was moved, or None.
    """

    plan: Any
    why: str
    moved_to: Path | None = None


def reuse_plan(path: str | os.PathLike[str], inputs: Mapping[str, Any]) -> Reuse:
    """Reuse the plan at ``path`` only if it was made from exactly ``inputs``.

    Args:
        path: a plan.json (may be missing).
        inputs: the new request's :func:`plan_inputs`.

    Returns:
        A :class:`Reuse`. A corrupt file or a plan for another model structure is moved aside to
        ``<name>.stale-<timestamp>``; a plan made with other settings is left alone (a new run
        replaces it) and ``why`` names every setting that differs.
    """
    from hwprune.planning.plan import Plan
    from hwprune.runtime.store import move_aside

    path = Path(path)
    if not path.exists():
        return Reuse(None, "")
    try:
        old = Plan.load(path)
    except (HwPruneError, OSError, UnicodeDecodeError, ValueError) as e:
        moved = move_aside(path)
        return Reuse(
            None, f"{path} is not a readable plan ({_first_line(e)}); moved it to {moved.name}", moved
        )
    if old.model_hash != inputs.get("model_hash"):
        moved = move_aside(path)
        return Reuse(
            None,
            f"{path} is a plan for another model (structure hash {old.model_hash}); moved it to {moved.name}",
            moved,
        )
    if not old.inputs:
        return Reuse(None, f"{path} does not record what it was planned from (older hwprune); replanning")
    diff = describe_difference(old.inputs, inputs)
    if diff:
        return Reuse(None, f"{path} was planned with other inputs ({diff}); replanning")
    return Reuse(
        old,
        f"reusing {path}: model, weights, hardware, budget, N:M, excludes, solver, "
        "importance and sensitivity all match",
    )


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
