"""Built-in accelerators: SCALE-Sim's example arrays, plain systolic arrays and the DPUCZDX8G family.

* SCALE-Sim examples (files in ``hwmodel/presets/*.cfg``, values from scalesim-project's ``configs/``):
  ``scale`` (32x32 OS), ``google`` (TPU-like 256x256 WS, USER bandwidth), ``tpuv5e-downscale``
  (128x128 WS, USER bandwidth 60), ``eyeriss`` (12x14 WS).
* ``systolic-32x32-{os,ws,is}``: 32x32, 64 KiB SRAMs, 10 words/cycle, CALC bandwidth, N:M support.
* ``dpu-b512`` ... ``dpu-b4096`` (``hwmodel.dpu.params``) and their ``-sparse`` variants with the
  Vitis AI sparse engine (``hwmodel.config.sparse.SparseEngine``).
"""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path

from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.errors import ConfigError

__all__ = ["preset", "list_presets", "PRESET_DIR"]

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
_SYSTOLIC = {f"systolic-32x32-{df}": {"rows": 32, "cols": 32, "dataflow": df} for df in ("os", "ws", "is")}


def _scalesim_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PRESET_DIR.glob("*.cfg"))}


def _dpu_names() -> tuple[str, ...]:
    from hwmodel.dpu.params import DPU_NAMES

    return tuple(DPU_NAMES) + tuple(f"{n}-sparse" for n in DPU_NAMES)


def list_presets() -> list[str]:
    """Names accepted by :func:`preset`, sorted."""
    return sorted([*_scalesim_files(), *_SYSTOLIC, *_dpu_names()])


@cache
def preset(name: str) -> AcceleratorConfig:
    """A built-in accelerator by name.

    Args:
        name: e.g. ``"systolic-32x32-os"``, ``"google"``, ``"dpu-b4096"``, ``"dpu-b4096-sparse"``.

    Returns:
        The (immutable, cached) configuration.

    Raises:
        ConfigError: unknown name; the message lists the known names.
    """
    key = str(name).strip().lower()
    if key in _SYSTOLIC:
        return AcceleratorConfig(name=key, **_SYSTOLIC[key])
    files = _scalesim_files()
    if key in files:
        from hwmodel.config.loaders import parse_scalesim_cfg

        return parse_scalesim_cfg(files[key]).replace(name=key)
    if key in _dpu_names():
        from hwmodel.config.sparse import SparseEngine
        from hwmodel.dpu.params import dpu_params

        base = key.removesuffix("-sparse")
        p = dpu_params(base)
        return AcceleratorConfig(name=key, engine="dpu", dram_bw=p.dram_bytes_per_cycle, clock_mhz=p.clock_mhz,
                                 dpu=p, sparse=SparseEngine() if key.endswith("-sparse") else None)
    names = list_presets()
    close = difflib.get_close_matches(key, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown accelerator preset {name!r}.{hint} Known presets: {', '.join(names)}")
