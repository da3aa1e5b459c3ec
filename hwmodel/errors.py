"""Typed errors raised by hwmodel. Messages say what was wrong, where, and what to do."""

from __future__ import annotations

__all__ = ["HwModelError", "ConfigError", "TopologyError", "SparsityError", "CapacityError"]


class HwModelError(Exception):
    """Base class of every error hwmodel raises."""


class ConfigError(HwModelError, ValueError):
    """An accelerator configuration is invalid (unknown dataflow, zero-sized array, bad file field)."""


class TopologyError(HwModelError, ValueError):
    """A topology file or workload is malformed (file, line and field are named in the message)."""


class SparsityError(HwModelError, ValueError):
    """An N:M weight or activation sparsity pattern is not supported by the hardware."""


class CapacityError(HwModelError, ValueError):
    """An on-chip buffer is too small to hold the operands of one fold or tile."""
