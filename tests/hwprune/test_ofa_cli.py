"""``hwprune ofa``: a run folder whose static subnets rebuild from spec + state_dict at the reported latency."""

from __future__ import annotations

import json

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hwprune
from hwprune.cli import main
from hwprune.ofa import load_subnet_config


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 4),
    )


def tiny_data():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 3, 8, 8, generator=g), torch.randint(0, 4, (48,), generator=g)
    return (
        DataLoader(
            TensorDataset(x[:32], y[:32]),
            batch_size=8,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
        ),
        DataLoader(TensorDataset(x[32:], y[32:]), batch_size=8),
    )


ARGS = [
    "ofa",
    "--model",
    "tests.hwprune.test_ofa_cli:tiny_net",
    "--data",
    "tests.hwprune.test_ofa_cli:tiny_data",
    "--hw",
    "dpu-b512",
    "--epochs",
    "1",
    "--ofa-epochs",
    "1",
    "--iteration",
    "1",
    "--parent-popu-size",
    "2",
    "--mutate-size",
    "2",
    "--crossover-size",
    "1",
    "--calib-batches",
    "2",
    "--eval-batches",
    "2",
    "--finetune-epochs",
    "1",
    "--backend",
    "serial",
    "--device",
    "cpu",
    "--quiet",
]


def test_cli_writes_a_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                *ARGS,
                "--latency",
                "0.5:1.0:0.25",
                "--expand-ratio",
                "0.25,0.5,1",
                "--out",
                str(out),
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )
        == 0
    )
    for name in ("supernet.pt", "supernet.json", "pareto.json", "pareto.png", "metrics.json", "report.md"):
        assert (out / name).is_file(), name
    pareto = load_subnet_config(out / "pareto.json")
    assert list(pareto) == ["0.75", "1"]
    x = torch.randn(1, 3, 8, 8)
    for key, entry in pareto.items():
        spec = json.loads((out / "subnets" / f"{key}.spec.json").read_text())
        slim = hwprune.get_slim_model(tiny_net(), spec, out / "subnets" / f"{key}.pt")
        assert hwprune.simulate(slim, x, hw="dpu-b512").total_cycles == entry["latency_cycles_cycle_mode"]
        assert 0 <= entry["test_acc"] <= 1 and entry["finetune_epochs"] == 1
    assert "wrote" in capsys.readouterr().out


def test_cli_refuses_an_unreachable_range_before_training(tmp_path, capsys):
    cache = tmp_path / "cache"
    code = main([*ARGS, "--latency", "0.01:0.02", "--out", str(tmp_path / "run"), "--cache-dir", str(cache)])
    err = capsys.readouterr().err
    assert (
        code == 2
        and "outside what this supernet's subnets reach" in err
        and len(err.strip().splitlines()) == 1
    )
    assert not (tmp_path / "run").exists() and not any(cache.glob("*.pt"))  # nothing trained, nothing written
    assert main([*ARGS, "--latency", "0.8"]) == 2
    assert "MIN:MAX" in capsys.readouterr().err
    assert main([*ARGS, "--latency", "0.5:0.9", "--expand-ratio", "0,1"]) == 2


def test_cli_input_shape_reaches_the_data_and_bad_shapes_are_refused(tmp_path, monkeypatch, capsys):
    """``hwprune ofa`` shares optimize's data flags: --input-shape sets the image side it trains on."""
    import hwprune.optimize as opt

    seen = {}

    def stop(cfg):
        seen["cfg"] = cfg
        raise hwprune.errors.PruneConfigError("stopped before training")

    monkeypatch.setattr(opt, "validate", stop)
    args = ["ofa", "--model", "resnet20", "--out", str(tmp_path / "run"), "--quiet"]
    assert main([*args, "--input-shape", "1,1,24,24", "--threads", "1"]) == 2
    assert (seen["cfg"].input_size, seen["cfg"].in_channels, seen["cfg"].threads) == (24, 1, 1)
    assert main([*args, "--input-shape", "1,1,24,20"]) == 2
    assert "hwprune ofa trains on square images" in capsys.readouterr().err
    assert main([*args, "--input-shape", "1,1,24,24", "--input-size", "32"]) == 2
    assert "--input-size 32 contradicts --input-shape side 24" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
