"""The hwprune CLI end to end: optimize (run folder, cache, reuse), plan/report/simulate/reports, errors."""

from __future__ import annotations

import json

import pytest
import torch

import hwprune
from hwprune.cli import main
from hwprune.planning.plan import Plan
from hwprune.pruning import get_slim_model


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the baseline cache (.hwprune/cache) lands here
    return tmp_path


def test_optimize_writes_a_complete_run_and_reuses_it(workdir, capsys) -> None:
    args = [
        "optimize",
        "--model",
        "digits_cnn",
        "--hw",
        "dpu-b1024-sparse",
        "--budget",
        "0.4",
        "--epochs",
        "2",
        "--finetune-epochs",
        "1",
        "--out",
        "run",
        "--quiet",
    ]
    assert main(args) == 0
    run = workdir / "run"
    for name in (
        "plan.json",
        "slim.spec.json",
        "slim.pt",
        "metrics.json",
        "report.md",
        "latency_per_layer.png",
        "channels_kept.png",
    ):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    plan = Plan.load(run / "plan.json")
    assert metrics["cycles"] == plan.cycles == metrics["slim_simulated_cycles"] <= plan.budget_cycles
    assert plan.budget_cycles == int(0.4 * plan.unpruned_cycles)
    assert 0.0 <= metrics["pruned_accuracy"] <= 1.0 and metrics["finetuned_accuracy"] > 0.5
    assert metrics["params"] < metrics["params_before"]
    report = (run / "report.md").read_text()
    assert "![latency](latency_per_layer.png)" in report
    for line in (
        "- model: digits_cnn",
        "- data: digits, 32x32x1, 10 classes",
        "- hardware: dpu-b1024-sparse",
        "- epochs: baseline 2 (trained), fine-tuning 1",
        "- wall time: ",
    ):
        assert line in report, line

    # the slim model rebuilds from the original + spec + state_dict (masks baked into the weights)
    torch.manual_seed(0)
    original = hwprune.models.get("digits_cnn", num_classes=10, in_channels=1)
    cached = sorted((workdir / ".hwprune" / "cache").glob("*.pt"))
    assert len(cached) == 1
    original.load_state_dict(torch.load(cached[0], weights_only=True))
    slim = get_slim_model(original, run / "slim.spec.json", run / "slim.pt")
    assert slim(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    for name in plan.nm():
        w = slim.get_submodule(name).weight
        assert float((w == 0).float().mean()) >= 0.49  # N:M zeros survived fine-tuning and saving

    # a second run loads the cached baseline and reuses the plan
    before = (run / "plan.json").read_bytes()
    assert main(args[:-1]) == 0
    out = capsys.readouterr().out
    assert "baseline loaded from" in out and "reusing" in out
    assert (run / "plan.json").read_bytes() == before
    assert (workdir / "run.prev" / "metrics.json").is_file()  # the replaced run is kept


def test_plan_report_simulate_commands(workdir, capsys) -> None:
    assert (
        main(
            [
                "plan",
                "--model",
                "resnet20",
                "--in-channels",
                "1",
                "--hw",
                "systolic-32x32-ws",
                "--budget",
                "0.5",
                "--out",
                "p",
            ]
        )
        == 0
    )
    plan = Plan.load(workdir / "p" / "plan.json")
    assert plan.cycles <= plan.budget_cycles and (workdir / "p" / "plan.md").is_file()
    assert plan.inputs["loss"] == "log"
    common = ["plan", "--model", "resnet20", "--in-channels", "1", "--hw", "dpu-b4096", "--budget", "0.3"]
    assert main([*common, "--loss", "linear", "--out", "lin"]) == 0
    assert main([*common, "--out", "log"]) == 0
    lin, log = (Plan.load(workdir / d / "plan.json") for d in ("lin", "log"))
    assert lin.inputs["loss"] == "linear" and lin.groups != log.groups  # the flag reaches the planner
    assert main(["report", str(workdir / "p" / "plan.json"), "--out", "r"]) == 0
    assert "| layer1.0.conv1 |" in (workdir / "r" / "plan.md").read_text()
    assert main(["simulate", "--model", "digits_cnn", "--hw", "dpu-b4096", "--out", "sim"]) == 0
    assert "cycles" in capsys.readouterr().out
    assert (workdir / "sim" / "COMPUTE_REPORT.csv").is_file()
    assert main(["reports", "--net", "digits_cnn", "--hw", "dpu-b4096", "--out", "nets", "--quiet"]) == 0
    assert "| digits_cnn |" in (workdir / "nets" / "README.md").read_text()


def test_errors_exit_2_with_a_message(workdir, capsys) -> None:
    assert main(["plan", "--model", "resnet20", "--hw", "dpu-b4096", "--budget", "0.1", "--out", "p"]) == 2
    err = capsys.readouterr().err
    assert "smallest reachable latency" in err and "cycles" in err
    assert not (workdir / "p" / "plan.json").exists()
    assert main(["plan", "--model", "resnet20", "--hw", "no-such-hw", "--out", "p"]) == 2
    assert "dpu-b4096" in capsys.readouterr().err  # the message lists the presets
    assert main(["optimize", "--model", "nope.module:make", "--out", "o", "--quiet"]) == 2
    assert "cannot import" in capsys.readouterr().err


def test_optimize_takes_a_user_factory(workdir, monkeypatch) -> None:
    (workdir / "usernets.py").write_text(
        "import torch.nn as nn\n"
        "def make():\n"
        "    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),\n"
        "                         nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),\n"
        "                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))\n"
    )
    monkeypatch.syspath_prepend(str(workdir))
    assert (
        main(
            [
                "optimize",
                "--model",
                "usernets:make",
                "--hw",
                "systolic-32x32-ws",
                "--budget",
                "0.6",
                "--epochs",
                "1",
                "--finetune-epochs",
                "1",
                "--out",
                "u",
                "--quiet",
            ]
        )
        == 0
    )
    plan = Plan.load(workdir / "u" / "plan.json")
    assert plan.cycles <= plan.budget_cycles
    assert any(g.kept < g.size for g in plan.groups)  # 0.6 of the latency cannot come for free
