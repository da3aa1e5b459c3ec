"""File helpers shared by hwprune: atomic writes (from hwmodel) and versioned JSON documents."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from hwmodel.atomic import atomic_dir, atomic_write_bytes, atomic_write_text
from hwprune.errors import StaleFileError

__all__ = [
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_json",
    "read_json",
    "save_state_dict",
]


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(
    path: str | os.PathLike[str],
    *,
    kind: str = "file",
    fix: str = "delete it or rerun with forced=True to rebuild it",
) -> Any:
    """Read a JSON document; a missing, unreadable or corrupt one raises :class:`StaleFileError`.

    Args:
        path: the file to read.
        kind: what the file is, for the message (e.g. "sensitivity file").
        fix: what the user should do about a corrupt file, for the message.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise StaleFileError(f"{kind} {path} does not exist") from e
    except UnicodeDecodeError as e:
        raise StaleFileError(f"{kind} {path} is not a text (JSON) file; {fix}") from e
    except OSError as e:
        raise StaleFileError(f"cannot read {kind} {path}: {e.strerror or e}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise StaleFileError(f"{kind} {path} is not valid JSON ({e.msg} at line {e.lineno}); {fix}") from e


def save_state_dict(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """``torch.save`` a state_dict atomically (a crash never leaves a truncated checkpoint)."""
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write_bytes(path, buf.getvalue())
