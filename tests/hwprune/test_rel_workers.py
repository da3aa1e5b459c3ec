"""Pool workers die with their parent: a SIGKILL of the parent never leaves them running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PARENT = """
import os, signal, sys, time
from pathlib import Path
from hwprune.runtime.parallel import ProcessBackend

def task(payload, i):
    Path(payload, f"worker-{os.getpid()}").write_text("")
    time.sleep(120)
    return i

folder = sys.argv[1]
gen = ProcessBackend(workers=2).run(task, folder, list(range(4)))
import threading
def killer():
    while len(list(Path(folder).glob("worker-*"))) < 2:
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
threading.Thread(target=killer, daemon=True).start()
for _ in gen:
    pass
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.resume
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see the workers")
def test_sigkill_of_the_parent_takes_the_workers_down(tmp_path) -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PARENT), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
    assert len(pids) == 2
    deadline = time.monotonic() + 15
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in pids if _running(p)]
    for p in alive:  # do not leave them behind if the test fails
        os.kill(p, signal.SIGKILL)
    assert alive == []
