"""Per-kind handler tables, filled by decorators.

The concerns each have one table keyed by :class:`OpKind`:

* ``"flow"``  how channels propagate through the op (``hwprune.analysis.flow_rules``),
* ``"count"`` its MACs and parameters (``hwprune.analysis.counts``),
* ``"emit"``  how the slim model's module/node is rebuilt from kept channels (``hwprune.emit.rules``),
* ``"verify"`` what must hold of its shapes and attributes (``hwprune.ir.verify``),
* ``"lower"`` its hardware workload, or why it is free or not modelled (``hwprune.lower.rules``).

A kind without a handler for a concern is a bug; ``tests/hwprune/test_fe_ir.py`` checks coverage.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from hwprune.errors import HwPruneError
from hwprune.ir.kinds import OpKind

__all__ = ["CONCERNS", "register", "lookup", "table"]

CONCERNS: dict[str, str] = {
    "flow": "hwprune.analysis.flow_rules",
    "count": "hwprune.analysis.counts",
    "emit": "hwprune.emit.rules",
    "verify": "hwprune.ir.verify",
    "lower": "hwprune.lower.rules",
}
_TABLES: dict[str, dict[OpKind, Callable[..., Any]]] = {c: {} for c in CONCERNS}


def register(concern: str, *kinds: OpKind) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: make the function the ``concern`` handler of every kind in ``kinds``."""
    if concern not in _TABLES:
        raise HwPruneError(f"unknown handler concern {concern!r}; use one of {sorted(_TABLES)}")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for kind in kinds:
            if kind in _TABLES[concern]:
                raise HwPruneError(f"{concern} handler for {kind} registered twice")
            _TABLES[concern][kind] = fn
        return fn

    return deco


def table(concern: str) -> dict[OpKind, Callable[..., Any]]:
    """The full table of ``concern`` (its rule module is imported first)."""
    importlib.import_module(CONCERNS[concern])
    return dict(_TABLES[concern])


def lookup(concern: str, kind: OpKind) -> Callable[..., Any]:
    """The ``concern`` handler of ``kind``."""
    tab = _TABLES[concern]
    if kind not in tab:
        importlib.import_module(CONCERNS[concern])
    try:
        return tab[kind]
    except KeyError:
        raise HwPruneError(
            f"no {concern} handler for op kind {kind}; add one in {CONCERNS[concern]}"
        ) from None
