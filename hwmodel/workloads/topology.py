"""Read and write SCALE-Sim topology files (conv and GEMM formats).

Conv format (SCALE-Sim v2/v3)::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, [Sparsity,]

IFMAP sizes are the *padded* input (padding 0 here). Trailing commas and blank lines are allowed.
Columns are found by header name (SCALE-Sim's aliases, e.g. "Stride height"/"Stride width" or
"Strides"); a row whose name contains ``DP`` is a depthwise layer and, exactly as SCALE-Sim does, runs
as ``Channels`` single-channel layers named ``<name>Channel_<i>`` that keep ``Num Filter``.
GEMM format (``-i gemm``)::

    Layer, M, N, K, [Sparsity,]

The optional ``Sparsity`` column holds a layer-wise N:M weight pattern such as ``2:4``.

A topology file is a network in execution order, so its first row reads the network's input and its
last row writes the network's output: those layers are marked ``Layer.dram_input`` / ``dram_output``
(both live in DDR; an engine that keeps small maps on chip, the DPU, still moves them). The file says
nothing about which row feeds which, so the rows between keep the engine's own rule. SCALE-Sim's
systolic model loads every operand from DRAM anyway, so these marks change nothing there.
"""

from __future__ import annotations

import os
from pathlib import Path

from hwmodel.atomic import atomic_write_text
from hwmodel.errors import HwModelError, TopologyError
from hwmodel.workloads.layers import Layer, LayerKind, NMPattern

__all__ = ["read_topology", "write_topology", "TOPOLOGY_MODES"]

TOPOLOGY_MODES = ("conv", "gemm")

_CONV_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("layer name", "layer"),
    "ifmap_h": ("ifmap height",),
    "ifmap_w": ("ifmap width",),
    "filt_h": ("filter height",),
    "filt_w": ("filter width",),
    "channels": ("channels",),
    "num_filter": ("num filter", "num filters"),
    "stride": ("strides", "stride"),
    "stride_h": ("stride height", "stride h"),
    "stride_w": ("stride width", "stride w"),
    "sparsity": ("sparsity", "sparsity ratio"),
}
_GEMM_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("layer name", "layer"),
    "m": ("m",),
    "n": ("n",),
    "k": ("k",),
    "sparsity": ("sparsity", "sparsity ratio"),
}
# positional fallback when a header cell is not recognised (SCALE-Sim v2 reads by position)
_CONV_ORDER = (
    "name",
    "ifmap_h",
    "ifmap_w",
    "filt_h",
    "filt_w",
    "channels",
    "num_filter",
    "stride",
    "sparsity",
)
_GEMM_ORDER = ("name", "m", "n", "k", "sparsity")


def _cells(line: str) -> list[str]:
    cells = [c.strip() for c in line.strip().split(",")]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def _columns(
    path: Path, header: list[str], aliases: dict[str, tuple[str, ...]], order: tuple[str, ...]
) -> dict[str, int]:
    cols: dict[str, int] = {}
    for i, cell in enumerate(header):
        norm = " ".join(cell.lower().split())
        key = next((k for k, names in aliases.items() if norm in names), None)
        if key is None and i < len(order) and order[i] not in cols:
            key = order[i]
        if key is not None and key not in cols:
            cols[key] = i
    used = set(cols.values())
    for i in range(len(header), len(order)):  # SCALE-Sim reads by position: a header may omit Sparsity
        if order[i] not in cols and i not in used:
            cols[order[i]] = i
    need = [k for k in order if k not in ("sparsity", "stride") and k not in cols]
    if need:
        raise TopologyError(
            f"{path}:1: header lacks column(s) {', '.join(need)}; expected "
            f"{', '.join(aliases[k][0] for k in order)}"
        )
    return cols


def _int(path: Path, line: int, cells: list[str], cols: dict[str, int], key: str, label: str) -> int:
    i = cols[key]
    if i >= len(cells) or cells[i] == "":
        raise TopologyError(f"{path}:{line}: field {label!r} is missing; the row has {len(cells)} fields")
    try:
        v = int(cells[i])
    except ValueError:
        raise TopologyError(f"{path}:{line}: field {label!r} must be an integer, got {cells[i]!r}") from None
    if v < 1:
        raise TopologyError(f"{path}:{line}: field {label!r} must be >= 1, got {v}")
    return v


def _nm(path: Path, line: int, cells: list[str], cols: dict[str, int]) -> NMPattern | None:
    i = cols.get("sparsity")
    if i is None or i >= len(cells) or cells[i] == "":
        return None
    try:
        p = NMPattern.parse(cells[i])
    except HwModelError as e:
        raise TopologyError(f"{path}:{line}: field 'Sparsity': {e}") from None
    return None if p.dense else p


def _conv_rows(path: Path, line: int, cells: list[str], cols: dict[str, int]) -> list[Layer]:
    name = cells[cols["name"]]
    vals = {
        k: _int(path, line, cells, cols, k, lbl)
        for k, lbl in (
            ("ifmap_h", "IFMAP Height"),
            ("ifmap_w", "IFMAP Width"),
            ("filt_h", "Filter Height"),
            ("filt_w", "Filter Width"),
            ("channels", "Channels"),
            ("num_filter", "Num Filter"),
        )
    }
    if "stride_h" in cols:
        sh = _int(path, line, cells, cols, "stride_h", "Stride Height")
        sw = _int(path, line, cells, cols, "stride_w", "Stride Width") if "stride_w" in cols else sh
    elif "stride" in cols:
        sh = sw = _int(path, line, cells, cols, "stride", "Strides")
    else:
        sh = sw = 1
    nm = _nm(path, line, cells, cols)
    if "DP" in name:
        return [
            Layer(
                f"{name}Channel_{c}",
                LayerKind.CONV,
                vals["ifmap_h"],
                vals["ifmap_w"],
                1,
                vals["num_filter"],
                vals["filt_h"],
                vals["filt_w"],
                sh,
                sw,
                weight_nm=nm,
            )
            for c in range(vals["channels"])
        ]
    return [
        Layer(
            name,
            LayerKind.CONV,
            vals["ifmap_h"],
            vals["ifmap_w"],
            vals["channels"],
            vals["num_filter"],
            vals["filt_h"],
            vals["filt_w"],
            sh,
            sw,
            weight_nm=nm,
        )
    ]


def _gemm_rows(path: Path, line: int, cells: list[str], cols: dict[str, int]) -> list[Layer]:
    m = _int(path, line, cells, cols, "m", "M")
    n = _int(path, line, cells, cols, "n", "N")
    k = _int(path, line, cells, cols, "k", "K")
    return [Layer.gemm(cells[cols["name"]], m, k, n, weight_nm=_nm(path, line, cells, cols))]


def read_topology(path: str | os.PathLike[str], mode: str = "conv") -> tuple[Layer, ...]:
    """Read a SCALE-Sim topology CSV.

    Args:
        path: the CSV file.
        mode: ``"conv"`` (default) or ``"gemm"`` (SCALE-Sim's ``-i gemm``).

    Returns:
        The layers, in file order (depthwise ``DP`` rows expanded per channel); the first row's
        marked ``dram_input`` and the last row's ``dram_output`` (see the module docstring).

    Raises:
        TopologyError: unreadable file, bad header, malformed row or field (file, line and field named).
    """
    if mode not in TOPOLOGY_MODES:
        raise TopologyError(f"unknown topology mode {mode!r}; use 'conv' or 'gemm'")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise TopologyError(f"cannot read topology file {path}: {e.strerror}") from e
    aliases, order, rows = (
        (_CONV_ALIASES, _CONV_ORDER, _conv_rows)
        if mode == "conv"
        else (_GEMM_ALIASES, _GEMM_ORDER, _gemm_rows)
    )
    cols: dict[str, int] | None = None
    rows_read: list[list[Layer]] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cells = _cells(raw)
        if cols is None:
            cols = _columns(path, cells, aliases, order)
            continue
        if not cells[cols["name"]]:
            raise TopologyError(f"{path}:{no}: field 'Layer name' is empty")
        try:
            rows_read.append(rows(path, no, cells, cols))
        except TopologyError as e:
            if str(e).startswith(str(path)):
                raise
            raise TopologyError(f"{path}:{no}: {e}") from None
    if not rows_read:
        raise TopologyError(f"{path}: no layers; a header row and at least one layer row are needed")
    # the first row reads the network's input, the last writes its output (a DP row: every channel)
    rows_read[0] = [ly.with_(dram_input=True) for ly in rows_read[0]]
    rows_read[-1] = [ly.with_(dram_output=True) for ly in rows_read[-1]]
    return tuple(ly for row in rows_read for ly in row)


def write_topology(
    layers: tuple[Layer, ...] | list[Layer], path: str | os.PathLike[str], mode: str = "conv"
) -> Path:
    """Write layers as a SCALE-Sim topology CSV (padded sizes, trailing commas), atomically.

    Args:
        layers: conv or GEMM layers (conv layers with padding are written with their padded size).
        path: destination.
        mode: ``"conv"`` or ``"gemm"``.
    """
    sparse = any(ly.weight_nm is not None for ly in layers)
    tail = " Sparsity," if sparse else ""

    def nm(ly: Layer) -> str:
        return f" {ly.weight_nm or '1:1'}," if sparse else ""

    if mode == "gemm":
        out = ["Layer, M, N, K," + tail]
        for ly in layers:
            out.append(f"{ly.name}, {ly.gemm_m}, {ly.gemm_n}, {ly.gemm_k}," + nm(ly))
    else:
        out = [
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
            "Strides," + tail
        ]
        for ly in layers:
            if (
                ly.kind not in (LayerKind.CONV, LayerKind.GEMM)
                or ly.groups != 1
                or ly.stride_h != ly.stride_w
                or ly.dilation_h != 1
                or ly.dilation_w != 1
            ):
                raise TopologyError(f"layer {ly.name!r} ({ly.kind.value}) has no SCALE-Sim conv-row form")
            out.append(
                f"{ly.name}, {ly.padded_h}, {ly.padded_w}, {ly.filt_h}, {ly.filt_w}, {ly.channels}, "
                f"{ly.num_filter}, {ly.stride_h}," + nm(ly)
            )
    return atomic_write_text(path, "\n".join(out) + "\n")
