"""The test zoo and the reference nets: forward shapes, seeded determinism, torch.fx traceability,
parameter counts against torchvision's published figures."""

from __future__ import annotations

import operator

import pytest
import torch
from torch import fx, nn
from torch.nn import functional as F

import hwprune.models as models
from hwprune.errors import PruneConfigError
from tests.hwprune.zoo import BATCH, NUM_CLASSES, ZOO, zoo_input, zoo_input_shape

REFERENCE_NAMES = (
    "densenet121",
    "digits_cnn",
    "mobilenet_v2",
    "resnet101",
    "resnet152",
    "resnet18",
    "resnet20",
    "resnet34",
    "resnet50",
    "resnet56",
    "vgg11_bn",
    "vgg16_bn",
)

# torchvision's parameter counts at 1000 classes (torchvision.models docs / model builders).
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "densenet121": 7_978_856,
    "vgg11_bn": 132_868_840,
    "vgg16_bn": 138_365_992,
    "mobilenet_v2": 3_504_872,
}


def _cifar_resnet_params(n: int, classes: int = 10) -> int:
    """Hand count for a 6n+2 CIFAR ResNet with option-B shortcuts (16/32/64 channels)."""
    convs = 3 * 16 * 9 + sum(
        (cin * c * 9 + (2 * n - 1) * c * c * 9) for cin, c in ((16, 16), (16, 32), (32, 64))
    )
    bns = 2 * (16 + 2 * n * (16 + 32 + 64))
    shortcuts = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    return convs + bns + shortcuts + 64 * classes + classes


def _equal_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- zoo ---------------------------------------------------------------------------------------------------


def test_zoo_covers_torchvision_families():
    families = {
        "resnet_basic",
        "resnet_bottleneck",
        "resnext",
        "wide_resnet",
        "vgg",
        "alexnet",
        "densenet",
        "googlenet",
        "inception_v3",
        "squeezenet",
        "mobilenet_v2",
        "mobilenet_v3",
        "efficientnet",
        "mnasnet",
        "shufflenet_v2",
        "regnet",
        "convnext",
        "functional",
    }
    assert families <= set(ZOO)


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_forward_shape_determinism_and_trace(name):
    model, again = ZOO[name]().eval(), ZOO[name]().eval()
    assert _equal_state(model, again), "ZOO builders must be seeded"
    x = zoo_input(name)
    assert torch.equal(x, zoo_input(name))
    assert x.shape == zoo_input_shape(name)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (BATCH, NUM_CLASSES)
        assert torch.isfinite(y).all()
        assert torch.equal(y, again(x))
        traced = fx.symbolic_trace(model)
        torch.testing.assert_close(traced(x), y, rtol=0, atol=0)
    # the graph holds real ops, not one opaque call
    assert sum(n.op == "call_module" for n in traced.graph.nodes) >= 4


def test_zoo_builders_do_not_touch_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ZOO["resnet_basic"]()
    zoo_input("resnet_basic")
    assert torch.equal(torch.rand(3), expected)


def test_zoo_batchnorm_stats_are_not_identity():
    # Slicing bugs must change outputs: norms carry random affine parameters and running stats.
    bn = next(m for m in ZOO["resnet_basic"]().modules() if isinstance(m, nn.BatchNorm2d))
    assert not torch.allclose(bn.weight, torch.ones_like(bn.weight))
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def test_zoo_patterns_present():
    def kinds(name):
        return {type(m) for m in ZOO[name]().modules()}

    assert any(isinstance(m, nn.Conv2d) and 1 < m.groups < m.in_channels for m in ZOO["resnext"]().modules())
    assert nn.Hardswish in kinds("mobilenet_v3") and nn.Hardsigmoid in kinds("mobilenet_v3")
    assert nn.SiLU in kinds("efficientnet")
    assert nn.LayerNorm in kinds("convnext") and nn.GELU in kinds("convnext")
    graph = fx.symbolic_trace(ZOO["shufflenet_v2"]()).graph
    methods = {n.target for n in graph.nodes if n.op == "call_method"}
    assert {"chunk", "view", "contiguous", "size"} <= methods
    assert any(n.target is torch.transpose for n in graph.nodes)
    functional = {n.target for n in fx.symbolic_trace(ZOO["functional"]()).graph.nodes}
    assert {"view", "reshape", "mean", "size", torch.split, torch.cat, F.relu} <= functional
    assert {operator.add, operator.mul, F.adaptive_avg_pool2d, torch.flatten} <= functional
    dense = fx.symbolic_trace(ZOO["densenet"]()).graph
    assert sum(n.target is torch.cat for n in dense.nodes) >= 5


def test_zoo_unknown_name():
    with pytest.raises(KeyError, match="resnet_basic"):
        zoo_input("nope")


# --- reference nets ----------------------------------------------------------------------------------------


def test_reference_names():
    assert models.names() == REFERENCE_NAMES


def test_unknown_reference_net_lists_names():
    with pytest.raises(PruneConfigError, match=r"resnet1000.*resnet18.*vgg16_bn"):
        models.get("resnet1000")


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_forward_determinism_and_trace(name):
    torch.manual_seed(0)
    model = models.get(name, num_classes=7).eval()
    if not name.startswith("vgg"):  # VGG shares init_weights; a second 130M-weight init costs seconds
        torch.manual_seed(0)
        again = models.get(name, num_classes=7).eval()
        assert _equal_state(model, again)
    x = models.default_input(name, batch=2)
    assert x.shape == models.input_shape(name, batch=2)
    if x.shape[-1] > 64:  # the ImageNet nets pool adaptively; 64x64 keeps every stage and costs 12x less
        x = x[..., :64, :64]
    with torch.no_grad():
        y = model(x)
        assert y.shape == (2, 7)
        assert torch.isfinite(y).all()
        traced = fx.symbolic_trace(model)
        torch.testing.assert_close(traced(x), y, rtol=0, atol=0)


def test_seed_changes_init():
    torch.manual_seed(0)
    a = models.get("resnet20")
    torch.manual_seed(1)
    assert not _equal_state(a, models.get("resnet20"))


def test_imagenet_nets_run_at_224():
    model = models.get("resnet18").eval()
    with torch.no_grad():
        assert model(models.default_input("resnet18")).shape == (1, 10)


def test_default_input_geometry():
    assert models.input_shape("resnet50", batch=4) == (4, 3, 224, 224)
    assert models.input_shape("resnet20") == (1, 3, 32, 32)
    assert models.input_shape("digits_cnn") == (1, 1, 32, 32)
    assert models.input_shape("resnet56", in_channels=1) == (1, 1, 32, 32)
    assert torch.equal(models.default_input("resnet20", seed=3), models.default_input("resnet20", seed=3))
    assert not torch.equal(models.default_input("resnet20", seed=3), models.default_input("resnet20", seed=4))


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "digits_cnn"])
def test_single_channel_input(name):
    model = models.get(name, in_channels=1).eval()
    with torch.no_grad():
        assert model(models.default_input(name, batch=2, in_channels=1)).shape == (2, 10)


def test_bad_options_raise_config_errors():
    with pytest.raises(PruneConfigError, match="num_classes"):
        models.get("resnet18", num_classes=0)
    with pytest.raises(PruneConfigError, match="6n\\+2"):
        models.resnet.CifarResNet(21)
    with pytest.raises(PruneConfigError, match="input_size"):
        models.get("digits_cnn", input_size=4)
    with pytest.raises(PruneConfigError, match="no option 'input_size'.*in_channels"):
        models.get("resnet18", input_size=64)


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_parameter_counts_match_torchvision(name):
    with torch.device("meta"):  # count without allocating or initialising 100M+ weights
        model = models.get(name, num_classes=1000)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[name]


def test_cifar_resnet_parameter_counts():
    assert _cifar_resnet_params(3) == 272_474
    for name, n in (("resnet20", 3), ("resnet56", 9)):
        assert sum(p.numel() for p in models.get(name).parameters()) == _cifar_resnet_params(n)


def test_cifar_resnets_use_conv_shortcuts():
    model = models.get("resnet20")
    shortcuts = [m.downsample for m in model.modules() if isinstance(m, models.resnet.BasicBlock)]
    convs = [s[0] for s in shortcuts if s is not None]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (16, 32, (1, 1), (2, 2)),
        (32, 64, (1, 1), (2, 2)),
    ]
    # 3 stages x n blocks x 2 convs + stem = 6n + 1 convs on the main path, + fc = 6n + 2 layers
    main = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(main) == 19
    assert (
        sum(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in models.get("resnet56").modules())
        == 55
    )


def test_mobilenet_v2_width_and_stem_stride():
    from hwprune.models.mobilenet import MobileNetV2

    half = MobileNetV2(10, 1, width=0.5, stem_stride=1)
    convs = [m for m in half.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].out_channels == 16 and convs[0].stride == (1, 1)
    # torchvision's rounding: 24 * 0.5 = 12 -> 16, 320 * 0.5 = 160; the last 1x1 conv keeps 1280
    assert {c.out_channels for c in convs if c.kernel_size == (1, 1) and c.groups == 1} >= {16, 160, 1280}
    assert half(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in half.parameters()) < sum(
        p.numel() for p in models.get("mobilenet_v2").parameters()
    )
    with pytest.raises(PruneConfigError, match="width"):
        MobileNetV2(10, 1, width=0.0)
