"""SCALE-Sim v3's layout file (``-l``) and the config keys that go with it (``[layout]``, offsets).

SCALE-Sim v3 reads the layout CSV only when ``IfmapCustomLayout`` or ``FilterCustomLayout`` is True;
otherwise the file is required to exist and is ignored. hwmodel does the same: it checks the file and
ignores it with the default layouts, and refuses (with a typed error) configs that turn custom
layouts on, which it does not model. The operand base addresses (``IfmapOffset`` ...) decide the
addresses in trace files.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from hwmodel.errors import ConfigError, TopologyError
from hwmodel.systolic.operands import Offsets

__all__ = ["ScaleSimExtras", "read_cfg_extras", "check_layout_file"]


@dataclass(frozen=True, slots=True)
class ScaleSimExtras:
    """What a SCALE-Sim .cfg says beyond ``AcceleratorConfig``: addresses and layout switches."""

    offsets: Offsets = Offsets()
    ifmap_custom_layout: bool = False
    filter_custom_layout: bool = False


def _bool(path: Path, key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise ConfigError(f"{path}: [layout] {key} must be True or False, got {raw!r}")
    return value == "true"


def read_cfg_extras(path: str | os.PathLike[str]) -> ScaleSimExtras:
    """Offsets and custom-layout switches of a SCALE-Sim ``.cfg`` (defaults where absent).

    Raises:
        ConfigError: unreadable file, an offset that is not a non-negative integer, or a custom
            layout switched on (not modelled; the message says what to change).
    """
    path = Path(path)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, configparser.Error) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    defaults = Offsets()
    offsets = {}
    for field, key in (("ifmap", "ifmapoffset"), ("filter", "filteroffset"), ("ofmap", "ofmapoffset")):
        raw = parser.get("architecture_presets", key, fallback=None)
        try:
            offsets[field] = getattr(defaults, field) if raw is None else int(raw.strip())
            if offsets[field] < 0:
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"{path}: [architecture_presets] {key} must be an integer >= 0, got {raw!r}"
            ) from None
    custom = {}
    for key in ("IfmapCustomLayout", "FilterCustomLayout"):
        raw = parser.get("layout", key, fallback="False")
        custom[key] = _bool(path, key, raw)
        if custom[key]:
            raise ConfigError(
                f"{path}: [layout] {key} = True: custom SRAM layouts and bank conflicts are not "
                f"modelled by hwmodel; set {key} = False (SCALE-Sim's default layout)"
            )
    return ScaleSimExtras(Offsets(**offsets), custom["IfmapCustomLayout"], custom["FilterCustomLayout"])


def check_layout_file(path: str | os.PathLike[str]) -> Path:
    """Check that a SCALE-Sim layout CSV exists and has a header line; it is not used otherwise.

    Raises:
        TopologyError: missing, unreadable or empty file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TopologyError(
            f"cannot read layout file {path}: {e.strerror}; SCALE-Sim's '-l' needs an existing "
            f"layout CSV (a header line is enough with the default layouts)"
        ) from e
    if not text.strip():
        raise TopologyError(f"layout file {path} is empty; write at least SCALE-Sim's header line")
    return path
