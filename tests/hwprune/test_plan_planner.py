"""hwprune.plan / apply / simulate on a reference net: budgets met in cycle mode, spent, applied exactly."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import hwmodel
import hwprune
from hwprune.analysis.importance import group_importance
from hwprune.errors import BudgetError, HardwareError, PlanMismatchError, PruneConfigError, SpecError
from hwprune.planning.plan import Plan
from hwprune.planning.planner import plan_key
from hwprune.transforms.nm import bake


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = hwprune.models.get("resnet20", num_classes=10, in_channels=1).eval()
    return model, torch.randn(1, 1, 32, 32)


@pytest.fixture(scope="module")
def plans(net):
    model, x = net
    out = {}
    for hw in ("dpu-b4096", "dpu-b4096-sparse", "systolic-32x32-ws"):
        for budget in (0.3, 0.5, 0.6, 0.7):
            try:
                out[hw, budget] = hwprune.plan(model, x, hw=hw, budget=budget)
            except BudgetError as e:  # a budget the hardware's channel steps cannot reach
                out[hw, budget] = e
    return out


def test_simulate_names_layers_after_modules(net) -> None:
    model, x = net
    rep = hwprune.simulate(model, x, hw="dpu-b4096")
    names = {layer.name for layer in rep.layers}
    modules = {n for n, _ in model.named_modules()}
    convs = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert convs <= names
    assert "fc" in names and names & modules == convs | {"fc", "avgpool"} & names
    assert rep.total_cycles == sum(layer.total_cycles for layer in rep.layers) > 0


@pytest.mark.parametrize("hw", ["dpu-b4096", "dpu-b4096-sparse", "systolic-32x32-ws"])
@pytest.mark.parametrize("budget", [0.3, 0.5, 0.6, 0.7])
def test_plan_meets_and_spends_budget(net, plans, hw: str, budget: float) -> None:
    plan = plans[hw, budget]
    if isinstance(plan, BudgetError):  # only allowed where the stated minimum is above the budget
        minimum = int(str(plan).split("cycles (")[-2].rsplit(": ", 1)[-1])
        assert minimum > budget * hwprune.simulate(*net, hw=hw).total_cycles
        assert hw != "systolic-32x32-ws"  # fine channel steps: every budget here is reachable
        at_min = hwprune.plan(*net, hw=hw, budget=f"{minimum}cycles")  # the stated minimum is reachable
        assert at_min.cycles <= minimum
        return
    assert plan.verified
    assert plan.budget_cycles == int(budget * plan.unpruned_cycles)
    assert plan.cycles <= plan.budget_cycles
    assert plan.cycles >= 0.95 * plan.budget_cycles, (plan.cycles, plan.budget_cycles)
    cfg = hwmodel.preset(hw)
    if cfg.sparse is None:
        assert not plan.nm()
    else:  # the joint search never does worse than channels alone
        channel_only = hwprune.plan(*net, hw=hw, budget=budget, nm=False)
        assert plan.loss <= channel_only.loss + 1e-9


def test_cycle_mode_check_equals_simulating_the_slim_model(net, plans) -> None:
    model, x = net
    for key in [("dpu-b4096", 0.6), ("dpu-b4096-sparse", 0.6), ("systolic-32x32-ws", 0.3)]:
        plan = plans[key]
        slim = hwprune.apply(model, x, plan)
        rep = hwprune.simulate(slim, x, hw=key[0])
        assert rep.total_cycles == plan.cycles
        assert [layer.total_cycles for layer in rep.layers] == [layer.cycles for layer in plan.layers]
        assert slim(x).shape == (1, 10)


def test_plan_counts_match_slim_model(net, plans) -> None:
    model, x = net
    plan = plans["dpu-b4096", 0.6]
    slim = hwprune.apply(model, x, plan)
    for layer in plan.layers:
        if layer.kind in ("conv", "gemm"):
            m = slim.get_submodule(layer.name)
            assert m.weight.shape[0] == layer.cout and m.weight.shape[1] == layer.cin
    convw = sum(m.weight.numel() for m in slim.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    assert convw == plan.params
    assert plan.macs < plan.macs_before


def test_nm_masks_survive_fine_tuning(net, plans) -> None:
    model, x = net
    plan = plans["dpu-b4096-sparse", 0.7]
    assert plan.nm()
    slim = hwprune.apply(model, x, plan).train()
    opt = torch.optim.SGD(slim.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        slim(torch.randn(4, 1, 32, 32)).sum().backward()
        opt.step()
    for name, pattern in plan.nm().items():
        w = slim.get_submodule(name).weight.detach()
        n, m = (int(v) for v in pattern.split("+")[0].split(":"))
        blocks = w.movedim(1, -1).reshape(-1, m)
        assert int(blocks.ne(0).sum(-1).max()) <= n
    baked = bake(slim)
    assert not any(hasattr(mod, "parametrizations") for mod in baked.modules())
    torch.testing.assert_close(baked.eval()(x), slim.eval()(x))


def test_greedy_within_one_percent_of_exact_on_resnet20(net) -> None:
    model, x = net
    for hw, budget in (("dpu-b4096-sparse", 0.65), ("systolic-32x32-os", 0.5)):
        g = hwprune.plan(model, x, hw=hw, budget=budget, solver="greedy")
        e = hwprune.plan(model, x, hw=hw, budget=budget, solver="exact")
        assert e.cycles <= e.budget_cycles and g.cycles <= g.budget_cycles
        assert e.loss <= g.loss + 1e-9  # the MILP's optimum is a lower bound for any solver
        assert g.loss <= 1.01 * e.loss + 1e-9, (hw, budget, g.loss, e.loss)  # greedy within 1% of it


def test_plan_roundtrip_and_wrong_model(net, plans, tmp_path) -> None:
    model, x = net
    plan = plans["dpu-b4096", 0.6]
    plan.save(tmp_path / "p.json")
    assert Plan.load(tmp_path / "p.json") == plan
    other = hwprune.models.get("resnet56", num_classes=10, in_channels=1)
    with pytest.raises(PlanMismatchError, match="another model"):
        hwprune.apply(other, x, plan)


def test_budget_errors(net) -> None:
    model, x = net
    with pytest.raises(BudgetError, match="smallest reachable latency") as info:
        hwprune.plan(model, x, hw="dpu-b4096", budget=0.01)
    assert "cycles" in str(info.value)
    with pytest.raises(HardwareError, match="sparse engine"):
        hwprune.plan(model, x, hw="dpu-b4096", budget=0.5, nm=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = hwprune.plan(model, x, hw="dpu-b4096", budget="1e12cycles")
    assert any("unpruned" in str(w.message) for w in caught)
    assert all(g.kept == g.size for g in plan.groups) and plan.cycles == plan.unpruned_cycles


def test_absolute_budgets(net, plans) -> None:
    model, x = net
    ref = plans["dpu-b4096", 0.6]
    ms = ref.unpruned_ms * 0.6
    plan = hwprune.plan(model, x, hw="dpu-b4096", budget=f"{ms}ms")
    assert plan.latency_ms <= ms + 1e-12
    plan = hwprune.plan(model, x, hw="dpu-b4096", budget=int(ref.unpruned_cycles * 0.65))
    assert plan.cycles <= int(ref.unpruned_cycles * 0.65)


def test_plan_and_apply_never_touch_the_model(net) -> None:
    model, x = net
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    plan = hwprune.plan(model, x, hw="dpu-b4096-sparse", budget=0.7)
    slim = hwprune.apply(model, x, plan)
    slim.train()
    slim(torch.randn(2, 1, 32, 32)).sum().backward()
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == modes
    assert not any(hasattr(m, "parametrizations") for m in model.modules())


def test_taylor_plan_records_its_channels_and_applies(net, tmp_path) -> None:
    """A Taylor plan ranks channels by gradients apply() does not have: it records the kept members,
    apply() keeps exactly those, and the file round-trips; an L1 plan's file has no indices."""
    model, x = net
    m = copy.deepcopy(model)
    torch.nn.functional.cross_entropy(m(torch.randn(8, 1, 32, 32)), torch.arange(8)).backward()
    grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    plan = hwprune.plan(model, x, hw="dpu-b4096", budget=0.6, nm=False, importance="taylor", grads=grads)
    pruned = [g for g in plan.groups if g.kept < g.size]
    assert pruned and all(len(g.indices) == g.kept for g in pruned)
    assert all(not g.indices for g in plan.groups if g.kept == g.size)
    graph = hwprune.trace(model, x)
    scores = group_importance(graph, hwprune.channel_groups(graph), "taylor", grads=grads)
    l1 = group_importance(graph, hwprune.channel_groups(graph), "l1")
    differs = 0
    for g in pruned:  # the top-k by Taylor score (L1 would pick other channels)
        top = np.argsort(-scores[g.gid], kind="stable")[: g.kept]
        assert list(g.indices) == sorted(int(i) for i in top)
        differs += list(g.indices) != sorted(int(i) for i in np.argsort(-l1[g.gid], kind="stable")[: g.kept])
    assert differs
    slim = hwprune.apply(model, x, plan)
    g = pruned[0]
    assert slim.hwprune_spec["keep"][g.key] == list(g.indices)
    plan.save(tmp_path / "t.json")
    assert Plan.load(tmp_path / "t.json") == plan
    assert hwprune.simulate(slim, x, hw="dpu-b4096").total_cycles == plan.cycles
    l1 = hwprune.plan(model, x, hw="dpu-b4096", budget=0.6, nm=False)
    assert all("indices" not in d for d in l1.to_dict()["groups"])
    d = plan.to_dict()
    d["groups"][g.gid]["indices"] = d["groups"][g.gid]["indices"][:-1]  # kept no longer matches
    with pytest.raises(SpecError, match=g.key):
        hwprune.apply(model, x, Plan.from_dict(d))


def test_log_loss_keeps_groups_from_emptying(net) -> None:
    """-ln(share kept) grows without bound as a group empties: at 0.3 the linear proxy cuts groups to
    under a tenth of their channels, the log proxy (the default) keeps every group above a fifth."""
    model, x = net
    t = hwprune.Traced(model, x)
    lin = hwprune.plan(t, x, hw="dpu-b4096", budget=0.3, loss="linear")
    log = hwprune.plan(t, x, hw="dpu-b4096", budget=0.3)
    assert log.inputs["loss"] == "log" and lin.inputs["loss"] == "linear"
    for p in (lin, log):
        assert p.cycles <= p.budget_cycles
    smallest = {p.inputs["loss"]: min(g.kept / g.size for g in p.groups if g.prunable) for p in (lin, log)}
    assert smallest["linear"] < 0.1 and smallest["log"] > 0.2, smallest
    assert plan_key(t, x, budget=0.3, loss="linear") != plan_key(t, x, budget=0.3)
    with pytest.raises(PruneConfigError, match="'square'"):
        hwprune.plan(t, x, hw="dpu-b4096", budget=0.3, loss="square")
