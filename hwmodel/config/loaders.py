"""SCALE-Sim ``.cfg`` files: read one into an ``AcceleratorConfig`` and write one back.

Every error names the file, the line and the field, and says what to write instead. TOML/JSON
configurations (optionally based on a preset) are read by :mod:`hwmodel.config.files`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from hwmodel.config.accelerator import BANDWIDTH_MODES, DATAFLOWS, AcceleratorConfig
from hwmodel.errors import CapacityError, ConfigError, HwModelError

__all__ = ["parse_scalesim_cfg", "to_scalesim_cfg", "located_error"]

# SCALE-Sim key (lower case, as configparser sees it) -> (AcceleratorConfig field, kind)
_CFG_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("general", "run_name"): ("name", "str"),
    ("architecture_presets", "arrayheight"): ("rows", "int"),
    ("architecture_presets", "arraywidth"): ("cols", "int"),
    ("architecture_presets", "ifmapsramszkb"): ("ifmap_sram_kb", "int"),
    ("architecture_presets", "filtersramszkb"): ("filter_sram_kb", "int"),
    ("architecture_presets", "ofmapsramszkb"): ("ofmap_sram_kb", "int"),
    ("architecture_presets", "dataflow"): ("dataflow", "dataflow"),
    ("architecture_presets", "bandwidth"): ("dram_bw", "bw"),
    ("architecture_presets", "readrequestbuffer"): ("read_request_buffer", "int"),
    ("architecture_presets", "writerequestbuffer"): ("write_request_buffer", "int"),
    ("run_presets", "interfacebandwidth"): ("bandwidth_mode", "mode"),
    ("layout", "ifmapsrambankbandwidth"): ("ifmap_dram_bw", "bw"),
    ("layout", "filtersrambankbandwidth"): ("filter_dram_bw", "bw"),
    ("sparsity", "sparsitysupport"): ("nm_support", "bool"),
    ("hwmodel", "clock_mhz"): ("clock_mhz", "float"),
}
_REQUIRED = ("rows", "cols", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb", "dataflow")
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_OPTION = re.compile(r"^\s*([^:=\s][^:=]*?)\s*[:=]\s*(.*?)\s*$")


def located_error(
    path: Path, line: int | None, msg: str, cls: type[HwModelError] = ConfigError
) -> HwModelError:
    """An error whose message starts with ``path:line``."""
    where = f"{path}:{line}" if line else str(path)
    return cls(f"{where}: {msg}")


def _convert(path: Path, line: int, key: str, kind: str, raw: str) -> Any:
    value = raw.strip().strip('"').strip()
    try:
        if kind == "str":
            return value
        if kind == "int":
            v = int(value)
            if v < 1:
                raise ValueError
            return v
        if kind == "float":
            x = float(value)
            if not x > 0:
                raise ValueError
            return x
        if kind == "bw":  # SCALE-Sim allows a comma list; it uses the first entry for every buffer
            x = float(value.split(",")[0])
            if not x > 0:
                raise ValueError
            return int(x) if x.is_integer() else x
        if kind == "bool":
            if value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError
        if kind == "dataflow":
            if value.lower() in DATAFLOWS:
                return value.lower()
            raise located_error(
                path, line, f"field {key!r}: unknown dataflow {value!r}; write one of {', '.join(DATAFLOWS)}"
            )
        if kind == "mode":
            if value.upper() in BANDWIDTH_MODES:
                return value.upper()
            raise located_error(
                path, line, f"field {key!r}: unknown bandwidth mode {value!r}; write CALC or USER"
            )
    except ConfigError:
        raise
    except ValueError:
        expected = {
            "int": "an integer >= 1",
            "float": "a number > 0",
            "bw": "a number > 0 (words/cycle)",
            "bool": "true or false",
        }[kind]
        raise located_error(path, line, f"field {key!r}: expected {expected}, got {value!r}") from None
    raise AssertionError(kind)  # pragma: no cover


def parse_scalesim_cfg(path: str | os.PathLike[str]) -> AcceleratorConfig:
    """Read a SCALE-Sim (v2/v3) ``.cfg`` file.

    Unknown sections and keys (layout, ramulator, offsets) are accepted and ignored: they do not change
    compute or stall cycles here. A missing ``[sparsity]`` section means N:M support off, as in SCALE-Sim.

    Args:
        path: the file.

    Returns:
        The configuration.

    Raises:
        ConfigError: a malformed line, a bad value or a missing field (file, line and field named).
        CapacityError: an SRAM too small for one fold (file, line and field named).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    values: dict[str, Any] = {"nm_support": False}
    lines: dict[str, int] = {}
    section = None
    for no, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped[0] in "#;":
            continue
        m = _SECTION.match(raw)
        if m:
            section = m.group(1).strip().lower()
            continue
        m = _OPTION.match(raw)
        if m is None:
            raise located_error(path, no, f"cannot parse {stripped!r}; write 'Key : value' under a [section]")
        if section is None:
            raise located_error(
                path, no, f"{m.group(1)!r} appears before any [section]; start with [general]"
            )
        spec = _CFG_KEYS.get((section, m.group(1).strip().lower()))
        if spec is None:
            continue
        field, kind = spec
        values[field] = _convert(path, no, m.group(1).strip(), kind, m.group(2))
        lines[field] = no
    missing = [f for f in _REQUIRED if f not in values]
    if missing:
        shown = {
            "rows": "ArrayHeight",
            "cols": "ArrayWidth",
            "ifmap_sram_kb": "IfmapSramSzkB",
            "filter_sram_kb": "FilterSramSzkB",
            "ofmap_sram_kb": "OfmapSramSzkB",
            "dataflow": "Dataflow",
        }
        example = {
            "rows": "32",
            "cols": "32",
            "ifmap_sram_kb": "64",
            "filter_sram_kb": "64",
            "ofmap_sram_kb": "64",
            "dataflow": "ws",
        }
        raise located_error(
            path,
            None,
            "missing field(s) "
            + ", ".join(shown[f] for f in missing)
            + f" in [architecture_presets]; add e.g. '{shown[missing[0]]}: {example[missing[0]]}'",
        )
    values.setdefault("name", path.stem)
    if values.get("bandwidth_mode", "CALC") == "CALC":  # bank bandwidths only matter in USER mode
        values.pop("ifmap_dram_bw", None)
        values.pop("filter_dram_bw", None)
    for f in ("ifmap_dram_bw", "filter_dram_bw"):
        if f in values and values[f] == values.get("dram_bw"):
            values.pop(f)
    try:
        return AcceleratorConfig(**values)
    except CapacityError as e:
        cap = next((f for f in ("ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb") if f in str(e)), "")
        raise located_error(path, lines.get(cap), str(e), CapacityError) from None
    except ConfigError as e:
        bad = next((f for f in lines if f"AcceleratorConfig.{f} " in str(e)), "")
        raise located_error(path, lines.get(bad), str(e)) from None


def to_scalesim_cfg(cfg: AcceleratorConfig) -> str:
    """The text of a SCALE-Sim v3 ``.cfg`` for a systolic configuration (round-trips ``parse_scalesim_cfg``)."""
    if cfg.engine != "systolic":
        raise ConfigError(
            f"accelerator {cfg.name!r} is a {cfg.engine} engine; only systolic arrays have a .cfg form"
        )

    def num(x: float) -> int | float:
        return int(x) if float(x).is_integer() else x

    bw, ibw, fbw = num(cfg.dram_bw), num(cfg.stream_bw("ifmap")), num(cfg.stream_bw("filter"))
    return (
        f"[general]\nrun_name = {cfg.name}\n\n[architecture_presets]\nArrayHeight: {cfg.rows}\n"
        f"ArrayWidth: {cfg.cols}\nIfmapSramSzkB: {cfg.ifmap_sram_kb}\nFilterSramSzkB: {cfg.filter_sram_kb}\n"
        f"OfmapSramSzkB: {cfg.ofmap_sram_kb}\nIfmapOffset: 0\nFilterOffset: 10000000\nOfmapOffset: 20000000\n"
        f"Dataflow : {cfg.dataflow}\nBandwidth : {bw}\nReadRequestBuffer: {cfg.read_request_buffer}\n"
        f"WriteRequestBuffer: {cfg.write_request_buffer}\n\n[layout]\nIfmapCustomLayout: False\n"
        f"IfmapSRAMBankBandwidth: {ibw}\nIfmapSRAMBankNum: 1\nIfmapSRAMBankPort: 2\nFilterCustomLayout: False\n"
        f"FilterSRAMBankBandwidth: {fbw}\nFilterSRAMBankNum: 1\nFilterSRAMBankPort: 2\n\n[sparsity]\n"
        f"SparsitySupport : {'true' if cfg.nm_support else 'false'}\nSparseRep : ellpack_block\n"
        f"OptimizedMapping : false\nBlockSize : 4\nRandomNumberGeneratorSeed : 40\n\n[run_presets]\n"
        f"InterfaceBandwidth: {cfg.bandwidth_mode}\nUseRamulatorTrace: False\n\n[hwmodel]\n"
        f"clock_mhz = {cfg.clock_mhz}\n"
    )
