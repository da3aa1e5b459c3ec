"""``hwmodel`` command line: a drop-in for ``python scalesim/scale.py -c CFG -t TOPO -p OUTDIR [-i gemm]``.

    hwmodel simulate -c configs/scale.cfg -t topologies/resnet18.csv -p results
    hwmodel simulate --preset dpu-b4096 -t resnet18.csv -p results --mode analytic
    hwmodel presets

Reports go to ``OUTDIR/<run_name>/`` as in SCALE-Sim: COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv,
DETAILED_ACCESS_REPORT.csv (SCALE-Sim v3 layout), REPORT.json, and REPORT.md with plots. They are
written together: a failed run leaves no partial report behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from hwmodel.errors import HwModelError

__all__ = ["main", "build_parser", "run_simulate"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    p = argparse.ArgumentParser(prog="hwmodel", description="Cycle-accurate systolic-array and DPU simulator.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="simulate a SCALE-Sim topology on a config or preset")
    hw = s.add_mutually_exclusive_group(required=True)
    hw.add_argument("-c", "--config", help="SCALE-Sim .cfg, or a .toml/.json accelerator config")
    hw.add_argument("--preset", help="a built-in accelerator (see 'hwmodel presets')")
    s.add_argument("-t", "--topology", required=True, help="SCALE-Sim topology CSV")
    s.add_argument("-p", "--outdir", required=True, help="output folder; reports go to OUTDIR/<run_name>/")
    s.add_argument("-i", "--input-type", choices=("conv", "gemm"), default="conv",
                   help="topology format: conv (default) or gemm (Layer, M, N, K)")
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

    cfg = resolve_config(Path(args.config)) if args.config else resolve_config(args.preset)
    topo = Path(args.topology)
    report = simulate(topo, cfg, args.mode, topology_mode=args.input_type, name=topo.stem)
    folder = Path(args.outdir) / cfg.name
    with atomic_dir(folder) as tmp:
        write_csv_reports(report, tmp)
        write_json_report(report, tmp)
        if not args.no_markdown:
            write_markdown_report(report, tmp)
    if not args.quiet:
        print(f"hwmodel: {topo.name} on {cfg.name} ({args.mode} mode), {len(report.layers)} layers")
        print(f"  total cycles {report.total_cycles:,} (compute {report.compute_cycles:,}, "
              f"stall {report.stall_cycles:,})")
        print(f"  latency {report.latency_ms:.4f} ms at {cfg.clock_mhz:g} MHz, {report.fps:.1f} FPS, "
              f"utilization {100 * report.utilization:.1f}%")
    print(f"  reports: {folder}")
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hwmodel`` script; returns the exit status."""
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
