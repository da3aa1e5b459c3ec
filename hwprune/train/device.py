"""Where training runs: ``--device auto|cpu|cuda[:N]`` and data-parallel training under ``torchrun``.

Under ``torchrun --nproc_per_node N`` the environment holds ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``;
``init_distributed`` then starts the process group (NCCL on CUDA, gloo on the CPU) and ``train`` runs
data-parallel (``DistributedDataParallel`` with a ``DistributedSampler``); a script ends it with
``close_distributed`` on every process (``hwprune optimize`` does). The simulated latency never
depends on any of this: the accelerator model is analytic.
"""

from __future__ import annotations

import os
import time

import torch
from torch import distributed as dist

from hwprune.errors import TrainConfigError

__all__ = [
    "resolve_device",
    "world",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "barrier",
    "close_distributed",
]


def world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the environment ``torchrun`` sets (``(0, 1, 0)`` otherwise)."""

    def env(name: str, default: int) -> int:
        raw = os.environ.get(name)
        try:
            return default if raw is None else int(raw)
        except ValueError:
            raise TrainConfigError(
                f"environment variable {name}={raw!r} is not an int (set by torchrun?)"
            ) from None

    return env("RANK", 0), env("WORLD_SIZE", 1), env("LOCAL_RANK", 0)


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """The device a ``--device`` value names.

    Args:
        spec: ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. Under
            ``torchrun``, ``"auto"`` and ``"cuda"`` mean the process's ``cuda:LOCAL_RANK``.

    Returns:
        The ``torch.device``.

    Raises:
        TrainConfigError: A malformed value, CUDA asked for where there is none, or an index beyond the
            devices present.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if not isinstance(spec, str):
        raise TrainConfigError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    _, world_size, local_rank = world()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    kind, sep, index = spec.partition(":")
    if kind != "cuda" or (sep and not index.isdigit()):
        raise TrainConfigError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    if not torch.cuda.is_available():
        raise TrainConfigError(f"device {spec!r}: CUDA is not available here; use --device cpu (or auto)")
    n = int(index) if sep else (local_rank if world_size > 1 else 0)
    if n >= torch.cuda.device_count():
        raise TrainConfigError(
            f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) present "
            f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
        )
    return torch.device("cuda", n)


def init_distributed(device: torch.device) -> bool:
    """Start the process group when launched by ``torchrun`` with more than one process.

    Returns:
        True when training will run data-parallel (the group exists and has more than one process).
    """
    _, world_size, _ = world()
    if world_size <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        global _OWNED
        _OWNED = True
    return is_distributed()


_DRAIN_S = 0.05  # how long close_distributed gives gloo's threads the GIL
_OWNED = False  # the process group was started by init_distributed (close_distributed ends only that one)


def close_distributed() -> None:
    """End the process group :func:`init_distributed` started, once every process is done with it.

    Call it on every process at the end of a successful job (not after an error: a process that failed
    mid-collective would leave the others waiting in the barrier). A group started by the caller is left
    alone. A no-op when not distributed.
    """
    global _OWNED
    if _OWNED and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        # gloo frees each finished collective, and the tensors it holds, on its own worker thread just
        # after the collective completes, and freeing a tensor takes the GIL. If the interpreter is
        # already shutting down then, that thread cannot get the GIL and the process aborts
        # ("terminate called without an active exception") after the job's work is done, which
        # torchrun reports as a failure. Released here, the GIL lets those threads finish first.
        time.sleep(_DRAIN_S)
    _OWNED = False


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    """True on rank 0 or when not distributed (the process that writes files and prints)."""
    return not is_distributed() or dist.get_rank() == 0


def barrier() -> None:
    """Wait for every process (a no-op when not distributed)."""
    if is_distributed():
        dist.barrier()
