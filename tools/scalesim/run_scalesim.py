#!/usr/bin/env python3
"""Run SCALE-Sim 3.0.0 (from tools/scalesim/venv) on one config + topology and time it.

Usage:
    python tools/scalesim/run_scalesim.py CFG TOPOLOGY [-i gemm] [--outdir D] [--repeat N]

Prints one JSON object on stdout: the wall time in seconds (median of ``--repeat`` runs and every
run), the report folder and the per-layer "Total Cycles"/"Stall Cycles" read back from
COMPUTE_REPORT.csv. SCALE-Sim's own chatter (per-layer prints, tqdm bars) goes to a log file in
the output folder, not to stdout. The timed span is the whole CLI process
(``python -m scalesim.scale``), i.e. what a SCALE-Sim user waits for, traces included (SCALE-Sim
3.0.0 always writes them; its ``-s N`` flag is ignored).

SCALE-Sim itself never runs in this interpreter: it needs numpy<2 and lives in its own virtualenv
made by ``tools/scalesim/make_venv.sh``. This script only needs the standard library.
"""

from __future__ import annotations

import argparse
import configparser
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HERE",
    "VENV_PYTHON",
    "ScaleSimError",
    "ScaleSimRun",
    "read_report",
    "run_scalesim",
    "venv_python",
]

HERE = Path(__file__).resolve().parent
VENV_PYTHON = HERE / "venv" / "bin" / "python"
LAYOUT_HEADER = "Layer name,\n"
# SCALE-Sim's CLI hard-codes save_disk_space=False (its -s flag is ignored), so traces are always
# written; this driver calls the same entry point with traces off. Reports are identical.
NO_TRACE_DRIVER = (
    "import sys\n"
    "from scalesim.scale_sim import scalesim\n"
    "cfg, topo, layout, out, kind = sys.argv[1:6]\n"
    "sim = scalesim(save_disk_space=True, verbose=True, config=cfg, topology=topo, layout=layout,\n"
    "               input_type_gemm=kind == 'gemm')\n"
    "sim.run_scale(top_path=out)\n"
)


class ScaleSimError(RuntimeError):
    """SCALE-Sim could not be run or did not produce its reports."""


@dataclass(frozen=True, slots=True)
class ScaleSimRun:
    """One finished SCALE-Sim run.

    Attributes:
        report_dir: folder holding COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, ...
        wall_s: wall time of the SCALE-Sim process, interpreter start-up included.
        cpu_s: user + system CPU time of that process (less sensitive to a busy machine).
    """

    report_dir: Path
    wall_s: float
    cpu_s: float


def venv_python() -> Path:
    """Return the SCALE-Sim virtualenv's interpreter.

    Returns:
        Path to ``tools/scalesim/venv/bin/python``.

    Raises:
        ScaleSimError: if the virtualenv has not been created yet.
    """
    if not VENV_PYTHON.exists():
        raise ScaleSimError(
            f"SCALE-Sim virtualenv not found at {VENV_PYTHON}; create it with `tools/scalesim/make_venv.sh`"
        )
    return VENV_PYTHON


def _run_name(cfg: Path) -> str:
    parser = configparser.ConfigParser()
    parser.read(cfg)
    try:
        return parser.get("general", "run_name")
    except (configparser.NoSectionError, configparser.NoOptionError) as exc:
        raise ScaleSimError(f"{cfg}: SCALE-Sim needs [general] run_name ({exc})") from exc


def run_scalesim(
    cfg: Path,
    topology: Path,
    outdir: Path,
    *,
    gemm: bool = False,
    traces: bool = True,
    timeout_s: float = 3600.0,
) -> ScaleSimRun:
    """Run SCALE-Sim once in its virtualenv.

    Args:
        cfg: SCALE-Sim ``.cfg`` file.
        topology: topology CSV (conv layout, or M,N,K rows when ``gemm``).
        outdir: folder that receives ``<run_name>/`` with the reports and a ``scalesim.log``.
        gemm: pass ``-i gemm``.
        traces: True runs the CLI exactly as a user would (``python -m scalesim.scale``; it always
            writes per-layer SRAM/DRAM traces). False calls the same ``scalesim`` class with
            ``save_disk_space=True``: identical reports, no trace files, less wall time.
        timeout_s: kill SCALE-Sim after this many seconds.

    Returns:
        Where the reports are and how long SCALE-Sim took.

    Raises:
        ScaleSimError: on a non-zero exit, a timeout, or missing reports.
    """
    cfg, topology, outdir = Path(cfg).resolve(), Path(topology).resolve(), Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    layout = outdir / "layout.csv"
    # SCALE-Sim exits unless -l names an existing file; a header-only layout is never read
    # when IfmapCustomLayout/FilterCustomLayout are False.
    layout.write_text(LAYOUT_HEADER)
    python = str(venv_python())
    if traces:
        cmd = [python, "-m", "scalesim.scale", "-c", str(cfg), "-t", str(topology)]
        cmd += ["-l", str(layout), "-p", str(outdir)] + (["-i", "gemm"] if gemm else [])
    else:
        kind = "gemm" if gemm else "conv"
        cmd = [python, "-c", NO_TRACE_DRIVER, str(cfg), str(topology), str(layout), str(outdir), kind]
    log = outdir / "scalesim.log"
    with log.open("w") as fh:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=outdir, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ScaleSimError(f"SCALE-Sim timed out after {timeout_s} s on {topology}") from exc
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    report_dir = outdir / _run_name(cfg)
    if proc.returncode != 0 or not (report_dir / "COMPUTE_REPORT.csv").exists():
        tail = log.read_text()[-2000:]
        raise ScaleSimError(
            f"SCALE-Sim failed on {topology} with {cfg} (exit {proc.returncode}); log tail:\n{tail}"
        )
    return ScaleSimRun(report_dir, wall, cpu)


def read_report(path: Path) -> list[dict[str, str]]:
    """Read a SCALE-Sim report CSV (``", "`` separated, trailing comma) into row dicts.

    Args:
        path: COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv or DETAILED_ACCESS_REPORT.csv.

    Returns:
        One dict per layer, keyed by the stripped header names.
    """
    with Path(path).open(newline="") as fh:
        rows = [[cell.strip() for cell in row] for row in csv.reader(fh)]
    header = [h for h in rows[0] if h]
    return [dict(zip(header, row, strict=False)) for row in rows[1:] if any(row)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cfg", type=Path)
    ap.add_argument("topology", type=Path)
    ap.add_argument("-i", dest="input_type", default="conv", choices=("conv", "gemm"))
    ap.add_argument(
        "--outdir",
        type=Path,
        default=None,
        help="where SCALE-Sim writes (default: a temporary folder, removed)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs to take the median of")
    ap.add_argument(
        "--no-traces",
        action="store_true",
        help="skip SCALE-Sim's trace files (same reports; the CLI itself always writes them)",
    )
    ap.add_argument("--timeout", type=float, default=3600.0)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    gemm = args.input_type == "gemm"
    runs: list[ScaleSimRun] = []
    try:
        with tempfile.TemporaryDirectory(prefix="scalesim_") as tmp:
            for i in range(args.repeat):
                out = args.outdir if args.outdir is not None else Path(tmp) / f"run{i}"
                runs.append(
                    run_scalesim(
                        args.cfg,
                        args.topology,
                        out,
                        gemm=gemm,
                        traces=not args.no_traces,
                        timeout_s=args.timeout,
                    )
                )
            compute = read_report(runs[-1].report_dir / "COMPUTE_REPORT.csv")
    except ScaleSimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result = {
        "wall_s": statistics.median(r.wall_s for r in runs),
        "wall_s_runs": [round(r.wall_s, 3) for r in runs],
        "cpu_s": statistics.median(r.cpu_s for r in runs),
        "cpu_s_runs": [round(r.cpu_s, 3) for r in runs],
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "cfg": str(args.cfg),
        "topology": str(args.topology),
        "input_type": args.input_type,
        "traces": not args.no_traces,
        "report_dir": str(runs[-1].report_dir) if args.outdir is not None else None,
        "layers": len(compute),
        "total_cycles": [int(r["Total Cycles"]) for r in compute],
        "stall_cycles": [int(r["Stall Cycles"]) for r in compute],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
