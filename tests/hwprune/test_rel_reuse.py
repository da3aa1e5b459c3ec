"""Plan reuse is honest: a saved plan is reused only when every input that shaped it matches."""

from __future__ import annotations

import json

import pytest
import torch

import hwprune
from hwprune.cli import main
from hwprune.planning.plan import Plan
from hwprune.planning.planner import plan_key
from hwprune.planning.reuse import reuse_plan


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = hwprune.models.get("digits_cnn", num_classes=10, in_channels=1).eval()
    x = torch.randn(1, 1, 32, 32)
    plan = hwprune.plan(model, x, hw="dpu-b1024-sparse", budget=0.5)
    folder = tmp_path_factory.mktemp("reuse")
    plan.save(folder / "plan.json")
    return model, x, plan, folder


def _key(model, x, **kw):
    args = {
        "hw": "dpu-b1024-sparse",
        "budget": 0.5,
        "nm": "auto",
        "excludes": (),
        "importance": "l1",
        "solver": "greedy",
    }
    args.update(kw)
    return plan_key(model, x, **args)


def test_the_same_inputs_reuse_the_plan(saved) -> None:
    model, x, plan, folder = saved
    key = _key(model, x)
    assert plan.inputs == key  # plan() records exactly what plan_key() computes
    got = reuse_plan(folder / "plan.json", key)
    assert got.plan == plan and "reusing" in got.why


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nm": False}, "nm"),
        ({"excludes": ("conv2",)}, "excludes"),
        ({"solver": "exact"}, "solver"),
        ({"budget": 0.6}, "budget"),
        ({"importance": "l2"}, "importance"),
        ({"hw": "dpu-b4096-sparse"}, "hw_config_hash"),
        ({"sensitivity": {"g0": 2.0}}, "sensitivity_hash"),
        ({"round_to": 4}, "round_to"),
    ],
)
def test_any_other_input_replans_and_says_why(saved, change, field) -> None:
    model, x, _, folder = saved
    got = reuse_plan(folder / "plan.json", _key(model, x, **change))
    assert got.plan is None and field in got.why and "replanning" in got.why
    assert (folder / "plan.json").is_file()  # a plan of the same model is left in place


def test_other_weights_replan(saved) -> None:
    model, x, _, folder = saved
    other = hwprune.models.get("digits_cnn", num_classes=10, in_channels=1).eval()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.01)
    got = reuse_plan(folder / "plan.json", _key(other, x))
    assert got.plan is None and "weights_hash" in got.why


def test_corrupt_and_foreign_plans_are_moved_aside(saved, tmp_path) -> None:
    model, x, plan, _ = saved
    text = json.dumps(plan.to_dict())
    (tmp_path / "plan.json").write_text(text[: len(text) // 2])  # truncated
    got = reuse_plan(tmp_path / "plan.json", _key(model, x))
    assert got.plan is None and got.moved_to is not None and ".stale-" in got.moved_to.name
    assert not (tmp_path / "plan.json").exists() and got.moved_to.read_text() == text[: len(text) // 2]

    torch.manual_seed(0)
    other = hwprune.models.get("resnet20", num_classes=10, in_channels=1).eval()
    plan.save(tmp_path / "plan.json")
    got = reuse_plan(tmp_path / "plan.json", _key(other, x))
    assert got.plan is None and "another model" in got.why and got.moved_to.is_file()
    assert not (tmp_path / "plan.json").exists()


def test_a_plan_with_wrong_types_is_a_spec_error(saved, tmp_path) -> None:
    _, _, plan, _ = saved
    d = plan.to_dict()
    d["groups"][0]["kept"] = "abc"
    (tmp_path / "plan.json").write_text(json.dumps(d))
    with pytest.raises(hwprune.errors.SpecError, match="kept = 'abc' is not an integer"):
        Plan.load(tmp_path / "plan.json")


def test_optimize_rerun_with_other_settings_replans(tmp_path, monkeypatch, capsys) -> None:
    """The issue's case: a rerun with --nm off / --exclude applied the old plan."""
    monkeypatch.chdir(tmp_path)
    base = [
        "optimize",
        "--model",
        "digits_cnn",
        "--hw",
        "dpu-b1024-sparse",
        "--budget",
        "0.6",
        "--epochs",
        "1",
        "--finetune-epochs",
        "0",
        "--out",
        "run",
    ]
    assert main(base) == 0
    first = Plan.load(tmp_path / "run" / "plan.json")
    assert first.nm()  # auto N:M on a sparse DPU uses it
    capsys.readouterr()
    assert main([*base, "--nm", "off", "--exclude", "features.1.0"]) == 0
    out = capsys.readouterr().out
    assert "replanning" in out and "nm: True -> False" in out and "excludes" in out
    second = Plan.load(tmp_path / "run" / "plan.json")
    assert not second.nm()
    excluded = [g for g in second.groups if "features.1.0" in g.key]
    assert excluded and all(g.kept == g.size and not g.prunable for g in excluded)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["nm_layers"] == {} and metrics["plan_reused"] is False
