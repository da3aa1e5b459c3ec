"""The trace-once pipeline: one trace per job, the applied IR is the slim model, Traced keeps up with
the model's tensors."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

import hwprune
from hwprune.errors import HwPruneError, PlanMismatchError
from hwprune.lower.simulate import simulate_graph
from hwprune.optimize import OptimizeConfig, optimize
from hwprune.planning.apply import apply_graph, apply_ir
from hwprune.traced import Traced, as_traced


@pytest.fixture()
def traces(monkeypatch) -> list[str]:
    """The class names of every model traced while the test runs."""
    seen: list[str] = []
    trace_module = importlib.import_module("hwprune.frontend.trace")
    real = trace_module._lower

    def counting(gm, meta, leaves, inputs, model_class, specialised=()):
        seen.append(model_class)
        return real(gm, meta, leaves, inputs, model_class, specialised)

    monkeypatch.setattr(trace_module, "_lower", counting)
    return seen


def test_one_optimize_run_traces_the_users_model_once_and_a_rerun_too(tmp_path, monkeypatch, traces) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = OptimizeConfig(
        model="digits_cnn",
        hw="dpu-b1024-sparse",
        budget="0.5",
        epochs=1,
        finetune_epochs=1,
        out=str(tmp_path / "run"),
        progress=False,
    )
    metrics = optimize(cfg)
    assert traces == ["DigitsCNN"]  # nothing else is traced either: the slim model is simulated from its IR
    assert metrics["nm_layers"]  # the run really planned N:M, so the applied IR carried it
    assert metrics["slim_simulated_cycles"] == metrics["cycles"]
    assert not metrics["plan_reused"]
    traces.clear()
    again = optimize(cfg)  # reuses the cached baseline and the saved plan: still one trace
    assert again["plan_reused"] and traces == ["DigitsCNN"]
    assert again["cycles"] == metrics["cycles"]


def _net() -> nn.Module:
    torch.manual_seed(0)
    return hwprune.models.get("resnet20", num_classes=10, in_channels=3)


def test_applied_ir_is_what_the_emitted_model_traces_to() -> None:
    """Simulating the applied IR (what optimize does) equals tracing and simulating the slim model."""
    model, x = _net(), torch.randn(1, 3, 32, 32)
    t = Traced(model, x)
    plan = hwprune.plan_graph(t, "dpu-b1024-sparse", 0.5)
    assert plan.nm(), "the case must exercise N:M"
    applied, _ = apply_ir(t, plan)
    slim = apply_graph(t, plan, applied=(applied, _))
    from_ir = simulate_graph(applied, "dpu-b1024-sparse")
    from_slim = hwprune.simulate(slim, x, "dpu-b1024-sparse")
    assert from_ir.total_cycles == from_slim.total_cycles == plan.cycles
    assert [r.name for r in from_ir.layers] == [r.name for r in from_slim.layers]
    sparse = {op.name: str(op.sparsity) for op in applied.ops if op.sparsity is not None}
    assert sparse == plan.nm()


def test_traced_derives_each_thing_once(traces) -> None:
    model, x = _net(), torch.randn(1, 3, 32, 32)
    t = Traced(model, x)
    assert t.analysis() is t.analysis(()) and t.lowering is t.lowering
    a = t.analysis(["layer1"])
    assert a is t.analysis(("layer1",)) and a is not t.analysis()
    p1 = hwprune.plan(t, None, "dpu-b4096", 0.6)
    p2 = hwprune.plan(t, x, "dpu-b4096", 0.7)
    hwprune.apply(t, None, p1)
    hwprune.simulate(t, None, "dpu-b4096")
    assert traces == ["CifarResNet"] and p2.cycles > p1.cycles


def test_as_traced_refuses_other_input_shapes() -> None:
    t = Traced(_net(), torch.randn(1, 3, 32, 32))
    with pytest.raises(HwPruneError, match=r"traced on \[\(1, 3, 32, 32\)\]"):
        as_traced(t, torch.randn(1, 3, 64, 64))


def test_sync_sees_replaced_buffers_and_parameters() -> None:
    model, x = _net(), torch.randn(1, 3, 32, 32)
    t = Traced(model, x)
    bn = model.bn1
    bn.running_mean = torch.full_like(bn.running_mean, 3.0)  # replaced, as Module.to(device) does
    model.conv1.weight = nn.Parameter(model.conv1.weight.detach() * 2)
    gm = t.graph.source.gm
    assert not torch.equal(gm.get_submodule("bn1").running_mean, bn.running_mean)
    t.sync()
    assert gm.get_submodule("bn1").running_mean is bn.running_mean
    assert gm.get_submodule("conv1").weight is model.conv1.weight
    model.eval()
    gm.eval()
    with torch.no_grad():
        assert torch.equal(gm(x), model(x))


def test_plan_from_another_model_is_refused_by_apply_ir() -> None:
    t = Traced(_net(), torch.randn(1, 3, 32, 32))
    other = Traced(hwprune.models.get("digits_cnn", num_classes=10, in_channels=1), torch.randn(1, 1, 32, 32))
    plan = hwprune.plan_graph(other, "dpu-b4096", 0.6)
    with pytest.raises(PlanMismatchError, match="another model"):
        apply_ir(t, plan)


def test_compress_runs_every_step_and_checks_the_latency() -> None:
    model, x = _net(), torch.randn(1, 3, 32, 32)
    t = Traced(model, x)
    done = hwprune.compress(t, "dpu-b1024-sparse", 0.5)
    assert done.report.total_cycles == done.plan.cycles <= done.plan.budget_cycles
    assert {op.name: str(op.sparsity) for op in done.graph.ops if op.sparsity} == done.plan.nm()
    model.eval()
    done.model.eval()
    assert done.model(x).shape == model(x).shape
    again = hwprune.compress(t, plan=done.plan)  # a given (e.g. reused) plan is applied, not remade
    assert again.plan is done.plan and again.report.total_cycles == done.report.total_cycles


def test_emit_refuses_a_module_that_disagrees_with_its_op() -> None:
    from hwprune.emit.module import check_emitted
    from hwprune.errors import VerifyError

    model, x = _net(), torch.randn(1, 3, 32, 32)
    t = Traced(model, x)
    slim = hwprune.apply(t, None, hwprune.plan(t, None, "dpu-b4096", 0.6))
    check_emitted(t.graph, model)  # the unpruned model agrees with its own graph
    with pytest.raises(VerifyError, match=r"emitted module '[\w.]+' \(conv\) has a weight of shape"):
        check_emitted(t.graph, slim)  # the slim model's layers are smaller than the unpruned ops say
