"""Candidate evaluation backends: serial, local process pool, and Ray (local instance, if installed)."""

from __future__ import annotations

import functools

import pytest
import torch

import hwprune
from hwprune.errors import EvalFnError, PruneConfigError
from hwprune.runtime.parallel import ProcessBackend, SerialBackend, get_backend
from hwprune.runtime.userfn import call_eval


def _score(payload, task):
    """A task as the search runs it: model in the payload, user's eval fn called through call_eval."""
    model, eval_fn = payload
    return {"task": task, "score": call_eval(eval_fn, model, (task,)), "threads": torch.get_num_threads()}


def _eval(model, k):
    if k == 3:
        raise ValueError("bad batch")
    with torch.no_grad():
        return float(model(torch.full((1, 4), float(k))).sum())


@pytest.fixture(scope="module")
def payload():
    torch.manual_seed(0)
    return (torch.nn.Linear(4, 2), _eval)


def test_process_pool_matches_serial(payload):
    tasks = [0, 1, 2, 4, 5]
    serial = dict(SerialBackend().run(_score, payload, tasks))
    pooled = dict(ProcessBackend(workers=2).run(_score, payload, tasks))
    assert pooled.keys() == serial.keys() == set(range(len(tasks)))
    for i in serial:
        assert pooled[i]["score"] == pytest.approx(serial[i]["score"])
        assert pooled[i]["threads"] == 1, "workers run torch single-threaded"


def test_error_in_worker_is_raised_after_earlier_results(payload):
    got = []
    with pytest.raises(EvalFnError, match="bad batch"):
        for i, _ in ProcessBackend(workers=2).run(_score, payload, [0, 1, 3, 2]):
            got.append(i)
    assert 2 not in got  # the failing task never yields a result


def test_get_backend():
    assert get_backend("serial").name == "serial"
    assert get_backend("process", workers=1).name == "serial"
    assert get_backend(None).name == "process"
    assert get_backend("process", workers=3).workers == 3
    custom = SerialBackend()
    assert get_backend(custom) is custom
    with pytest.raises(PruneConfigError, match="unknown backend 'gpu'"):
        get_backend("gpu")


def test_ray_local_instance(payload, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'hwprune[ray]'")
    try:
        tasks = [0, 1, 2, 4]
        serial = dict(SerialBackend().run(_score, payload, tasks))
        fn = functools.partial(_score)  # partials of test-module functions reach the workers by value
        got = dict(get_backend("ray", workers=2).run(fn, payload, tasks))
        assert got.keys() == serial.keys()
        assert all(got[i]["score"] == pytest.approx(serial[i]["score"]) for i in got)
        assert all(got[i]["threads"] == 1 for i in got)
        with pytest.raises(EvalFnError, match="bad batch"):
            dict(get_backend("ray", workers=2).run(_score, payload, [3]))

        # a one-step search on Ray: same candidates and scores as in this process
        from hwprune.train.calibrate import loader_calibration
        from tests.hwprune import vitis_support as vs

        def search(backend, path):
            runner = hwprune.get_pruning_runner(
                vs.trained_digits_cnn(),
                vs.example_input(),
                "one_step",
                workdir=path,
                backend=backend,
                progress=False,
            )
            return runner.search(
                calibration_fn=loader_calibration,
                calib_args=(vs.train_batches(), 2),
                eval_fn=vs.accuracy,
                eval_args=(vs.eval_batches(),),
                num_subnet=2,
                removal_ratio=0.4,
            )

        on_ray = search("ray", tmp_path / "ray")
        here = search("serial", tmp_path / "serial")
        assert [(r.keep, r.score) for r in on_ray] == [(r.keep, pytest.approx(r.score)) for r in here]
    finally:
        ray.shutdown()
