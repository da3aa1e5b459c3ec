"""Typed errors raised by hwprune. Messages say what was wrong, where (module, op, file) and what to do."""

from __future__ import annotations

__all__ = [
    "HwPruneError",
    "TraceError",
    "UnsupportedOpError",
    "PruneConfigError",
    "ExcludeError",
    "EmptyGroupError",
    "SpecError",
    "BudgetError",
    "PlanMismatchError",
    "HardwareError",
    "EvalFnError",
    "StaleFileError",
    "SparsityConfigError",
    "TrainConfigError",
    "VerifyError",
    "DataError",
    "WeightsError",
    "NothingPrunableError",
    "UnmodelledOpWarning",
]


class HwPruneError(Exception):
    """Base class of every error hwprune raises."""


class TraceError(HwPruneError):
    """torch.fx could not trace the model; the message names the module and source line."""


class UnsupportedOpError(HwPruneError):
    """An op cannot be handled where it was asked to be (e.g. lowered to the accelerator)."""


class PruneConfigError(HwPruneError, ValueError):
    """A pruning argument is out of range (ratio, round_to, importance name, ...)."""


class ExcludeError(PruneConfigError):
    """An exclude names no module of the model."""


class EmptyGroupError(PruneConfigError):
    """A channel group would be pruned to zero channels."""


class SpecError(HwPruneError, ValueError):
    """A spec or plan file is malformed or does not belong to the model it is applied to."""


class PlanMismatchError(SpecError):
    """A plan or spec was made for a model of another structure (structure hash differs)."""


class BudgetError(HwPruneError, ValueError):
    """A latency budget cannot be met or is malformed; the message states the reachable minimum."""


class HardwareError(HwPruneError, ValueError):
    """The chosen hardware cannot do what was asked (e.g. N:M without a sparse engine)."""


class EvalFnError(HwPruneError):
    """A user-supplied eval/calibration function raised or returned something that is not a number."""


class StaleFileError(HwPruneError):
    """A .sens/.search/spec file is corrupt or belongs to another model structure."""


class SparsityConfigError(HwPruneError, ValueError):
    """An invalid combination of weight sparsity, activation sparsity and block size."""


class TrainConfigError(HwPruneError, ValueError):
    """A dataset or training argument is out of range (split, channels, optimizer, epochs, ...),
    or training diverged."""


class VerifyError(HwPruneError):
    """The IR is inconsistent (a shape or channel count that does not add up); names the op."""


class DataError(TrainConfigError):
    """A dataset file or folder is missing, malformed or inconsistent; the message names the file or
    folder and what to do."""


class WeightsError(HwPruneError, ValueError):
    """A weights file cannot be read or does not fit the model (missing, unexpected or mis-shaped keys)."""


class NothingPrunableError(BudgetError):
    """No channel group of the model can be pruned (all excluded, blocked or touching input/output),
    so no budget below the unpruned latency can be met; the message says why per group."""


class UnmodelledOpWarning(UserWarning):
    """Some ops of the model have no cost model and count as 0 cycles (``strict=True`` raises
    :class:`UnsupportedOpError` instead); the message lists each op, its torch op and why."""
