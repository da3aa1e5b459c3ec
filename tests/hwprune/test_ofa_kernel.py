"""OFA elastic kernel size (centre crop + kernel transform) and Vitis's depthwise rule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import hwmodel
import hwprune
from hwprune.errors import PruneConfigError, SpecError, StaleFileError
from hwprune.ofa.static import rebuild_static_subnet
from tests.hwprune.ofa_support import static_matches_dynamic

HW = "dpu-b1024"


class KernelNet(nn.Module):
    """7x7 and 5x5 convs (one strided, one depthwise in a residual), a 3x3 conv and an excluded 5x5 stem."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 5, padding=2)
        self.b1 = nn.BatchNorm2d(16)
        self.c7 = nn.Conv2d(16, 24, 7, padding=3)
        self.b2 = nn.BatchNorm2d(24)
        self.c5 = nn.Conv2d(24, 24, 5, stride=2, padding=2, bias=False)
        self.b3 = nn.BatchNorm2d(24)
        self.dw = nn.Conv2d(24, 24, 5, padding=2, groups=24)
        self.valid = nn.Conv2d(24, 24, 3, padding=0)  # no "same" padding: its kernel stays
        self.c3 = nn.Conv2d(24, 32, 3, padding=1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.b1(self.stem(x)))
        x = torch.relu(self.b2(self.c7(x)))
        x = torch.relu(self.b3(self.c5(x)))
        x = self.dw(x) + x
        x = torch.relu(self.c3(self.valid(x)))
        return self.fc(x.mean((2, 3)))


def _ofa(model, x, hw=HW, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ofa = hwprune.OFAPruner(model, x, hw=hw, backend="serial", progress=False)
        return ofa, ofa.ofa_model(**kw)


def _perturb(sup):
    """Stands for training: kernel transforms and BN statistics move away from their start."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in sup.state_dict().items():
            if ".transforms." in name:
                t.add_(0.1 * torch.randn(t.shape, generator=g))
            elif "running_var" in name:
                t.mul_(1.5)


def _check(ofa, sup, x, codes, tmp_path, model):
    sup.eval()
    for code in codes:
        setting, static, macs, params, ys = static_matches_dynamic(ofa, sup, x, code)
        cropped = sup.space.kernel_sizes(code)
        dropped = {o for b in sup.space.skipped(code) for o in b.branch}
        for ek in sup.space.kernels:  # real smaller convs, not masked big ones
            if ek.op in dropped:
                assert not hasattr(static, ek.target)
                continue
            k = cropped.get(ek.op, ek.size)
            assert static.get_submodule(ek.target).kernel_size == (k, k)
        assert params == sum(p.numel() for p in static.parameters()) == ofa.subnet_params(sup, code)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analytic = hwprune.simulate(static, x, hw=ofa.hw, mode="analytic")
            cycle = hwprune.simulate(static, x, hw=ofa.hw)
        assert analytic.total_cycles == ofa.subnet_latency(sup, setting)  # the tables' (search's) figure
        assert cycle.total_cycles == ofa.subnet_latency(sup, setting, mode="cycle")  # the re-check's
        assert macs == sum(lw.macs for lw in analytic.layers)
    # spec + state_dict rebuild the last one, cropped kernels included
    from hwprune.emit.spec import save_spec
    from hwprune.io import save_state_dict

    save_spec(static, tmp_path / "s.json")
    save_state_dict(tmp_path / "s.pt", static.state_dict())
    again = rebuild_static_subnet(model, tmp_path / "s.json", tmp_path / "s.pt").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), ys)


@pytest.mark.parametrize("transform", [True, False])
def test_elastic_kernel_static_equals_dynamic_and_latency(transform, tmp_path):
    torch.manual_seed(0)
    model = KernelNet().eval()
    x = torch.randn(2, 3, 16, 16)
    depth = not transform  # once with elastic depth too: its genes follow the kernels'
    ofa, sup = _ofa(
        model,
        x,
        expand_ratio=[0.5, 1.0],
        channel_divisible=4,
        kernel_transform=transform,
        elastic_depth=depth,
    )
    assert len(sup.space.blocks) == int(depth)
    choices = {k.op: k.choices for k in sup.space.kernels}
    assert choices == {"c7": (3, 5, 7), "c5": (3, 5), "dw": (3, 5)}  # stem excluded, 3x3s have no choice
    assert sup.space.identity["kernel_transform"] is transform
    _perturb(sup)
    codes = [sup.space.min_code(), *sup.space.random_codes(np.random.default_rng(1), 3)]
    n = len(sup.space.groups)
    codes[1][n : n + 3] = [1, 0, 1]  # the middle 5x5 of the 7x7 conv, a 3x3 strided conv
    if depth:
        codes[1][n + 3] = 0  # the depthwise residual block skipped
        codes[2][n + 3] = 1
    _check(ofa, sup, x, codes, tmp_path, model)
    if transform:  # the transform matters: a plain centre crop computes something else
        sup.set_code(sup.space.min_code())
        _, setting = ofa.sample_subnet(sup, "min")
        ofa2, plain = _ofa(model, x, expand_ratio=[0.5, 1.0], channel_divisible=4, kernel_transform=False)
        assert plain.space.identity != sup.space.identity
        plain.load_state_dict(
            {k: v for k, v in sup.state_dict().items() if ".transforms." not in k}, strict=True
        )
        plain.eval().set_setting(setting)
        with torch.no_grad():
            assert not torch.allclose(plain(x), sup(x))


def test_smaller_kernel_costs_less_and_tables_cover_every_choice():
    model = KernelNet().eval()
    x = torch.randn(1, 3, 16, 16)
    ofa, sup = _ofa(model, x, expand_ratio=[0.5, 1.0], channel_divisible=4)
    table = ofa.table(sup)
    n = len(sup.space.groups)
    code = sup.space.max_code()
    last = None
    for c in range(3):  # the 7x7 conv at 7, 5, 3
        code[n] = 2 - c
        cyc, macs = table.price(code[None, :])
        if last is not None:
            assert cyc[0] < last[0] and macs[0] < last[1]
        last = (cyc[0], macs[0])
    # every code: the table equals the shared latency model on the cropped workloads
    lm = table.lm
    codes = sup.space.random_codes(np.random.default_rng(0), 20)
    cycles, macs = table.price(codes)
    for code, cy, m in zip(codes, cycles, macs, strict=True):
        work = lm.workloads(sup.space.kept(code), kernels=sup.space.kernel_sizes(code))
        assert cy == sum(int(hwmodel.layer_cycles(w, ofa.cfg)) for w in work)
        assert m == sum(w.macs for w in work)


def test_kernel_genes_sampled_mutated_and_searched(tmp_path):
    model = KernelNet().eval()
    x = torch.randn(1, 3, 16, 16)
    ofa, sup = _ofa(model, x, expand_ratio=[0.5, 1.0], channel_divisible=4)
    ofa.workdir = tmp_path
    _, big = ofa.sample_subnet(sup, "max")
    _, small = ofa.sample_subnet(sup, "min")
    assert big["kernel"] == {"c7": 7, "c5": 5, "dw": 5} and small["kernel"] == {"c7": 3, "c5": 3, "dw": 3}
    seen = {tuple(ofa.sample_subnet(sup, "random", seed=s)[1]["kernel"].values()) for s in range(30)}
    assert len(seen) > 4  # random subnets vary the kernels
    n = len(sup.space.groups)

    def big_kernels(net):  # accuracy stand-in: larger kernels are better
        return float(sum(net.code[n : n + 3]))

    pareto = ofa.run_evolutionary_search(
        sup, None, (), big_kernels, (), min_latency=0.2, max_latency=1.0, latency_step=0.4,
        iteration=2, parent_popu_size=4, mutate_size=4, crossover_size=2,
    )  # fmt: skip
    unpruned = ofa.unpruned_cycles()
    evaluated = {tuple(r["code"][n : n + 3]) for r in ofa.last_search.seen.values()}
    assert len(evaluated) > 4  # mutation and crossover moved the kernel genes
    for key, entry in pareto.items():
        assert entry["latency_cycles_cycle_mode"] <= int(float(key) * unpruned)
        assert set(entry["subnet_setting"]["kernel"]) == {"c7", "c5", "dw"}
    assert pareto["1"]["subnet_setting"]["kernel"] == {"c7": 7, "c5": 5, "dw": 5}
    # another kernel list is another supernet: its search file is refused
    _, other = _ofa(model, x, expand_ratio=[0.5, 1.0], channel_divisible=4, kernel_sizes=[5, 7])
    assert {k.op: k.choices for k in other.space.kernels} == {"c7": (5, 7)}
    with pytest.raises(StaleFileError):
        ofa.run_evolutionary_search(
            other, None, (), big_kernels, (), min_latency=0.5, max_latency=1.0, latency_step=0.5,
            iteration=0, parent_popu_size=2,
        )  # fmt: skip


def test_training_reaches_kernel_transforms():
    from hwprune.ofa.train import SandwichStep

    torch.manual_seed(0)
    model = KernelNet()
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    ofa, sup = _ofa(model, x, expand_ratio=[0.5, 1.0], channel_divisible=4)
    sup.train()
    SandwichStep(sup, None, n_random=1)(sup, x, y)
    grads = [p.grad for name, p in sup.named_parameters() if ".transforms." in name]
    assert len(grads) == 4 and all(g is not None and g.abs().sum() > 0 for g in grads)
    assert sup.setting()["kernel"] == {"c7": 7, "c5": 5, "dw": 5}  # back at the largest subnet


def test_mobilenet_v2_depthwise_3x3_with_kernel_1(tmp_path):
    torch.manual_seed(0)
    model = hwprune.models.get("mobilenet_v2", num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    ofa, sup = _ofa(model, x, expand_ratio=[0.5, 1.0], channel_divisible=4, kernel_sizes=[1, 3])
    assert sup.space.kernels and all(k.choices == (1, 3) for k in sup.space.kernels)
    _perturb(sup)
    codes = [sup.space.min_code(), sup.space.random_codes(np.random.default_rng(2), 1)[0]]
    _check(ofa, sup, x, codes, tmp_path, model)


@pytest.mark.parametrize("bad", [[], [2], [0], [3, -1], "3", [3.0], [True], (4, 6)])
def test_bad_kernel_sizes(bad):
    model = KernelNet()
    ofa = hwprune.OFAPruner(model, torch.randn(1, 3, 16, 16), hw=HW, backend="serial")
    with pytest.raises(PruneConfigError, match="kernel"):
        ofa.ofa_model([0.5, 1.0], kernel_sizes=bad)


def test_bad_kernel_settings():
    model = KernelNet()
    ofa, sup = _ofa(model, torch.randn(1, 3, 16, 16), expand_ratio=[0.5, 1.0], channel_divisible=4)
    with pytest.raises(SpecError, match="choices are \\[3, 5\\]"):
        sup.set_setting({"kernel": {"c5": 7}})
    with pytest.raises(SpecError, match="not an elastic-kernel conv"):
        sup.set_setting({"kernel": {"c3": 1}})
    with pytest.raises(SpecError, match="kernel"):
        sup.set_setting({"kernel": [3]})
    _, none = _ofa(model, torch.randn(1, 3, 16, 16), expand_ratio=[0.5, 1.0], kernel_sizes=None)
    assert not none.space.kernels and "kernel" not in none.setting()


def test_depthwise_rule_compresses_kernel_gt1_groups_only():
    from hwprune.analysis.flow import SlotRole

    model = hwprune.models.get("mobilenet_v2", num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    ofa, ruled = _ofa(model, x)
    _, free = _ofa(model, x, depthwise_rule=False)
    assert ruled.space.identity["depthwise_rule"] is True and "depthwise_rule" not in free.space.identity
    assert set(ruled.space.keys) < set(free.space.keys)
    for g in ofa.analysis(ruled.space.identity["excludes"]).groups:
        convs = [
            ofa.graph.op(s.op) for s in g.slots_of(SlotRole.OUT) if ofa.graph.op(s.op).kind.name == "CONV"
        ]
        if g.key in ruled.space.keys:  # an expansion group: the 1x1 conv feeding a 3x3 depthwise conv
            assert any(max(op.attr("kernel_size")) > 1 for op in convs), g.key
        elif g.key in free.space.keys:  # dropped by the rule: produced by 1x1 convs alone
            assert convs and all(max(op.attr("kernel_size")) == 1 for op in convs), g.key
    # a net with more regular than depthwise convs is not affected
    r20 = hwprune.models.get("resnet20", num_classes=10).eval()
    _, a = _ofa(r20, x)
    _, b = _ofa(r20, x, depthwise_rule=False)
    assert a.space.identity == b.space.identity and "depthwise_rule" not in a.space.identity


def test_crop_kernel_keeps_the_output_size_and_refuses_bad_crops():
    from hwmodel.errors import TopologyError
    from hwmodel.workloads.layers import Layer
    from hwprune.lower.lower import crop_kernel

    layer = Layer.conv("c", 16, 16, 8, 8, 7, stride=2, padding=3)
    small = crop_kernel(layer, 3)
    assert (small.filt_h, small.filt_w, small.pad_h, small.pad_w) == (3, 3, 1, 1)
    assert (small.ofmap_h, small.ofmap_w) == (layer.ofmap_h, layer.ofmap_w)
    for bad in (4, 9, 0):
        with pytest.raises(TopologyError, match="cannot crop"):
            crop_kernel(layer, bad)
    with pytest.raises(TopologyError, match="cannot crop"):
        crop_kernel(Layer.conv("v", 16, 16, 8, 8, 5, padding=0), 3)  # no padding to give back


def test_cli_kernel_sizes_flag():
    import argparse

    from hwprune.cli import _kernel_sizes

    assert _kernel_sizes("none") is None and _kernel_sizes("3,5,7") == (3, 5, 7)
    for bad in ("4", "3,x", "0"):
        with pytest.raises(argparse.ArgumentTypeError, match="kernel size|odd"):
            _kernel_sizes(bad)


def test_kernel_choices_that_buy_no_latency_are_dropped():
    # a 32x32 weight-stationary array holds a depthwise 3x3 or 5x5 kernel in one fold: cropping it is free
    model = KernelNet().eval()
    x = torch.randn(1, 3, 16, 16)
    ofa, sup = _ofa(model, x, hw="systolic-32x32-ws", expand_ratio=[0.5, 1.0], channel_divisible=4)
    assert {k.op for k in sup.space.kernels} == {"c7", "c5"}
    lm = ofa.table(sup).lm
    index = {lw.op: i for i, lw in enumerate(lm.lowered)}
    i = index["dw"]
    assert lm.layer_cycles(i, 24, 24, kernel=3) == lm.layer_cycles(i, 24, 24)
    for ek in sup.space.kernels:  # every size left costs strictly less than the next larger one
        j = index[ek.op]
        cin, cout = lm.channels(j, lm.full)
        costs = [lm.layer_cycles(j, cin, cout, kernel=k) for k in ek.choices]
        assert costs == sorted(set(costs))
    mb = hwprune.models.get("mobilenet_v2", num_classes=10).eval()
    _, on_ws = _ofa(mb, torch.randn(1, 3, 32, 32), hw="systolic-32x32-ws", kernel_sizes=[1, 3])
    _, on_dpu = _ofa(mb, torch.randn(1, 3, 32, 32), kernel_sizes=[1, 3])
    assert not on_ws.space.kernels and len(on_dpu.space.kernels) == 17
