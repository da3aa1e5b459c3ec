"""Public entry points: ``simulate`` (cycle mode), ``estimate`` (analytic) and ``layer_cycles``.

``cfg`` may be an ``AcceleratorConfig`` or a preset name; work is dispatched on ``cfg.engine``
through ``ENGINES`` (systolic: ``hwmodel.systolic.engine``; dpu: ``hwmodel.dpu.engine``).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from hwmodel.config.accelerator import AcceleratorConfig
from hwmodel.config.presets import preset
from hwmodel.errors import ConfigError, HwModelError, TopologyError
from hwmodel.reports.model import LayerReport, NetworkReport
from hwmodel.workloads.layers import Layer
from hwmodel.workloads.topology import read_topology

__all__ = ["simulate", "estimate", "layer_cycles", "resolve_config", "MODES"]

MODES = ("cycle", "analytic")


class _Engine(NamedTuple):
    module: str
    simulate: str
    estimate: str
    cycles: str


ENGINES: dict[str, _Engine] = {
    "systolic": _Engine("hwmodel.systolic.engine", "simulate_layer", "estimate_layer", "layer_cycles"),
    "dpu": _Engine("hwmodel.dpu.engine", "simulate_layer", "estimate_layer", "estimate_cycles"),
}
_FUNCS: dict[tuple[str, str], Any] = {}

# what every engine module provides (hwmodel.systolic.engine, hwmodel.dpu.engine)
_ReportFn = Callable[[Layer, AcceleratorConfig], LayerReport]
_CyclesFn = Callable[[Layer, AcceleratorConfig], int]


def _func(engine: str, which: str) -> Any:
    # imported lazily by name: the result's type is declared by _report_fn/_cycles_fn
    key = (engine, which)
    fn = _FUNCS.get(key)
    if fn is None:
        spec = ENGINES[engine]
        try:
            module = importlib.import_module(spec.module)
        except ImportError as e:
            raise HwModelError(f"the {engine} engine ({spec.module}) is not available: {e}") from e
        fn = getattr(module, getattr(spec, which), None)
        if fn is None:
            raise HwModelError(
                f"{spec.module} has no {getattr(spec, which)}(); the {engine} engine is incomplete"
            )
        _FUNCS[key] = fn
    return fn


def _report_fn(engine: str, mode: str) -> _ReportFn:
    fn: _ReportFn = _func(engine, "simulate" if mode == "cycle" else "estimate")
    return fn


def _cycles_fn(engine: str) -> _CyclesFn:
    fn: _CyclesFn = _func(engine, "cycles")
    return fn


def resolve_config(cfg: AcceleratorConfig | str | os.PathLike[str]) -> AcceleratorConfig:
    """An ``AcceleratorConfig`` from a config, a preset name, or a config file path."""
    if isinstance(cfg, AcceleratorConfig):
        return cfg
    if isinstance(cfg, Path) or (
        isinstance(cfg, str) and os.path.splitext(cfg)[1].lower() in (".cfg", ".toml", ".json")
    ):
        from hwmodel.config.files import load_config

        return load_config(cfg)
    if isinstance(cfg, str):
        return preset(cfg)
    raise ConfigError(
        f"expected an AcceleratorConfig, a preset name or a config file, got {type(cfg).__name__}"
    )


def _layers(
    workload: Iterable[Layer] | Layer | str | os.PathLike[str], topology_mode: str
) -> tuple[tuple[Layer, ...], str]:
    if isinstance(workload, Layer):
        return (workload,), workload.name
    if isinstance(workload, (str, os.PathLike)):
        path = Path(workload)
        return read_topology(path, topology_mode), path.stem
    layers = tuple(workload)
    bad = [type(x).__name__ for x in layers if not isinstance(x, Layer)]
    if bad:
        raise TopologyError(f"workloads must be hwmodel.Layer objects, got {', '.join(sorted(set(bad)))}")
    if not layers:
        raise TopologyError("no layers to simulate; pass at least one hwmodel.Layer or a topology file")
    return layers, "network"


PROGRESS_EVERY_S = 5.0


def simulate(
    layers_or_topology: Iterable[Layer] | Layer | str | os.PathLike[str],
    cfg: AcceleratorConfig | str,
    mode: str = "cycle",
    *,
    topology_mode: str = "conv",
    name: str | None = None,
    progress: bool | Callable[[str], None] = False,
) -> NetworkReport:
    """Simulate a network (or one layer) on an accelerator.

    Args:
        layers_or_topology: ``Layer`` objects, one ``Layer``, or a SCALE-Sim topology CSV path.
        cfg: an ``AcceleratorConfig``, a preset name (``"dpu-b4096"``) or a config file path.
        mode: ``"cycle"`` (stepped, exact stalls) or ``"analytic"`` (closed form, see :func:`estimate`).
        topology_mode: ``"conv"`` or ``"gemm"`` for a topology file.
        name: a label for reports (defaults to the topology file's stem).
        progress: report progress of a long run: True prints to stderr, a callable receives each
            line. A line is written after a layer when at least ``PROGRESS_EVERY_S`` seconds have
            passed since the last one (so short runs stay silent), naming the layer, its cycles and
            how far the run is.

    Returns:
        A ``NetworkReport`` with one ``LayerReport`` per layer.

    Raises:
        ConfigError: unknown preset, bad config, or unknown mode.
        TopologyError: malformed topology file or workload.
        SparsityError: an N:M pattern the engine does not support.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown simulation mode {mode!r}; use 'cycle' or 'analytic'")
    config = resolve_config(cfg)
    layers, label = _layers(layers_or_topology, topology_mode)
    fn = _report_fn(config.engine, mode)
    if not progress:
        reports: tuple[LayerReport, ...] = tuple(fn(layer, config) for layer in layers)
        return NetworkReport(reports, config, mode, name or label)
    say = progress if callable(progress) else (lambda line: print(line, file=sys.stderr, flush=True))
    out: list[LayerReport] = []
    start = time.monotonic()
    last = start
    for i, layer in enumerate(layers):
        out.append(fn(layer, config))
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S:
            say(
                f"[hwmodel] {mode} mode: layer {i + 1}/{len(layers)} {layer.name} done "
                f"({out[-1].total_cycles:,} cycles), {now - start:.0f}s elapsed"
            )
            last = now
    return NetworkReport(tuple(out), config, mode, name or label)


def estimate(
    layers: Iterable[Layer] | Layer | str | os.PathLike[str],
    cfg: AcceleratorConfig | str,
    *,
    topology_mode: str = "conv",
    name: str | None = None,
) -> NetworkReport:
    """Analytic (closed-form) report: compute cycles equal the cycle mode's exactly.

    Stall cycles are exact for the DPU engine and for systolic CALC mode (no stalls); for systolic
    USER bandwidth mode they are a closed-form estimate (``LayerReport.exact_stalls`` is False).

    Args:
        layers: as for :func:`simulate`.
        cfg: as for :func:`simulate`.
        topology_mode: as for :func:`simulate`.
        name: as for :func:`simulate`.
    """
    return simulate(layers, cfg, "analytic", topology_mode=topology_mode, name=name)


def layer_cycles(layer: Layer, cfg: AcceleratorConfig | str) -> int:
    """Analytic total cycles of one layer; the planner's hot path (about 1e5 calls).

    Args:
        layer: the workload.
        cfg: an ``AcceleratorConfig`` or a preset name.

    Returns:
        compute + stall cycles (stalls estimated where ``estimate`` estimates them).
    """
    config = cfg if isinstance(cfg, AcceleratorConfig) else resolve_config(cfg)
    return int(_cycles_fn(config.engine)(layer, config))
