"""OFA supernet: static subnets equal dynamic ones, latency tables equal the shared latency model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import hwprune
from hwprune.errors import ExcludeError, PruneConfigError, SpecError, StaleFileError
from hwprune.ofa import OFASupernet, load_subnet_config, save_subnet_config
from tests.hwprune.ofa_support import static_matches_dynamic
from tests.hwprune.zoo import ZOO, zoo_input

HW = "dpu-b1024"


def _ofa(model, x, hw=HW, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unmodelled-op warnings of some zoo families
        ofa = hwprune.OFAPruner(model, x, hw=hw, backend="serial", progress=False)
        return ofa, ofa.ofa_model(**kw)


def _check_static_equals_dynamic(ofa, sup, x, seed, n_random=2):
    sup.eval()
    rng = np.random.default_rng(seed)
    codes = [sup.space.min_code(), *sup.space.random_codes(rng, n_random)]
    for code in codes:
        setting, static, macs, params, ys = static_matches_dynamic(ofa, sup, x, code)
        assert params == sum(p.numel() for p in static.parameters())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = hwprune.simulate(static, x, hw=ofa.hw, mode="analytic")
        assert rep.total_cycles == ofa.subnet_latency(sup, setting)  # what the search reports
        dropped = {o for b in sup.space.skipped(code) for o in (*b.branch, b.add)}
        work = ofa.table(sup).lm.workloads(sup.space.kept(code), kernels=sup.space.kernel_sizes(code))
        assert macs == sum(w.macs for w in work if w.name not in dropped)
        assert params == ofa.subnet_params(sup, code)  # what the search reports
    narrow = [
        g
        for g, c in zip(sup.space.groups, codes[0][: len(sup.space.groups)], strict=True)
        if g.choices[c] < g.size
    ] + list(sup.space.kernel_sizes(codes[0]))
    assert narrow, "the smallest subnet must narrow some group or crop some kernel"


@pytest.mark.parametrize("name", ["resnet20", "mobilenet_v2"])
def test_static_subnet_equals_dynamic_reference_nets(name):
    torch.manual_seed(0)
    model = hwprune.models.get(name, num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    ofa, sup = _ofa(model, x, expand_ratio=[0.25, 0.5, 0.75, 1.0], channel_divisible=4)
    _check_static_equals_dynamic(ofa, sup, x, 1)


@pytest.mark.parametrize("family", sorted(ZOO))
def test_static_subnet_equals_dynamic_zoo(family):
    model = ZOO[family]().eval()
    x = zoo_input(family)
    # the depthwise rule off: every family's widths are checked (ConvNeXt would keep its widths)
    ofa, sup = _ofa(
        model,
        x,
        expand_ratio=[0.5, 0.75, 1.0],
        channel_divisible=2,
        auto_add_excludes=False,
        depthwise_rule=False,
    )
    _check_static_equals_dynamic(ofa, sup, x, 2, n_random=1)


def test_cycle_mode_of_static_subnet_equals_search_recheck():
    model = hwprune.models.get("resnet20", num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    ofa, sup = _ofa(model, x, hw="dpu-b4096")
    _, setting = ofa.sample_subnet(sup, "random", seed=3)
    static, *_ = ofa.get_static_subnet(sup, setting)
    assert hwprune.simulate(static, x, hw="dpu-b4096").total_cycles == ofa.subnet_latency(
        sup, setting, mode="cycle"
    )


def test_choices_are_tops_of_latency_steps_and_tables_match_latency_model():
    model = hwprune.models.get("resnet20", num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    ofa, sup = _ofa(model, x, hw="dpu-b4096")
    lm = ofa.table(sup).lm
    for g in sup.space.groups:
        assert list(g.choices) == sorted(set(g.choices)) and g.choices[-1] == g.size
        for k in g.choices[:-1]:  # one more channel must cost more: no choice has a wider twin
            assert lm.cycles({g.gid: k + 1}) > lm.cycles({g.gid: k}), (g.key, k)
    codes = sup.space.random_codes(np.random.default_rng(0), 40)
    cycles, macs = ofa.table(sup).price(codes)
    for code, c, m in zip(codes, cycles, macs, strict=True):
        kept = sup.space.kept(code)
        assert c == lm.cycles(kept) and m == lm.macs(kept)
    # the first conv and the classifier are excluded by default (Vitis)
    assert "conv1" not in sup.space.keys


def test_sample_subnet_modes_and_settings():
    model = hwprune.models.get("resnet20", num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    ofa, sup = _ofa(model, x)
    _, big = ofa.sample_subnet(sup, "max")
    assert all(k == g.size for g, k in zip(sup.space.groups, big["width"].values(), strict=True))
    _, small = ofa.sample_subnet(sup, "min")
    assert all(k == g.choices[0] for g, k in zip(sup.space.groups, small["width"].values(), strict=True))
    assert ofa.subnet_latency(sup, small) < ofa.subnet_latency(sup, big) == ofa.unpruned_cycles()
    _, r1 = ofa.sample_subnet(sup, "random", seed=5)
    _, r2 = ofa.sample_subnet(sup, "random", seed=5)
    assert r1 == r2 and sup.setting() == r2
    with pytest.raises(PruneConfigError, match="max"):
        ofa.sample_subnet(sup, "medium")
    key = sup.space.keys[0]
    with pytest.raises(SpecError, match="choices"):
        sup.set_setting({"width": {key: 3}})
    with pytest.raises(SpecError, match="not an elastic group"):
        sup.set_setting({"width": {"nope": 3}})


def test_masked_channels_get_no_gradient_and_model_is_not_mutated():
    model = hwprune.models.get("resnet20", num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 3, 32, 32)
    ofa, sup = _ofa(model, x)
    ofa.sample_subnet(sup, "min")
    sup.train()
    sup(x).sum().backward()
    g = next(g for g in sup.space.groups if g.key == "layer3.0.conv1")
    dead = sorted(set(range(g.size)) - set(g.kept_indices(g.choices[0])))
    conv = sup.model.layer3[0].conv1
    grad = conv.parametrizations.weight.original.grad
    assert grad[dead].abs().sum() == 0 and grad.abs().sum() > 0
    assert not hasattr(model.layer3[0].conv1, "parametrizations")
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("bad", [[], [0.0], [1.5], [-0.2, 1.0], "half", [float("nan")]])
def test_bad_expand_ratio(bad):
    model = hwprune.models.get("resnet20", num_classes=10)
    ofa = hwprune.OFAPruner(model, torch.randn(1, 3, 32, 32), hw=HW, backend="serial")
    with pytest.raises(PruneConfigError, match="expand_ratio"):
        ofa.ofa_model(bad)


def test_bad_arguments_and_foreign_supernet():
    model = hwprune.models.get("resnet20", num_classes=10)
    x = torch.randn(1, 3, 32, 32)
    ofa, sup = _ofa(model, x)
    with pytest.raises(PruneConfigError, match="channel_divisible"):
        ofa.ofa_model([0.5, 1], channel_divisible=0)
    with pytest.raises(ExcludeError):
        ofa.ofa_model([0.5, 1], excludes=["no.such.module"])
    with pytest.raises(PruneConfigError, match="no channel group"):
        ofa.ofa_model([1.0])
    other = hwprune.OFAPruner(hwprune.models.get("resnet56", num_classes=10), x, hw=HW, backend="serial")
    with pytest.raises(SpecError, match="another model"):
        other.get_static_subnet(sup, sup.setting())
    assert isinstance(sup, OFASupernet)


def test_subnet_config_round_trip(tmp_path):
    pareto = {"0.5": {"net_id": "net_evo_0_0", "acc1": 0.9, "subnet_setting": {"width": {"a": 8}}}}
    save_subnet_config(pareto, tmp_path / "p.json")
    assert load_subnet_config(tmp_path / "p.json") == pareto
    (tmp_path / "bad.json").write_text('{"x": 1}')
    with pytest.raises(SpecError):
        load_subnet_config(tmp_path / "bad.json")
    with pytest.raises(StaleFileError):
        load_subnet_config(tmp_path / "missing.json")


def test_static_subnet_takes_the_supernets_trained_weights_not_the_models():
    model = hwprune.models.get("resnet20", num_classes=10).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 32, 32)
    ofa, sup = _ofa(model, x)
    with torch.no_grad():  # stands for training: every weight and BN statistic of the supernet changes
        for name, t in sup.state_dict().items():
            if t.is_floating_point() and "mask" not in name:
                t.mul_(1.1).add_(0.01)
    sup.eval()
    _, setting = ofa.sample_subnet(sup, "random", seed=7)
    static, *_ = ofa.get_static_subnet(sup, setting)
    static.eval()
    with torch.no_grad():
        y, ys = sup(x), static(x)
    torch.testing.assert_close(ys, y, rtol=1e-5, atol=1e-5 * float(y.abs().max()))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    with torch.no_grad():
        assert not torch.allclose(model(x), y)


DEPTH_NETS = [("resnet20", lambda: hwprune.models.get("resnet20", num_classes=10), (2, 3, 32, 32))] + [
    (f"zoo_{f}", ZOO[f], None) for f in ("resnet_basic", "resnet_bottleneck", "efficientnet", "regnet")
]


@pytest.mark.parametrize("name,factory,shape", DEPTH_NETS, ids=[n for n, _, _ in DEPTH_NETS])
def test_elastic_depth_static_subnet_equals_dynamic(name, factory, shape, tmp_path):
    from hwprune.ofa.static import rebuild_static_subnet

    model = factory().eval()
    x = zoo_input(name[4:]) if shape is None else torch.randn(shape)
    ofa, sup = _ofa(
        model, x, expand_ratio=[0.5, 1.0], channel_divisible=4, auto_add_excludes=False, elastic_depth=True
    )
    assert sup.space.blocks, "these nets have residual blocks with an identity path"
    _check_static_equals_dynamic(ofa, sup, x, 3, n_random=1)
    sup.eval()
    code = sup.space.min_code()  # every block skipped
    sup.set_code(code)
    setting = sup.setting()
    assert set(setting["depth"].values()) == {0} and len(sup.space.skipped(code)) == len(sup.space.blocks)
    assert ofa.subnet_latency(sup, setting, mode="cycle") == ofa.subnet_latency(sup, setting)
    static, _, _, params = ofa.get_static_subnet(sup, setting)
    assert params < sum(p.numel() for p in model.parameters())
    # spec + state_dict rebuild the static subnet, skipped blocks included
    from hwprune.emit.spec import save_spec
    from hwprune.io import save_state_dict

    save_spec(static, tmp_path / "s.json")
    save_state_dict(tmp_path / "s.pt", static.state_dict())
    again = rebuild_static_subnet(model, tmp_path / "s.json", tmp_path / "s.pt").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), static.eval()(x))
    with pytest.raises(SpecError, match="0 \\(skip\\) or 1"):
        sup.set_setting({"depth": {sup.space.blocks[0].add: 2}})
    with pytest.raises(SpecError, match="not an elastic block"):
        sup.set_setting({"depth": {"nope": 0}})


def test_elastic_depth_search_stays_in_range(tmp_path):
    model = hwprune.models.get("resnet20", num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    ofa, sup = _ofa(model, x, hw="dpu-b4096", expand_ratio=[0.5, 1.0], elastic_depth=True)
    ofa.workdir = tmp_path

    def deeper_is_better(net):
        return float(sum(net.code))

    pareto = ofa.run_evolutionary_search(
        sup,
        None,
        (),
        deeper_is_better,
        (),
        min_latency=0.3,
        max_latency=0.9,
        latency_step=0.2,
        iteration=2,
        parent_popu_size=4,
    )
    unpruned = ofa.unpruned_cycles()
    assert list(pareto) == ["0.5", "0.7", "0.9"]
    for key, entry in pareto.items():
        assert int(0.3 * unpruned) <= entry["latency_cycles_cycle_mode"] <= int(float(key) * unpruned)
        assert "depth" in entry["subnet_setting"]
