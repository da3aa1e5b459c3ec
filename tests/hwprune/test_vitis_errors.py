"""Bad inputs to the Vitis workflows: each a clear typed error, and no result file lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import hwprune
from hwprune.errors import EvalFnError, ExcludeError, SparsityConfigError, SpecError, StaleFileError
from tests.hwprune import vitis_support as vs

RATIOS = (0.5,)
ROOT = Path(__file__).resolve().parents[2]


def _runner(path, method="iterative", model=None):
    model = model if model is not None else vs.trained_digits_cnn()
    return hwprune.get_pruning_runner(
        model, vs.example_input(), method, workdir=path, backend="serial", progress=False
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def analysed(tmp_path):
    _runner(tmp_path).ana(vs.accuracy, args=(vs.eval_batches(),), ratios=RATIOS)
    return tmp_path


def test_eval_fn_that_raises_keeps_results(tmp_path):
    def broken(model, batches):
        broken.calls += 1
        if broken.calls == 3:
            raise ValueError("labels on the wrong device")
        return vs.accuracy(model, batches)

    broken.calls = 0
    runner = _runner(tmp_path)
    with pytest.raises(EvalFnError, match=r"broken raised ValueError: labels on the wrong device.*group '"):
        runner.ana(broken, args=(vs.eval_batches(),), ratios=RATIOS)
    assert len(json.loads(runner.sens_path.read_text())["records"]) == 2


@pytest.mark.parametrize("bad", ["0.9", None, float("nan"), [0.9]])
def test_eval_fn_returning_non_number(tmp_path, bad):
    with pytest.raises(EvalFnError, match="must return a finite number"):
        _runner(tmp_path).ana(lambda model, *a: bad, ratios=RATIOS)
    runner = _runner(tmp_path, "one_step")
    with pytest.raises(EvalFnError, match="subnet 0"):
        runner.search(eval_fn=lambda model: bad, num_subnet=1, removal_ratio=0.3)


def test_args_not_a_tuple(tmp_path):
    with pytest.raises(EvalFnError, match=r"args=\(value,\)"):
        _runner(tmp_path).ana(vs.accuracy, args=vs.eval_batches()[0][0], ratios=RATIOS)


def test_bad_method_mode_and_ratios(tmp_path):
    with pytest.raises(hwprune.errors.PruneConfigError, match="method='one-step'"):
        hwprune.get_pruning_runner(vs.trained_digits_cnn(), vs.example_input(), "one-step")
    runner = _runner(tmp_path)
    with pytest.raises(hwprune.errors.PruneConfigError, match="mode='thin'"):
        runner.prune(removal_ratio=0.3, mode="thin")
    with pytest.raises(hwprune.errors.PruneConfigError, match="must lie in"):
        runner.ana(vs.accuracy, args=(vs.eval_batches(),), ratios=(0.5, 1.0))
    with pytest.raises(hwprune.errors.PruneConfigError, match="removal_ratio=1.5"):
        runner.prune(removal_ratio=1.5)
    assert not any(tmp_path.iterdir()), "nothing written for rejected calls"


def test_stale_sens_file_from_another_model(analysed):
    before = _snapshot(analysed)
    other = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3))
    runner = hwprune.get_pruning_runner(
        other,
        vs.example_input(),
        "iterative",
        workdir=analysed,
        name="DigitsCNN",
        backend="serial",
        progress=False,
    )
    with pytest.raises(StaleFileError, match=r"DigitsCNN\.sens .*another model structure.*forced=True"):
        runner.ana(vs.accuracy, args=(vs.eval_batches(),), ratios=RATIOS)
    with pytest.raises(StaleFileError, match="another model structure"):
        runner.prune(removal_ratio=0.3)  # prune reads the .sens file too
    assert _snapshot(analysed) == before


def test_corrupt_sens_file(analysed):
    sens = analysed / "DigitsCNN.sens"
    sens.write_text(sens.read_text()[:40])  # a torn write by another tool
    before = _snapshot(analysed)
    with pytest.raises(StaleFileError, match=r"DigitsCNN\.sens is not valid JSON"):
        _runner(analysed).ana(vs.accuracy, args=(vs.eval_batches(),), ratios=RATIOS)
    assert _snapshot(analysed) == before
    _runner(analysed).ana(vs.accuracy, args=(vs.eval_batches(),), ratios=RATIOS, forced=True)
    stale = list(analysed.glob("DigitsCNN.sens.stale-*"))
    assert len(stale) == 1 and stale[0].read_bytes() == before["DigitsCNN.sens"]


def test_malformed_record_in_sens_file(analysed):
    sens = analysed / "DigitsCNN.sens"
    doc = json.loads(sens.read_text())
    doc["records"]["features.0.0@half"] = "x"
    sens.write_text(json.dumps(doc))
    with pytest.raises(StaleFileError, match="malformed record 'features.0.0@half'"):
        _runner(analysed).prune(removal_ratio=0.3)


def test_invalid_sparsity_combination():
    pruner = hwprune.SparsePruner(vs.trained_digits_cnn(), vs.example_input())
    with pytest.raises(SparsityConfigError, match="a_sparsity=0.5 needs w_sparsity=0.75"):
        pruner.sparse_model(w_sparsity=0.5, a_sparsity=0.5, block_size=16)
    with pytest.raises(SparsityConfigError, match="block_size=12"):
        pruner.sparse_model(w_sparsity=0.5, block_size=12)
    sparse = pruner.sparse_model(w_sparsity=0.75, a_sparsity=0.5, block_size=8)
    assert "features.0.0" in {s.name for s in pruner.report.skipped}  # 1 input channel
    assert vs.accuracy(pruner.export_sparse_model(sparse), vs.eval_batches()) >= 0.0


def test_exclude_naming_no_module(analysed):
    before = _snapshot(analysed)
    runner = _runner(analysed)
    for call in (
        lambda: runner.ana(vs.accuracy, args=(vs.eval_batches(),), ratios=RATIOS, excludes=["features.9"]),
        lambda: runner.prune(removal_ratio=0.3, excludes=["fc3"]),
        lambda: _runner(analysed, "one_step").search(
            eval_fn=vs.accuracy, removal_ratio=0.3, excludes=["fc3"]
        ),
    ):
        with pytest.raises(ExcludeError, match="names no module"):
            call()
    with pytest.raises(ExcludeError, match="nor a submodule of the model"):
        runner.prune(removal_ratio=0.3, excludes=[torch.nn.Linear(2, 2)])
    assert _snapshot(analysed) == before


def test_bad_spec_files(analysed):
    runner = _runner(analysed)
    with pytest.raises(SpecError, match="run runner.prune"):
        runner.get_slim_model()
    bad = analysed / "x.spec"
    bad.write_text("{}")
    with pytest.raises(SpecError, match="not an hwprune spec"):
        runner.get_slim_model(bad)


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    import torch
    import hwprune
    from tests.hwprune import vitis_support as vs

    # The parent's model and thread count: trained weights (and, rarely, evaluations) differ in
    # the last bits between thread counts, and the resumed curves must equal the parent's own.
    torch.set_num_threads({threads})
    model = vs.trained_digits_cnn()
    model.load_state_dict(torch.load({weights!r}))

    # the same eval function as the resumed run (the .sens records its identity), only slower
    runner = hwprune.get_pruning_runner(model, vs.example_input(), "iterative",
                                        workdir={work!r}, backend="serial", progress=False)
    runner.ana(vs.FlakyEval(delay=0.3), args=(vs.eval_batches(),), ratios=(0.3, 0.6))
    """
)


@pytest.mark.resume
def test_kill_mid_run_then_rerun_loses_nothing(tmp_path):
    work = tmp_path / "w"
    script = tmp_path / "ana.py"
    weights = tmp_path / "trained.pt"
    torch.save(vs.trained_digits_cnn().state_dict(), weights)
    script.write_text(
        _KILL_SCRIPT.format(
            root=str(ROOT), work=str(work), weights=str(weights), threads=torch.get_num_threads()
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stderr=subprocess.PIPE)
    sens = work / "DigitsCNN.sens"
    deadline = time.monotonic() + 120
    seen: dict = {}
    while time.monotonic() < deadline and proc.poll() is None:
        if sens.is_file():
            seen = json.loads(sens.read_text())["records"]  # never torn: writes are atomic
            if len(seen) >= 3:
                break
        time.sleep(0.05)
    assert proc.poll() is None, f"the analysis ended before it could be killed: {proc.stderr.read()!r}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = json.loads(sens.read_text())["records"]
    assert len(killed) >= 3 and all(killed[k] == v for k, v in seen.items())

    ev = vs.FlakyEval()
    resumed = _runner(work).ana(ev, args=(vs.eval_batches(),), ratios=(0.3, 0.6))
    total = 1 + len(_runner(work).view.prunable()) * 2
    assert ev.calls == total - len(killed), "only the missing points are evaluated"
    clean = _runner(tmp_path / "clean").ana(vs.accuracy, args=(vs.eval_batches(),), ratios=(0.3, 0.6))
    assert resumed == clean
