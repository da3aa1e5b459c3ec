"""Built-in accelerators: SCALE-Sim's example arrays, plain systolic arrays and the DPUCZDX8G family.

* SCALE-Sim examples (files in ``hwmodel/presets/*.cfg``, values from scalesim-project's ``configs/``):
  ``scale`` (32x32 OS), ``google`` (TPU-like 256x256 WS, USER bandwidth), ``tpuv5e-downscale``
  (128x128 WS, USER bandwidth 60), ``eyeriss`` (12x14 WS).
* ``systolic-32x32-{os,ws,is}``: 32x32, 64 KiB SRAMs, 10 words/cycle, CALC bandwidth, N:M support.
* ``dpu-b512`` ... ``dpu-b4096`` (``hwmodel.dpu.params``) and their ``-sparse`` variants with the
  Vitis AI sparse engine (``hwmodel.config.sparse.SparseEngine``).
* Boards (``BOARDS``): ``zcu102`` = 3x B4096 @ 281 MHz, ``zcu104`` = 2x B4096 @ 300 MHz, ``kv260`` =
  1x B4096 @ 300 MHz (the Vitis AI model-zoo benchmark configurations; the KV260's one core makes its
  multi-thread fps the one host-free measure of a core's time per frame). Latency is one core at its
  full DRAM port; ``cores`` and the board DDR they share (``ddr_bytes_per_cycle``) give multi-core throughput
  (``hwmodel.dpu.board.throughput_fps``). DDR: the ZCU102's and ZCU104's PS DDR4 is 64 bits wide at
  2400 MT/s, 19.2 GB/s peak (UG1182 / UG1267); the KV260's K26 SOM has 64-bit DDR4 too (DS987), taken
  at the same peak; the DPU sustains ``DDR_EFFICIENCY`` of it (fitted, see
  ``reports/dpu_vs_model_zoo.md``).
"""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path

from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.errors import ConfigError

__all__ = ["preset", "list_presets", "PRESET_DIR"]

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
_SYSTOLIC = ("os", "ws", "is")  # systolic-32x32-<dataflow>

DDR_PEAK_BYTES_PER_S = 19.2e9  # 64-bit DDR4-2400 (ZCU102 UG1182, ZCU104 UG1267)
DDR_EFFICIENCY = (
    0.5  # fraction of DDR peak the DPU cores sustain together (assumption; the report shows the fit)
)
# board -> (cores, clock MHz): Vitis AI model-zoo tables, "ZCU102 3 * B4096 @ 281MHz", "ZCU104 2 * B4096 @ 300MHz",
# "Kria KV260 ... 1 * B4096F @ 300MHz"
BOARDS: dict[str, tuple[int, float]] = {"zcu102": (3, 281.0), "zcu104": (2, 300.0), "kv260": (1, 300.0)}


def _scalesim_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PRESET_DIR.glob("*.cfg"))}


def _dpu_names() -> tuple[str, ...]:
    from hwmodel.dpu.params import DPU_NAMES

    return tuple(DPU_NAMES) + tuple(f"{n}-sparse" for n in DPU_NAMES)


def list_presets() -> list[str]:
    """Names accepted by :func:`preset`, sorted."""
    return sorted([*_scalesim_files(), *(f"systolic-32x32-{df}" for df in _SYSTOLIC), *_dpu_names(), *BOARDS])


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
    if key in {f"systolic-32x32-{df}" for df in _SYSTOLIC}:
        return AcceleratorConfig(name=key, rows=32, cols=32, dataflow=key.rsplit("-", 1)[1])
    files = _scalesim_files()
    if key in files:
        from hwmodel.config.loaders import parse_scalesim_cfg

        return parse_scalesim_cfg(files[key]).replace(name=key)
    if key in _dpu_names():
        from hwmodel.config.sparse import SparseEngine
        from hwmodel.dpu.params import dpu_params

        base = key.removesuffix("-sparse")
        p = dpu_params(base)
        return AcceleratorConfig(
            name=key,
            engine="dpu",
            dram_bw=p.dram_bytes_per_cycle,
            clock_mhz=p.clock_mhz,
            dpu=p,
            sparse=SparseEngine() if key.endswith("-sparse") else None,
        )
    if key in BOARDS:
        from hwmodel.dpu.params import dpu_params

        cores, mhz = BOARDS[key]
        ddr = int(DDR_PEAK_BYTES_PER_S * DDR_EFFICIENCY / (mhz * 1e6))
        p = dpu_params("dpu-b4096", clock_mhz=mhz, cores=cores, ddr_bytes_per_cycle=ddr)
        return AcceleratorConfig(name=key, engine="dpu", dram_bw=p.dram_bytes_per_cycle, clock_mhz=mhz, dpu=p)
    names = list_presets()
    close = difflib.get_close_matches(key, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown accelerator preset {name!r}.{hint} Known presets: {', '.join(names)}")
