"""benchmarks/bench_planner_vs_baselines.py: every method's pruned model has its BN statistics
re-estimated on the same calibration batches before the (common) fine-tune, and each row records the
accuracy after pruning, after BN re-estimation and after fine-tuning."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_planner_vs_baselines.py"
_spec = importlib.util.spec_from_file_location("bench_planner_vs_baselines", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

STALE_MEAN, STALE_VAR = 100.0, 1e4  # statistics a pruned model inherits and no batch could produce


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),
    ).eval()


def _stale(model: nn.Module) -> nn.Module:
    bn = model[1]
    bn.running_mean.fill_(STALE_MEAN)
    bn.running_var.fill_(STALE_VAR)
    return model


def test_every_method_fine_tunes_from_bn_statistics_of_the_calibration_batches(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    xs, ys = torch.randn(96, 1, 32, 32, generator=g) * 2 + 3, torch.randint(0, 10, (96,), generator=g)
    train_loader = DataLoader(TensorDataset(xs, ys), batch_size=16)
    test_loader = DataLoader(TensorDataset(xs[:32], ys[:32]), batch_size=16)
    calib = bench._calibration_batches(xs, 3, 16)
    assert [len(b) for b in calib] == [16, 16, 16]

    monkeypatch.setattr(bench, "OUT_JSON", tmp_path / "out.json")
    monkeypatch.setattr(bench, "_data", lambda args: (train_loader, [(xs[:16], ys[:16])], test_loader, calib))
    monkeypatch.setattr(bench, "_baseline", lambda net, args, tl, te, cache: (_tiny(), 0.5, 1.0))
    built: list[str] = []

    def build(self, method, hw, budget, target, seed):
        built.append(method)
        return _stale(_tiny())

    monkeypatch.setattr(bench._Methods, "build", build)
    reached_ft: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def fake_train(model, loader, epochs, **kw):  # the fine-tune: records the BN state it starts from
        reached_ft[built[-1]] = (model[1].running_mean.clone(), model[1].running_var.clone())
        return {}

    monkeypatch.setattr(bench, "train", fake_train)
    args = bench.parse_args(
        ["--nets", "resnet20", "--budgets", "0.5", "--seeds", "0", "--cache", str(tmp_path / "c")]
    )
    rows = bench.run(args)

    # what adaptive BN must give: the per-channel mean / variance of the conv output over the 3 batches
    conv = _tiny()[0]
    with torch.no_grad():
        outs = [conv(b) for b in calib]
    want_mean = torch.stack([o.mean((0, 2, 3)) for o in outs]).mean(0)
    want_var = torch.stack([o.var((0, 2, 3), unbiased=True) for o in outs]).mean(0)

    assert sorted(reached_ft) == sorted(bench.METHODS)
    for method, (mean, var) in reached_ft.items():
        assert torch.allclose(mean, want_mean, atol=1e-4), method
        assert torch.allclose(var, want_var, rtol=1e-4), method
    assert sorted(r["method"] for r in rows) == sorted(bench.METHODS)
    for r in rows:
        assert r["bn_layers"] == 1 and r["bn_images"] == 48
        assert {"acc_before_ft", "acc_bn", "acc"} <= r.keys()
        assert 0.0 <= r["acc_bn"] <= 1.0


def test_prepare_leaves_the_pruned_model_alone_and_measures_both_accuracies():
    g = torch.Generator().manual_seed(1)
    xs, ys = torch.randn(32, 1, 32, 32, generator=g), torch.randint(0, 10, (32,), generator=g)
    test_loader = DataLoader(TensorDataset(xs, ys), batch_size=16)
    slim = _stale(_tiny())
    pre, cal, acc_bn, n_bn = bench._prepare(slim, [xs[:16], xs[16:]], test_loader, "tiny")
    assert slim[1].running_mean.eq(STALE_MEAN).all()  # the cached pruned model is not touched
    assert not cal[1].running_mean.eq(STALE_MEAN).any()
    assert n_bn == 1 and not cal.training
    assert 0.0 <= pre <= 1.0 and 0.0 <= acc_bn <= 1.0


def test_a_cache_from_another_hardware_model_is_refused(tmp_path):
    import argparse
    import json

    import pytest

    args = argparse.Namespace(cache=tmp_path, hw="dpu-b4096", hw_sparse="dpu-b4096-sparse", fresh=False)
    bench.check_hw_model(args)  # a new cache is stamped
    stamp = json.loads((tmp_path / "hw.json").read_text())
    bench.check_hw_model(args)  # the same model passes
    stamp["dpu-b4096"]["dpu"]["conv_stretch_pct"] = 116  # a cache from before the stretch was refitted
    (tmp_path / "hw.json").write_text(json.dumps(stamp))
    with pytest.raises(SystemExit, match="conv_stretch_pct|dpu"):
        bench.check_hw_model(args)
    bench.check_hw_model(argparse.Namespace(**{**vars(args), "fresh": True}))  # --fresh re-stamps
    assert json.loads((tmp_path / "hw.json").read_text())["dpu-b4096"]["dpu"]["conv_stretch_pct"] == 112
