"""Iterative workflow end to end on digits: ana (written, reused, resumed), prune, spec, slim, loop."""

from __future__ import annotations

import json

import pytest
import torch

import hwprune
from hwprune.pruning import transform
from hwprune.runtime.parallel import shares_memory
from hwprune.vitis.iterative import iterative_prune
from hwprune.vitis.sparse import export_sparse_model
from tests.hwprune import vitis_support as vs

RATIOS = (0.3, 0.6)


def _runner(tmp_path, model=None, **kw):
    kw.setdefault("backend", "serial")
    return hwprune.get_pruning_runner(
        model if model is not None else vs.trained_digits_cnn(),
        vs.example_input(),
        "iterative",
        workdir=tmp_path,
        progress=False,
        **kw,
    )


def test_ana_writes_reuses_and_plots(tmp_path):
    runner = _runner(tmp_path)
    assert shares_memory(runner.backend)
    ev = vs.FlakyEval()
    sens = runner.ana(ev, args=(vs.eval_batches(),), ratios=RATIOS)
    groups = runner.view.prunable()
    assert ev.calls == 1 + len(groups) * len(RATIOS)
    doc = json.loads(runner.sens_path.read_text())
    assert (
        doc["kind"] == "sensitivity"
        and doc["complete"]
        and doc["structure_hash"] == runner.view.structure_hash
    )
    assert set(sens.curves) == {g.key for g in groups}
    assert sens.baseline == pytest.approx(vs.accuracy(vs.trained_digits_cnn(), vs.eval_batches()))
    assert runner.sens_path.with_name(runner.sens_path.name + ".png").stat().st_size > 1000
    # pruning 60% of the first conv's channels must cost accuracy on a trained net
    assert sens.score("features.0.0", 0.6) < sens.baseline

    again = vs.FlakyEval()
    assert _runner(tmp_path).ana(again, args=(vs.eval_batches(),), ratios=RATIOS) == sens
    assert again.calls == 0, "a finished analysis is reused"

    forced = vs.FlakyEval()
    _runner(tmp_path).ana(forced, args=(vs.eval_batches(),), ratios=RATIOS, forced=True)
    assert forced.calls == ev.calls
    assert len(list(tmp_path.glob("DigitsCNN.sens.stale-*"))) == 1


@pytest.mark.resume
@pytest.mark.parametrize("exc", [KeyboardInterrupt, vs.Interrupt])
def test_ana_resumes_after_interruption(tmp_path, exc):
    clean = _runner(tmp_path / "clean").ana(vs.FlakyEval(), args=(vs.eval_batches(),), ratios=RATIOS)
    runner = _runner(tmp_path / "run")
    with pytest.raises((exc, hwprune.errors.EvalFnError)):
        runner.ana(vs.FlakyEval(fail_after=4, exc=exc), args=(vs.eval_batches(),), ratios=RATIOS)
    kept = json.loads(runner.sens_path.read_text())["records"]
    assert len(kept) == 4, "every finished evaluation is on disk"
    rest = vs.FlakyEval()
    resumed = _runner(tmp_path / "run").ana(rest, args=(vs.eval_batches(),), ratios=RATIOS)
    assert rest.calls == 1 + len(runner.view.prunable()) * len(RATIOS) - 4
    assert resumed == clean
    final = json.loads(runner.sens_path.read_text())["records"]
    assert all(final[k] == v for k, v in kept.items()), "nothing stored before the interruption changed"


def test_prune_removal_ratio_sparse_equals_slim_and_transform(tmp_path):
    model = vs.trained_digits_cnn()
    runner = _runner(tmp_path, model)
    runner.ana(vs.accuracy, args=(vs.eval_batches(),), ratios=RATIOS)
    sparse = runner.prune(removal_ratio=0.5, mode="sparse")
    spec = json.loads(runner.last_spec.read_text())
    assert (tmp_path / "latest_spec").read_text().strip() == str(runner.last_spec)
    assert spec["vitis"]["macs"] <= 0.5 * spec["vitis"]["macs_before"]
    assert spec["vitis"]["macs"] >= 0.4 * spec["vitis"]["macs_before"], "the target is met, not overshot"
    assert all(len(v) % 2 == 0 for v in spec["keep"].values()), "channel_divisible=2"
    x = torch.stack([b for b, _ in vs.eval_batches()[:1]])[0]
    baked = export_sparse_model(sparse).state_dict()
    assert {k: v.shape for k, v in baked.items()} == {k: v.shape for k, v in model.state_dict().items()}

    slim = runner.get_slim_model()
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        torch.testing.assert_close(slim(x), sparse(x), rtol=1e-5, atol=1e-5)
        rebuilt = transform(model, spec)  # the original + the spec file, no runner
        torch.testing.assert_close(rebuilt(x), slim(x))

    # masked fine-tuning keeps pruned channels at zero, so the slim model stays exact
    vs.finetune(sparse, vs.train_batches()[:3])
    tuned_slim = runner.get_slim_model(model=sparse)
    with torch.no_grad():
        torch.testing.assert_close(tuned_slim(x), sparse(x), rtol=1e-4, atol=1e-5)
    w = "features.0.0.weight"
    assert not torch.equal(tuned_slim.state_dict()[w], slim.state_dict()[w]), (
        "the fine-tuned weights are used"
    )


def test_prune_latency_budget_through_the_planner(tmp_path):
    runner = _runner(tmp_path)
    runner.ana(vs.accuracy, args=(vs.eval_batches(),), ratios=RATIOS)
    slim = runner.prune(latency_budget=0.7, mode="slim")
    plan = runner.last_plan
    assert plan.cycles <= plan.budget_cycles < plan.unpruned_cycles
    assert hwprune.simulate(slim, vs.example_input(), "dpu-b4096").total_cycles == plan.cycles
    spec = json.loads(runner.last_spec.read_text())
    assert spec["vitis"]["latency_budget"] == "0.7" and spec["keep"]
    assert {k: len(v) for k, v in spec["keep"].items()} == {
        g.key: g.kept for g in plan.groups if g.kept < g.size
    }, "the emitted model is the plan"
    with pytest.raises(hwprune.errors.BudgetError, match="smallest reachable latency"):
        runner.prune(latency_budget=0.01)


def test_prune_without_ana_and_threshold_and_excludes(tmp_path):
    runner = _runner(tmp_path)
    runner.prune(removal_ratio=0.3, mode="slim", excludes=["features.0.0"])
    spec = json.loads(runner.last_spec.read_text())
    assert "features.0.0" not in spec["keep"] and spec["keep"], "excluded group keeps every channel"
    with pytest.raises(hwprune.errors.PruneConfigError, match="run ana"):
        runner.prune(threshold=0.01)
    runner.ana(vs.accuracy, args=(vs.eval_batches(),), ratios=RATIOS)
    runner.prune(threshold=0.02, mode="slim")
    assert json.loads(runner.last_spec.read_text())["vitis"]["threshold"] == 0.02
    with pytest.raises(hwprune.errors.PruneConfigError, match="exactly one"):
        runner.prune(removal_ratio=0.3, threshold=0.1)


@pytest.mark.resume
def test_iterative_loop_checkpoints_and_resumes(tmp_path):
    def tune(model, batches):
        vs.finetune(model, batches)

    clean = iterative_prune(
        _runner(tmp_path / "clean"),
        tune,
        (vs.train_batches()[:4],),
        removal_ratios=(0.3, 0.5),
        eval_fn=vs.accuracy,
        eval_args=(vs.eval_batches(),),
    )
    assert [r.index for r in clean.rounds] == [0, 1]
    assert clean.rounds[1].macs < clean.rounds[0].macs
    assert all(r.checkpoint.is_file() and r.spec.is_file() for r in clean.rounds)

    calls = {"n": 0, "crash_at": 2}

    def crashing(model, batches):
        calls["n"] += 1
        if calls["n"] == calls["crash_at"]:
            raise RuntimeError("out of memory")
        vs.finetune(model, batches)

    args = (vs.train_batches()[:4],)
    with pytest.raises(hwprune.errors.EvalFnError, match="finetune_fn .* out of memory"):
        iterative_prune(
            _runner(tmp_path / "run"),
            crashing,
            args,
            removal_ratios=(0.3, 0.5),
            eval_fn=vs.accuracy,
            eval_args=(vs.eval_batches(),),
        )
    assert (tmp_path / "run" / "DigitsCNN.iter" / "round-0.pt").is_file()
    calls.update(n=0, crash_at=-1)
    resumed = iterative_prune(
        _runner(tmp_path / "run"),
        crashing,
        args,
        removal_ratios=(0.3, 0.5),
        eval_fn=vs.accuracy,
        eval_args=(vs.eval_batches(),),
    )
    assert calls["n"] == 1, "round 0 came from its checkpoint; only round 1 was fine-tuned"
    assert [r.score for r in resumed.rounds] == [r.score for r in clean.rounds]
    for a, b in zip(resumed.slim.state_dict().values(), clean.slim.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
