"""Loading a user's trained weights into a model: a plain ``state_dict`` or a checkpoint dict holding one
under ``state_dict`` or ``model``, checked key by key and shape by shape before anything is copied.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwprune.errors import WeightsError

__all__ = ["CHECKPOINT_KEYS", "read_state_dict", "check_state_dict", "load_weights"]

CHECKPOINT_KEYS = ("state_dict", "model")
_DDP_PREFIX = "module."
_SHOWN = 5


def _names(keys: list[str]) -> str:
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state_dict from ``path`` (``torch.load`` with ``weights_only=True``, onto the CPU).

    A checkpoint dict whose ``state_dict`` or ``model`` entry is a mapping of tensors yields that entry;
    keys saved from a ``DistributedDataParallel`` wrapper lose their ``module.`` prefix.

    Raises:
        WeightsError: The file is missing, not a torch file, or holds no tensor mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"cannot read weights file {path} as a torch state_dict ({first}); "
            "save it with torch.save(model.state_dict(), path)"
        ) from e
    state: Any = obj
    if isinstance(obj, Mapping) and not _is_tensor_map(obj):
        state = next((obj[k] for k in CHECKPOINT_KEYS if k in obj and _is_tensor_map(obj[k])), None)
        if state is None:
            raise WeightsError(
                f"weights file {path} is a dict without a state_dict: its keys are {_names(sorted(map(str, obj)))}; "
                f"expected tensors, or a checkpoint holding them under {' or '.join(map(repr, CHECKPOINT_KEYS))}"
            )
    if not _is_tensor_map(state):
        raise WeightsError(f"weights file {path} holds a {type(obj).__name__}, not a state_dict of tensors")
    if state and all(k.startswith(_DDP_PREFIX) for k in state):
        state = {k.removeprefix(_DDP_PREFIX): v for k, v in state.items()}
    return dict(state)


def _is_tensor_map(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "weights") -> None:
    """Check that ``state`` has exactly ``model``'s keys with the same shapes.

    Raises:
        WeightsError: Naming the missing keys, the unexpected keys and the mis-shaped keys.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_names(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {_names(shapes)}")
    if problems:
        raise WeightsError(
            f"{source} does not fit {type(model).__name__}: {'; '.join(problems)}. "
            "Check --model, --num-classes and --in-channels against how the weights were trained"
        )


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Read ``path`` (see ``read_state_dict``), check it (``check_state_dict``) and load it into ``model``.

    Returns:
        ``model``, with the weights loaded.

    Raises:
        WeightsError: Unreadable file, or keys/shapes that do not match the model (nothing is loaded then).
    """
    state = read_state_dict(path)
    check_state_dict(model, state, f"weights file {path}")
    model.load_state_dict(state, strict=True)
    return model
