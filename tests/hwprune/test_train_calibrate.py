"""Adaptive BN calibration and the user-function wrappers (clear errors for bad eval/calibration fns)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hwprune.errors import EvalFnError
from hwprune.runtime.userfn import as_args, call_eval
from hwprune.train.calibrate import adaptive_bn, loader_calibration, reset_bn_stats


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3),
        nn.BatchNorm2d(4),
        nn.Dropout(0.5),
        nn.ReLU(),
        nn.Conv2d(4, 3, 1),
        nn.BatchNorm2d(3),
    )


def test_adaptive_bn_equals_exact_batch_statistics():
    net = _net()
    batches = [torch.randn(4, 2, 6, 6) * 3 + 1 for _ in range(3)]
    bn = net[1]
    bn.running_mean.fill_(7.0)
    adaptive_bn(net, loader_calibration, (batches,))
    with torch.no_grad():
        feats = torch.cat([net[0](b) for b in batches])
    # cumulative average of per-batch means equals the mean over equal-size batches
    torch.testing.assert_close(bn.running_mean, feats.mean((0, 2, 3)), rtol=1e-5, atol=1e-5)
    assert bn.momentum == 0.1 and bn.num_batches_tracked.item() == 3
    assert not net.training and not net[2].training


def test_adaptive_bn_num_batches_and_tuple_batches():
    net = _net()
    data = [(torch.randn(2, 2, 5, 5), torch.zeros(2)) for _ in range(5)]
    adaptive_bn(net, loader_calibration, (data, 2))
    assert net[1].num_batches_tracked.item() == 2


def test_calibration_fn_that_raises_restores_model():
    net = _net()

    def broken(model, n):
        model(torch.randn(2, 2, 5, 5))
        raise RuntimeError("disk full")

    with pytest.raises(EvalFnError, match=r"calibration_fn .*broken raised RuntimeError: disk full"):
        adaptive_bn(net, broken, (1,))
    assert net[1].momentum == 0.1 and not net.training
    assert reset_bn_stats(net) == 2


@pytest.mark.parametrize("value", [0.5, 3, np.float32(0.25), torch.tensor(0.75)])
def test_call_eval_accepts_numbers(value):
    assert call_eval(lambda m: value, None) == pytest.approx(float(value))


@pytest.mark.parametrize("value", ["0.9", None, True, float("nan"), torch.tensor([0.1, 0.2]), [0.9]])
def test_call_eval_rejects_non_numbers(value):
    with pytest.raises(EvalFnError, match="must return a finite number"):
        call_eval(lambda m: value, None, where="group 'conv1' at ratio 0.3")


def test_call_eval_wraps_exceptions_but_not_interrupts():
    def bad(model, loader):
        raise ValueError("shape mismatch")

    with pytest.raises(EvalFnError, match="shape mismatch.*results already stored are reused"):
        call_eval(bad, None, (1,))

    def interrupted(model):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call_eval(interrupted, None)


def test_args_must_be_a_tuple():
    assert as_args([1, 2]) == (1, 2)
    with pytest.raises(EvalFnError, match=r"args=\(value,\)"):
        as_args(object())
