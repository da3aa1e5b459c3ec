"""Run folders are all-or-nothing: a kill before, during or after the final swap leaves the folder
either the old complete run or the new complete run; a failed run leaves no folder behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hwmodel.atomic import file_mode, publish_dir, recover_dir, staging_dir
from hwprune.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _run(script: str, cwd: Path) -> int:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode


# a child that builds an old run, then a new one, and is SIGKILLed at the chosen point of the swap
CHILD = """
import os, signal
from pathlib import Path
import hwmodel.atomic as atomic

def write(folder, tag):
    for name in ("plan.json", "slim.pt", "metrics.json", "report.md"):
        (folder / name).write_text(tag + ":" + name)

dest = Path("run")
if not dest.exists():
    old = atomic.staging_dir(dest); write(old, "old"); atomic.publish_dir(old, dest)
new = atomic.staging_dir(dest); write(new, "new")
point, exchange = {point!r}, {exchange!r}
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if not exchange:
    atomic._exchange = lambda a, b: False
real_replace, real_exchange = os.replace, atomic._exchange
if point == "before":
    die()
if point == "during":
    if exchange:
        def exchange_then_die(a, b):
            assert real_exchange(a, b); die()
        atomic._exchange = exchange_then_die
    else:
        def replace_then_die(a, b):
            real_replace(a, b)
            if str(b).endswith(".prev"): die()
        atomic.os.replace = replace_then_die
atomic.publish_dir(new, dest)
if point == "after":
    die()
"""

OLD = {n: f"old:{n}".encode() for n in ("metrics.json", "plan.json", "report.md", "slim.pt")}
NEW = {n: f"new:{n}".encode() for n in OLD}


@pytest.mark.resume
@pytest.mark.parametrize(
    ("point", "exchange", "expect"),
    [
        ("before", True, OLD),
        ("during", True, NEW),
        ("after", True, NEW),
        ("before", False, OLD),
        ("during", False, OLD),
        ("after", False, NEW),
    ],
)
def test_kill_at_each_point_of_the_swap_leaves_a_complete_run(tmp_path, point, exchange, expect) -> None:
    rc = _run(CHILD.format(point=point, exchange=exchange), tmp_path)
    assert rc == -signal.SIGKILL
    recover_dir(tmp_path / "run")  # what the next run (or a reader) does first
    assert _snapshot(tmp_path / "run") == expect
    if expect is NEW and point == "after":
        assert _snapshot(tmp_path / "run.prev") == OLD  # the replaced run is kept


def test_publish_replaces_and_keeps_one_previous_run(tmp_path) -> None:
    dest = tmp_path / "run"
    for tag in ("a", "b", "c"):
        stage = staging_dir(dest)
        (stage / "x.txt").write_text(tag)
        assert stage.stat().st_mode & 0o777 == file_mode(directory=True)
        publish_dir(stage, dest)
    assert (dest / "x.txt").read_text() == "c" and (tmp_path / "run.prev" / "x.txt").read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.prev"]


OPTIMIZE = """
import os, signal, sys
import hwprune.optimize as opt
from hwprune.cli import main
real = opt.save_state_dict
def save_then_die(path, state):
    out = real(path, state)
    if path.name == "slim.pt":
        os.kill(os.getpid(), signal.SIGKILL)
    return out
if {kill!r}:
    opt.save_state_dict = save_then_die
sys.exit(main(["optimize", "--model", "digits_cnn", "--hw", "dpu-b1024", "--budget", "{budget}", "--epochs", "1",
               "--finetune-epochs", "{ft}", "--out", "run", "--quiet"]))
"""


@pytest.mark.resume
def test_optimize_killed_after_slim_pt_keeps_the_old_run_whole(tmp_path) -> None:
    """The issue's case: a SIGKILL right after slim.pt was written mixed a new model with old metrics."""
    assert _run(OPTIMIZE.format(kill=False, budget="0.7", ft=1), tmp_path) == 0
    old = _snapshot(tmp_path / "run")
    assert _run(OPTIMIZE.format(kill=True, budget="0.6", ft=0), tmp_path) == -signal.SIGKILL
    assert _snapshot(tmp_path / "run") == old
    assert json.loads(old["metrics.json"])["budget"].startswith("0.7 ")
    # the next run cleans the dead run's staging folder and completes
    assert _run(OPTIMIZE.format(kill=False, budget="0.6", ft=0), tmp_path) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["budget"].startswith("0.6 ")
    assert _snapshot(tmp_path / "run.prev") == old
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".run")) == []


def test_a_failed_optimize_leaves_no_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    # fails after validation, inside the run (an exception while training the baseline)
    import hwprune.train.loop as loop

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(loop, "train", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(
            [
                "optimize",
                "--model",
                "digits_cnn",
                "--hw",
                "dpu-b1024",
                "--epochs",
                "1",
                "--out",
                "run",
                "--quiet",
            ]
        )
    assert not (tmp_path / "run").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != ".hwprune"] == []


def test_results_honour_the_umask(tmp_path) -> None:
    from hwprune.io import write_json

    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "plan.json", {"a": 1})
        assert path.stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert write_json(tmp_path / "private.json", {}).stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
