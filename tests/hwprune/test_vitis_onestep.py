"""One-step workflow end to end on digits: search on a MACs or latency budget, resume, extend, prune."""

from __future__ import annotations

import json

import pytest
import torch

import hwprune
from hwprune.train.calibrate import loader_calibration
from hwprune.vitis.sampling import GroupSlot, kept_count, sample_candidates
from tests.hwprune import vitis_support as vs


def _runner(path, **kw):
    kw.setdefault("backend", "serial")
    return hwprune.get_pruning_runner(
        vs.trained_digits_cnn(), vs.example_input(), "one_step", workdir=path, progress=False, **kw
    )


def _search(runner, ev=vs.accuracy, **kw):
    kw.setdefault("num_subnet", 4)
    if "latency_budget" not in kw:
        kw.setdefault("removal_ratio", 0.5)
    return runner.search(
        calibration_fn=loader_calibration,
        calib_args=(vs.train_batches(), 3),
        eval_fn=ev,
        eval_args=(vs.eval_batches(),),
        **kw,
    )


def test_sampler_is_deterministic_feasible_and_tight():
    slots = [GroupSlot("a", 16), GroupSlot("b", 32), GroupSlot("c", 64)]

    def cost(keep):
        return keep["a"] * keep["b"] + keep["b"] * keep["c"] + 3 * keep["c"]

    full = cost({"a": 16, "b": 32, "c": 64})
    cands = sample_candidates(slots, cost, full // 2, 6, seed=3, divisible=2)
    assert [c.index for c in cands] == list(range(6))
    assert all(c.cost <= full // 2 for c in cands)
    assert all(c.cost >= 0.4 * full for c in cands), "candidates spend most of the budget"
    assert len({c.keep for c in cands}) > 1
    assert all(k % 2 == 0 for c in cands for _, k in c.keep)
    later = sample_candidates(slots, cost, full // 2, 3, seed=3, divisible=2, start=4)
    assert later[:2] == cands[4:], "candidate i depends only on (seed, i)"
    with pytest.raises(hwprune.errors.BudgetError, match="cannot be met"):
        sample_candidates(slots, cost, 10, 1)
    assert kept_count(16, 0.5, 4) == 8 and kept_count(3, 0.9, 4) == 3 and kept_count(64, 0.99, 8) == 8


@pytest.mark.resume
def test_search_writes_resumes_extends_and_prunes_best(tmp_path):
    runner = _runner(tmp_path)
    ev = vs.FlakyEval(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        _search(runner, ev)
    doc = json.loads(runner.search_path.read_text())
    assert set(doc["records"]) == {"0", "1"} and not doc["complete"]

    rest = vs.FlakyEval()
    results = _search(_runner(tmp_path), rest)
    assert rest.calls == 2 and [r.index for r in results] == [0, 1, 2, 3]
    clean = _search(_runner(tmp_path / "clean"))
    assert [(r.keep, r.score) for r in results] == [(r.keep, r.score) for r in clean]

    more = vs.FlakyEval()
    results = _search(_runner(tmp_path), more, num_subnet=6)
    assert more.calls == 2 and len(results) == 6, "a larger num_subnet evaluates only the new subnets"
    target = json.loads(runner.search_path.read_text())["config"]["target"]
    assert all(r.cost <= target for r in results)

    best = max(results, key=lambda r: r.score)
    runner = _runner(tmp_path)
    slim = runner.prune(calibration_fn=loader_calibration, calib_args=(vs.train_batches(), 3))
    spec = json.loads(runner.last_spec.read_text())
    assert spec["vitis"]["subnet"] == best.index
    assert vs.accuracy(slim, vs.eval_batches()) == pytest.approx(best.score), "same subnet, same calibration"
    other = runner.prune(index=results[0].index, mode="sparse")
    assert json.loads(runner.last_spec.read_text())["vitis"]["subnet"] == results[0].index
    assert {k: v.shape for k, v in other.state_dict().items() if "parametrizations" not in k}
    with pytest.raises(hwprune.errors.PruneConfigError, match="no subnet 99"):
        runner.prune(index=99)


def test_search_latency_budget_and_process_pool(tmp_path):
    serial = _search(_runner(tmp_path / "s"), latency_budget=0.7, num_subnet=3)
    pooled = _search(_runner(tmp_path / "p", backend="process", workers=2), latency_budget=0.7, num_subnet=3)
    assert [(r.keep, r.cost) for r in serial] == [(r.keep, r.cost) for r in pooled]
    assert [r.score for r in serial] == pytest.approx([r.score for r in pooled])
    runner = _runner(tmp_path / "s")
    full = runner.view.cycles({g.key: g.size for g in runner.view.groups})
    assert all(r.cost <= 0.7 * full for r in serial)
    slim = runner.prune()
    simulated = hwprune.simulate(slim, vs.example_input(), "dpu-b4096", mode="analytic").total_cycles
    assert simulated == max(serial, key=lambda r: r.score).cost, (
        "the stored cost is the emitted model's latency"
    )


def test_search_config_change_is_stale_unless_forced(tmp_path):
    _search(_runner(tmp_path), num_subnet=2)
    before = _runner(tmp_path).search_path.read_text()
    with pytest.raises(hwprune.errors.StaleFileError, match="config"):
        _search(_runner(tmp_path), num_subnet=2, removal_ratio=0.3)
    assert _runner(tmp_path).search_path.read_text() == before
    _search(_runner(tmp_path), num_subnet=2, removal_ratio=0.3, forced=True)
    assert len(list(tmp_path.glob("DigitsCNN.search.stale-*"))) == 1


def test_search_without_calibration_keeps_original_statistics(tmp_path):
    runner = _runner(tmp_path)
    res = runner.search(eval_fn=vs.accuracy, eval_args=(vs.eval_batches(),), num_subnet=1, removal_ratio=0.3)
    slim = runner.prune()
    assert vs.accuracy(slim, vs.eval_batches()) == pytest.approx(res[0].score)
    bn = dict(slim.named_modules())["features.0.1"]
    orig = dict(vs.trained_digits_cnn().named_modules())["features.0.1"]
    kept = json.loads(runner.last_spec.read_text())["keep"].get("features.0.0", list(range(16)))
    torch.testing.assert_close(bn.running_mean, orig.running_mean[kept])
