"""``hwmodel`` command line: a drop-in for SCALE-Sim v3's ``python -m scalesim.scale``, same flags.

    hwmodel simulate -c configs/scale.cfg -t topologies/resnet18.csv -l layouts/test.csv -p results
    hwmodel -c scale.cfg -t resnet18.csv -p results -s Y          (``simulate`` may be left out)
    python -m hwmodel simulate -c scale.cfg -t gemm.csv -p results -i gemm
    hwmodel simulate --preset dpu-b4096 -t resnet18.csv -p results --mode analytic
    hwmodel presets

Reports go to ``OUTDIR/<run_name>/`` as in SCALE-Sim: COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv,
DETAILED_ACCESS_REPORT.csv (SCALE-Sim v3 layout), REPORT.json, and REPORT.md with plots; with
``-s Y`` also ``layer<i>/{IFMAP,FILTER,OFMAP}_{SRAM,DRAM}_TRACE.csv``. They are written together: a
failed run leaves no partial report behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hwmodel.errors import HwModelError

if TYPE_CHECKING:
    from hwmodel.config.accelerator import AcceleratorConfig
    from hwmodel.workloads.layout import ScaleSimExtras

__all__ = ["main", "build_parser", "run_simulate"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    p = argparse.ArgumentParser(
        prog="hwmodel", description="Cycle-accurate systolic-array and DPU simulator."
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="simulate a SCALE-Sim topology on a config or preset")
    hw = s.add_mutually_exclusive_group(required=True)
    hw.add_argument("-c", "--config", help="SCALE-Sim .cfg, or a .toml/.json accelerator config")
    hw.add_argument("--preset", help="a built-in accelerator (see 'hwmodel presets')")
    s.add_argument("-t", "--topology", required=True, help="SCALE-Sim topology CSV")
    s.add_argument(
        "-l",
        "--layout",
        help="SCALE-Sim layout CSV; checked, and ignored with the default layouts "
        "(configs that switch IfmapCustomLayout/FilterCustomLayout on are refused)",
    )
    s.add_argument("-p", "--outdir", required=True, help="output folder; reports go to OUTDIR/<run_name>/")
    s.add_argument(
        "-i",
        "--input-type",
        choices=("conv", "gemm"),
        default="conv",
        help="topology format: conv (default) or gemm (Layer, M, N, K)",
    )
    s.add_argument(
        "-s",
        "--save-trace",
        choices=("Y", "N", "y", "n"),
        default="N",
        help="Y: also write SCALE-Sim's per-layer SRAM/DRAM trace CSVs (layer<i>/*_TRACE.csv; cycle "
        "mode, USER bandwidth, systolic engine). Default N, unlike SCALE-Sim, since traces are "
        "large and slow: about a microsecond per SRAM access, keep it to small layers",
    )
    s.add_argument("--mode", choices=("cycle", "analytic"), default="cycle", help="simulation mode")
    s.add_argument("--no-markdown", action="store_true", help="skip REPORT.md and its plots")
    s.add_argument("-q", "--quiet", action="store_true", help="print only the output folder")
    sub.add_parser("presets", help="list the built-in accelerators")
    return p


def run_simulate(args: argparse.Namespace) -> Path:
    """Run ``hwmodel simulate`` with parsed arguments; returns the report folder."""
    from hwmodel.api import resolve_config, simulate
    from hwmodel.atomic import atomic_dir
    from hwmodel.reports.csv import write_csv_reports, write_json_report
    from hwmodel.reports.markdown import write_markdown_report
    from hwmodel.workloads.layout import ScaleSimExtras, check_layout_file, read_cfg_extras

    cfg = resolve_config(Path(args.config)) if args.config else resolve_config(args.preset)
    extras = (
        read_cfg_extras(args.config)
        if args.config and Path(args.config).suffix.lower() == ".cfg"
        else ScaleSimExtras()
    )
    if args.layout:
        check_layout_file(args.layout)
    traces = args.save_trace.upper() == "Y"
    if traces and args.mode != "cycle":
        raise HwModelError("-s Y (trace files) needs cycle mode; drop --mode analytic or use -s N")
    topo = Path(args.topology)
    report = simulate(topo, cfg, args.mode, topology_mode=args.input_type, name=topo.stem)
    folder = Path(args.outdir) / cfg.name
    with atomic_dir(folder) as tmp:
        write_csv_reports(report, tmp)
        write_json_report(report, tmp)
        if not args.no_markdown:
            write_markdown_report(report, tmp)
        if traces:
            _write_traces(topo, args.input_type, cfg, extras, tmp)
    if not args.quiet:
        print(f"hwmodel: {topo.name} on {cfg.name} ({args.mode} mode), {len(report.layers)} layers")
        print(
            f"  total cycles {report.total_cycles:,} (compute {report.compute_cycles:,}, "
            f"stall {report.stall_cycles:,})"
        )
        print(
            f"  latency {report.latency_ms:.4f} ms at {cfg.clock_mhz:g} MHz, {report.fps:.1f} FPS, "
            f"utilization {100 * report.utilization:.1f}%"
        )
    print(f"  reports: {folder}")
    return folder


def _write_traces(
    topo: Path, topology_mode: str, cfg: AcceleratorConfig, extras: ScaleSimExtras, folder: Path
) -> None:
    from hwmodel.systolic.traces import layer_memory_run, write_layer_traces
    from hwmodel.workloads.topology import read_topology

    for i, layer in enumerate(read_topology(topo, topology_mode)):
        write_layer_traces(layer_memory_run(layer, cfg, extras.offsets), folder / f"layer{i}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hwmodel`` script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv.insert(0, "simulate")  # SCALE-Sim's own command line has no sub-command
    args = build_parser().parse_args(argv)
    try:
        if args.command == "presets":
            from hwmodel.config.presets import list_presets

            print("\n".join(list_presets()))
            return 0
        run_simulate(args)
        return 0
    except HwModelError as e:
        print(f"hwmodel: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
