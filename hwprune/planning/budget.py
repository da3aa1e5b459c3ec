"""Latency budgets: a fraction of the unpruned latency, an absolute time, or a cycle count."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from hwprune.errors import BudgetError

__all__ = ["Budget", "BudgetKind", "parse_budget"]

_TIME = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|us|s|cycles?)\s*$")


class BudgetKind(StrEnum):
    """The unit a budget was written in."""

    FRACTION = "fraction"  # of the unpruned latency
    MS = "ms"
    CYCLES = "cycles"


@dataclass(frozen=True, slots=True)
class Budget:
    """A latency budget as the user wrote it.

    Attributes:
        kind: "fraction" (of the unpruned latency), "ms" or "cycles".
        value: the number in that unit.
    """

    kind: BudgetKind
    value: float

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", BudgetKind(self.kind))  # a plain string is read as its kind
        except ValueError:
            raise BudgetError(
                f"unknown budget kind {self.kind!r}; use one of {', '.join(k.value for k in BudgetKind)}"
            ) from None

    def cycles(self, unpruned_cycles: int, clock_mhz: float) -> int:
        """The budget in cycles for a model whose unpruned latency is ``unpruned_cycles``."""
        if self.kind is BudgetKind.FRACTION:
            return int(math.floor(self.value * unpruned_cycles))
        if self.kind is BudgetKind.MS:
            return int(math.floor(self.value * 1e3 * clock_mhz))
        return int(self.value)

    def __str__(self) -> str:
        if self.kind is BudgetKind.FRACTION:
            return f"{self.value:g} of unpruned"
        if self.kind is BudgetKind.MS:
            return f"{self.value:g} ms"
        return f"{int(self.value)} cycles"


def parse_budget(budget: float | int | str | Budget) -> Budget:
    """Read a budget: ``0.5`` (fraction), ``"2.5ms"``, ``"300us"``, ``"1e6 cycles"`` or an int of cycles.

    Args:
        budget: a float in (0, 1] is a fraction of the unpruned latency; an int > 1 is cycles;
            a string carries its unit (ms, us, s, cycles) or is a bare number read the same way.

    Returns:
        The parsed :class:`Budget`.

    Raises:
        BudgetError: when the value is not positive or the unit is unknown.
    """
    if isinstance(budget, Budget):
        return budget
    if isinstance(budget, str):
        m = _TIME.match(budget)
        if m is None:
            try:
                return parse_budget(float(budget) if "." in budget or "e" in budget.lower() else int(budget))
            except ValueError:
                raise BudgetError(
                    f"cannot read latency budget {budget!r}: write a fraction of the unpruned latency "
                    "(0.5), a time ('2.5ms', '300us') or cycles ('120000cycles')"
                ) from None
        value, unit = float(m.group(1)), m.group(2)
        if value <= 0:
            raise BudgetError(f"latency budget {budget!r} must be positive")
        if unit.startswith("cycle"):
            return Budget(BudgetKind.CYCLES, float(int(value)))
        return Budget(BudgetKind.MS, value * {"ms": 1.0, "us": 1e-3, "s": 1e3}[unit])
    if isinstance(budget, bool) or not isinstance(budget, (int, float)):
        raise BudgetError(f"latency budget must be a number or a string, got {type(budget).__name__}")
    if not budget > 0 or math.isinf(budget):
        raise BudgetError(f"latency budget must be positive and finite, got {budget!r}")
    if isinstance(budget, int) and budget > 1:
        return Budget(BudgetKind.CYCLES, float(budget))
    if budget > 1:
        raise BudgetError(
            f"latency budget {budget} is above 1 but not an integer: a fraction must be in (0, 1]; "
            "write cycles as an int or a string like '2.5ms'"
        )
    return Budget(BudgetKind.FRACTION, float(budget))
