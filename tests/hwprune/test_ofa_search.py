"""OFA evolutionary search: a synthetic problem with a known optimum, ranges, resume, stale files."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import hwprune
from hwprune.errors import BudgetError, EvalFnError, StaleFileError

HW = "dpu-b4096"
RANGE = {"min_latency": 0.6, "max_latency": 0.9, "latency_step": 0.1}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model = hwprune.models.get("resnet20", num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    ofa = hwprune.OFAPruner(
        model, x, hw=HW, backend="serial", progress=False, workdir=tmp_path_factory.mktemp("ofa")
    )
    sup = ofa.ofa_model([0.5, 0.75, 1.0], channel_divisible=8)
    weights = np.random.default_rng(0).random(len(sup.space.groups))
    sizes = np.array([g.size for g in sup.space.groups])
    table = ofa.table(sup)

    def accuracy(codes):  # the synthetic problem: diminishing returns per group, unequal weights
        return (weights * np.sqrt(table.kept_counts(codes) / sizes)).sum(axis=1)

    return ofa, sup, accuracy


def _eval_fn(accuracy):
    def eval_fn(model):
        return float(accuracy(model.code[None, :])[0])

    return eval_fn


def test_search_finds_the_known_optimum_inside_the_range(setup, tmp_path):
    ofa, sup, accuracy = setup
    pareto = ofa.run_evolutionary_search(
        sup,
        None,
        (),
        _eval_fn(accuracy),
        (),
        "acc1",
        "max",
        iteration=10,
        search_file=tmp_path / "s.ofasearch",
        **RANGE,
    )
    space = sup.space
    every = np.array(list(itertools.product(*[range(len(g.choices)) for g in space.groups])))
    cycles = ofa.table(sup).cycles(every)
    acc = accuracy(every)
    unpruned = ofa.unpruned_cycles()
    lo = int(np.floor(0.6 * unpruned))
    assert list(pareto) == ["0.7", "0.8", "0.9"]
    previous = -np.inf
    for key, entry in pareto.items():
        target = int(np.floor(float(key) * unpruned))
        fits = (cycles >= lo) & (cycles <= target)
        assert entry["acc1"] == pytest.approx(acc[fits].max(), abs=1e-12), key  # the brute-force optimum
        assert lo <= entry["latency_cycles_cycle_mode"] <= target  # inside the range in cycle mode
        assert entry["latency_cycles"] == ofa.subnet_latency(sup, entry["subnet_setting"])
        assert entry["latency_fraction"] == pytest.approx(entry["latency_cycles"] / unpruned)
        assert entry["acc1"] >= previous  # monotone
        previous = entry["acc1"]
    # the static subnet of a pick has the latency the search reported
    static, config, macs, params = ofa.get_static_subnet(sup, pareto["0.8"]["subnet_setting"])
    rep = hwprune.simulate(static, torch.randn(1, 3, 32, 32), hw=HW)
    assert rep.total_cycles == pareto["0.8"]["latency_cycles_cycle_mode"]
    assert (macs, params) == (pareto["0.8"]["macs"], pareto["0.8"]["params"])


@pytest.mark.parametrize("proxy", ["constant", "coarse"])
def test_ties_inside_a_target_go_to_the_costlier_subnet(setup, tmp_path, proxy):
    """A coarse proxy (few scoring images) ties many subnets; the tie must not send every target to
    the same narrow subnet (what ranking ties by the lower latency did): each target gets the costliest
    of the best-scored candidates that fit it."""
    ofa, sup, accuracy = setup

    def eval_fn(model):
        if proxy == "constant":
            return 0.5
        return float(np.floor(accuracy(model.code[None, :])[0] * 2) / 2)  # a few plateaus

    pareto = ofa.run_evolutionary_search(
        sup, None, (), eval_fn, (), "acc1", "max", iteration=3, search_file=tmp_path / "t.ofasearch", **RANGE
    )
    seen = list(ofa.last_search.seen.values())
    unpruned = ofa.unpruned_cycles()
    lo = int(np.floor(0.6 * unpruned))
    picked = []
    for key, entry in pareto.items():
        target = int(np.floor(float(key) * unpruned))
        fits = [r for r in seen if lo <= r["cost"] <= target]
        best = max(r["value"] for r in fits)
        assert entry["acc1"] == best
        tied = [r["cost"] for r in fits if r["value"] == best]
        if proxy == "constant":
            assert len(tied) > 1  # the problem really has ties in every target
        assert entry["latency_cycles"] == max(tied), key
        picked.append(entry["latency_cycles"])
    assert len(set(picked)) == len(picked)  # not one subnet for every target
    assert picked == sorted(picked)


def test_score_tolerance_counts_near_scores_as_ties(setup, tmp_path):
    """Scores within the tolerance of a target's best are ties: the costliest of them is picked."""
    ofa, sup, accuracy = setup
    kw = dict(iteration=2, search_file=tmp_path / "n.ofasearch", **RANGE)
    exact = ofa.run_evolutionary_search(sup, None, (), _eval_fn(accuracy), (), "acc1", "max", **kw)
    seen = list(ofa.last_search.seen.values())
    unpruned = ofa.unpruned_cycles()
    lo = int(np.floor(0.6 * unpruned))
    for tol in (0.05, 10.0):
        picks = ofa.run_evolutionary_search(
            sup, None, (), _eval_fn(accuracy), (), "acc1", "max", score_tolerance=tol, **kw
        )
        assert ofa.last_search.evaluated == 0  # only the picks change; the file answers every score
        for key, entry in picks.items():
            target = int(np.floor(float(key) * unpruned))
            fits = [r for r in seen if lo <= r["cost"] <= target]
            best = max(r["value"] for r in fits)
            near = [r["cost"] for r in fits if r["value"] >= best - tol]
            assert entry["latency_cycles"] == max(near), (tol, key)
            assert entry["acc1"] >= best - tol
            assert entry["latency_cycles"] >= exact[key]["latency_cycles"]
    assert any(
        picks[k]["latency_cycles"] > exact[k]["latency_cycles"] for k in picks
    )  # tol 10: the costliest
    with pytest.raises(hwprune.errors.PruneConfigError, match="score_tolerance"):
        ofa.run_evolutionary_search(sup, None, (), _eval_fn(accuracy), (), score_tolerance=-0.1, **kw)


@pytest.mark.resume
def test_interrupted_search_resumes_with_nothing_lost(setup, tmp_path):
    ofa, sup, accuracy = setup
    path = tmp_path / "r.ofasearch"
    calls = {"n": 0}
    plain = _eval_fn(accuracy)

    def flaky(model):
        calls["n"] += 1
        if calls["n"] == 40:
            raise RuntimeError("interrupted")
        return plain(model)

    kw = dict(iteration=4, search_file=path, **RANGE)
    with pytest.raises(EvalFnError, match="interrupted"):
        ofa.run_evolutionary_search(sup, None, (), flaky, (), "acc1", "max", **kw)
    done = len(
        hwprune.runtime.store.ResultStore.open_existing(
            path, kind="ofa-search", structure_hash=ofa.structure_hash
        )
    )
    assert done == 39
    resumed = ofa.run_evolutionary_search(sup, None, (), flaky, (), "acc1", "max", **kw)
    total = ofa.last_search.evaluated + done
    fresh = ofa.run_evolutionary_search(sup, None, (), plain, (), "acc1", "max", forced=True, **kw)
    assert resumed == fresh
    assert total == ofa.last_search.evaluated  # the resumed run evaluated exactly what was missing


def test_stale_search_file_and_ranges(setup, tmp_path):
    ofa, sup, accuracy = setup
    path = tmp_path / "x.ofasearch"
    ofa.run_evolutionary_search(
        sup, None, (), _eval_fn(accuracy), (), iteration=1, parent_popu_size=2, search_file=path, **RANGE
    )
    other = ofa.ofa_model([0.5, 1.0], channel_divisible=8)
    with pytest.raises(StaleFileError, match="config"):
        ofa.run_evolutionary_search(
            other, None, (), _eval_fn(accuracy), (), iteration=1, search_file=path, **RANGE
        )
    with pytest.raises(BudgetError, match="reach") as e:
        ofa.run_evolutionary_search(sup, None, (), _eval_fn(accuracy), (), min_latency=0.05, max_latency=0.9)
    assert "of unpruned" in str(e.value) and "smallest and largest" in str(e.value)
    with pytest.raises(BudgetError, match="one unit"):
        ofa.run_evolutionary_search(
            sup, None, (), _eval_fn(accuracy), (), min_latency=0.6, max_latency="1ms", latency_step=0.1
        )
    with pytest.raises(BudgetError, match="latency range"):
        ofa.run_evolutionary_search(sup, None, (), _eval_fn(accuracy), ())
    # Vitis's FLOPs range (MMACs) and a range in cycles still work
    lo, hi = ofa.table(sup).macs(np.stack([sup.space.min_code(), sup.space.max_code()]))
    pareto = ofa.run_evolutionary_search(
        sup,
        None,
        (),
        _eval_fn(accuracy),
        (),
        "acc1",
        "max",
        min_flops=lo / 1e6 + 1,
        max_flops=hi / 1e6,
        flops_step=5,
        iteration=1,
        search_file=tmp_path / "f.ofasearch",
    )
    assert all(e["mode"] == "flops" and e["macs"] <= float(k) * 1e6 for k, e in pareto.items())
    unpruned = ofa.unpruned_cycles()
    pareto = ofa.run_evolutionary_search(
        sup,
        None,
        (),
        _eval_fn(accuracy),
        (),
        min_latency=int(0.6 * unpruned),
        max_latency=int(0.8 * unpruned),
        iteration=1,
        search_file=tmp_path / "c.ofasearch",
    )
    assert all(e["latency_cycles_cycle_mode"] <= int(k) for k, e in pareto.items())


def test_process_backend_with_calibration_matches_serial(tmp_path):
    from hwprune.train.calibrate import loader_calibration

    model = hwprune.models.get("resnet20", num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    data = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,)))]

    def score(net, batches):
        with torch.no_grad():
            return float(sum(net(b)[:, 0].mean() for b, _ in batches))

    out = []
    ofa = hwprune.OFAPruner(model, x, hw=HW, workers=2, progress=False, workdir=tmp_path)
    sup = ofa.ofa_model([0.5, 1.0], channel_divisible=8)
    for backend in ("serial", "process"):
        ofa.backend = backend
        out.append(
            ofa.run_evolutionary_search(
                sup,
                loader_calibration,
                (data,),
                score,
                (data,),
                iteration=1,
                parent_popu_size=2,
                mutate_size=2,
                crossover_size=1,
                search_file=tmp_path / f"{backend}.s",
                **RANGE,
            )
        )
    assert out[0].keys() == out[1].keys()
    for k in out[0]:
        assert out[0][k]["subnet_setting"] == out[1][k]["subnet_setting"]
        assert out[0][k]["acc1"] == pytest.approx(out[1][k]["acc1"], rel=1e-5)


def test_payload_for_workers_without_shared_memory_rebuilds_the_supernet(setup):
    """Ray and spawned workers get the model, the space and the supernet's state (pickled), not the
    parametrized supernet; the rebuilt one scores a subnet exactly as the original does."""
    import copy
    import pickle

    from hwprune.ofa.search import evaluate_code, make_payload
    from hwprune.runtime.parallel import ProcessBackend

    ofa, sup, _ = setup
    sup = copy.deepcopy(sup)
    with torch.no_grad():
        for name, t in sup.state_dict().items():
            if t.is_floating_point() and "mask" not in name:
                t.mul_(1.05)  # trained weights must travel, not the model's
    x = torch.randn(2, 3, 32, 32)
    payload = make_payload(sup, ofa.model, ProcessBackend(start_method="spawn"), _sum_score, (x,), None, ())
    assert payload.supernet is None
    code = tuple(int(c) for c in sup.space.random_codes(np.random.default_rng(1), 1)[0])
    remote = evaluate_code(pickle.loads(pickle.dumps(payload)), code)
    sup.set_code(np.asarray(code)).eval()
    assert remote == pytest.approx(_sum_score(sup, x), rel=1e-6)


def _sum_score(model, batch):
    with torch.no_grad():
        return float(model(batch).sum())
