"""Accelerator configuration files: SCALE-Sim ``.cfg``, TOML and JSON, optionally based on a preset.

A TOML/JSON file holds :class:`AcceleratorConfig` fields (at the top level or under ``[accelerator]``);
``preset = "NAME"`` starts from a built-in preset and overrides the fields given.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.config.loaders import located_error, parse_scalesim_cfg
from hwmodel.config.presets import preset
from hwmodel.errors import ConfigError, HwModelError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    tomllib = None  # type: ignore[assignment]

__all__ = ["load_config"]


def _line_of(text: str, key: str) -> int | None:
    for no, line in enumerate(text.splitlines(), start=1):
        if re.match(rf'^\s*"?{re.escape(key)}"?\s*[:=]', line):
            return no
    return None


def _load_mapping(path: Path, text: str, data: Any) -> AcceleratorConfig:
    if not isinstance(data, dict):
        raise located_error(path, 1, "the file must hold a table/object of AcceleratorConfig fields")
    data = dict(data.get("accelerator", data))
    base = data.pop("preset", None)
    try:
        if base is not None:
            return preset(str(base)).replace(**data)
        return AcceleratorConfig.from_dict(data)
    except HwModelError as e:
        field = next((f for f in data if f in str(e)), None)
        raise located_error(path, _line_of(text, field) if field else None, str(e), type(e)) from None
    except TypeError as e:
        raise located_error(path, None, f"invalid field value: {e}") from None


def load_config(path: str | os.PathLike[str]) -> AcceleratorConfig:
    """Load an accelerator configuration from ``.cfg`` (SCALE-Sim), ``.toml`` or ``.json``.

    Args:
        path: the file; the suffix decides the format.

    Returns:
        The configuration.

    Raises:
        ConfigError: unreadable file, unknown suffix, or a bad field (file, line and field named).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".cfg":
        return parse_scalesim_cfg(path)
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{path}: unknown config format {suffix!r}; use .cfg (SCALE-Sim), .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    if suffix == ".toml":
        if tomllib is None:  # pragma: no cover
            raise ConfigError(f"{path}: reading TOML needs Python 3.11+; use a .json config instead")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise located_error(path, getattr(e, "lineno", None), f"invalid TOML: {e}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise located_error(path, e.lineno, f"invalid JSON: {e.msg}") from None
    return _load_mapping(path, text, data)
