"""Full-size ImageNet nets for the DPU vs model-zoo comparison (shapes matter, not weights).

Written for this project from the published architectures: GoogLeNet / Inception-v1 (TF-slim layout:
the "5x5" branch is a 3x3 conv), Inception-v3 at 299, SqueezeNet 1.1, MobileNetV1 (width, resolution),
MobileNetV2 at width 1.4, VGG-19. ResNet-18/50, VGG-16 and MobileNetV2 1.0 come from hwprune.models.
BatchNorm/ReLU are included where the originals have them (the DPU fuses them: they cost nothing).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hwprune.models.mobilenet import MOBILENET_V2_SETTINGS, InvertedResidual
from hwprune.models.resnet import resnet18, resnet50
from hwprune.models.vgg import VGG, _features, vgg16_bn

__all__ = ["ZOO_NETS", "build"]


def cbr(
    cin: int,
    cout: int,
    k: int | tuple[int, int] = 1,
    s: int = 1,
    p: int | tuple[int, int] = 0,
    groups: int = 1,
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


def _make_divisible(v: float, d: int = 8) -> int:
    out = max(d, int(v + d / 2) // d * d)
    return out + d if out < 0.9 * v else out


class _Head(nn.Module):
    def __init__(self, cin: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class _Cat(nn.Module):
    """Parallel branches concatenated on channels."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


def _inception_v1_block(
    cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, cp: int
) -> tuple[nn.Module, int]:
    block = _Cat(
        cbr(cin, c1),
        nn.Sequential(cbr(cin, c3r), cbr(c3r, c3, 3, p=1)),
        nn.Sequential(cbr(cin, c5r), cbr(c5r, c5, 3, p=1)),
        nn.Sequential(nn.MaxPool2d(3, 1, 1), cbr(cin, cp)),
    )
    return block, c1 + c3 + c5 + cp


def googlenet(classes: int = 1001) -> nn.Module:
    """Inception-v1 as in TF-slim (tf_inceptionv1, 224x224)."""
    layers: list[nn.Module] = [
        cbr(3, 64, 7, 2, 3),
        nn.MaxPool2d(3, 2, 1),
        cbr(64, 64),
        cbr(64, 192, 3, p=1),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 192
    cfg = [
        (64, 96, 128, 16, 32, 32),
        (128, 128, 192, 32, 96, 64),
        "M",
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
        "M",
        (256, 160, 320, 32, 128, 128),
        (384, 192, 384, 48, 128, 128),
    ]
    for c in cfg:
        if c == "M":
            layers.append(nn.MaxPool2d(3, 2, 1))
            continue
        block, cin = _inception_v1_block(cin, *c)
        layers.append(block)
    return nn.Sequential(*layers, _Head(cin, classes))


def _inc_a(cin: int, pool: int) -> nn.Module:
    return _Cat(
        cbr(cin, 64),
        nn.Sequential(cbr(cin, 48), cbr(48, 64, 5, p=2)),
        nn.Sequential(cbr(cin, 64), cbr(64, 96, 3, p=1), cbr(96, 96, 3, p=1)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), cbr(cin, pool)),
    )


def _inc_c(cin: int, c7: int) -> nn.Module:
    return _Cat(
        cbr(cin, 192),
        nn.Sequential(cbr(cin, c7), cbr(c7, c7, (1, 7), p=(0, 3)), cbr(c7, 192, (7, 1), p=(3, 0))),
        nn.Sequential(
            cbr(cin, c7),
            cbr(c7, c7, (7, 1), p=(3, 0)),
            cbr(c7, c7, (1, 7), p=(0, 3)),
            cbr(c7, c7, (7, 1), p=(3, 0)),
            cbr(c7, 192, (1, 7), p=(0, 3)),
        ),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), cbr(cin, 192)),
    )


class _IncE(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.b1 = cbr(cin, 320)
        self.b3 = cbr(cin, 384)
        self.b3a, self.b3b = cbr(384, 384, (1, 3), p=(0, 1)), cbr(384, 384, (3, 1), p=(1, 0))
        self.bd = nn.Sequential(cbr(cin, 448), cbr(448, 384, 3, p=1))
        self.bda, self.bdb = cbr(384, 384, (1, 3), p=(0, 1)), cbr(384, 384, (3, 1), p=(1, 0))
        self.bp = nn.Sequential(nn.AvgPool2d(3, 1, 1), cbr(cin, 192))

    def forward(self, x: Tensor) -> Tensor:
        y3 = self.b3(x)
        yd = self.bd(x)
        return torch.cat([self.b1(x), self.b3a(y3), self.b3b(y3), self.bda(yd), self.bdb(yd), self.bp(x)], 1)


def inception_v3(classes: int = 1000) -> nn.Module:
    """Inception-v3 at 299x299 (the pt_inceptionv3 / torchvision layout, no aux head)."""
    stem = [
        cbr(3, 32, 3, 2),
        cbr(32, 32, 3),
        cbr(32, 64, 3, p=1),
        nn.MaxPool2d(3, 2),
        cbr(64, 80),
        cbr(80, 192, 3),
        nn.MaxPool2d(3, 2),
    ]
    mixed = [
        _inc_a(192, 32),
        _inc_a(256, 64),
        _inc_a(288, 64),
        _Cat(
            cbr(288, 384, 3, 2),
            nn.Sequential(cbr(288, 64), cbr(64, 96, 3, p=1), cbr(96, 96, 3, 2)),
            nn.MaxPool2d(3, 2),
        ),
        _inc_c(768, 128),
        _inc_c(768, 160),
        _inc_c(768, 160),
        _inc_c(768, 192),
        _Cat(
            nn.Sequential(cbr(768, 192), cbr(192, 320, 3, 2)),
            nn.Sequential(
                cbr(768, 192),
                cbr(192, 192, (1, 7), p=(0, 3)),
                cbr(192, 192, (7, 1), p=(3, 0)),
                cbr(192, 192, 3, 2),
            ),
            nn.MaxPool2d(3, 2),
        ),
        _IncE(1280),
        _IncE(2048),
    ]
    return nn.Sequential(*stem, *mixed, _Head(2048, classes))


def _fire(cin: int, s: int, e: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(cin, s, 1),
        nn.ReLU(),
        _Cat(
            nn.Sequential(nn.Conv2d(s, e, 1), nn.ReLU()),
            nn.Sequential(nn.Conv2d(s, e, 3, padding=1), nn.ReLU()),
        ),
    )


def squeezenet1_1(classes: int = 1000) -> nn.Module:
    """SqueezeNet 1.1 (224x224)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, 2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        _fire(64, 16, 64),
        _fire(128, 16, 64),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        _fire(128, 32, 128),
        _fire(256, 32, 128),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        _fire(256, 48, 192),
        _fire(384, 48, 192),
        _fire(384, 64, 256),
        _fire(512, 64, 256),
        nn.Conv2d(512, classes, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def mobilenet_v1(width: float = 1.0, classes: int = 1001) -> nn.Module:
    """MobileNetV1 (TF-slim layout; depth multiplier ``width``)."""

    def c(v: int) -> int:
        return max(8, int(v * width))

    layers: list[nn.Module] = [cbr(3, c(32), 3, 2, 1)]
    cin = c(32)
    for cout, s in (
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        *[(512, 1)] * 5,
        (1024, 2),
        (1024, 1),
    ):
        layers += [cbr(cin, cin, 3, s, 1, groups=cin), cbr(cin, c(cout))]
        cin = c(cout)
    return nn.Sequential(*layers, _Head(cin, classes))


def mobilenet_v2(width: float = 1.0, classes: int = 1001) -> nn.Module:
    """MobileNetV2 at depth multiplier ``width`` (TF-slim channel rounding to multiples of 8)."""
    cin = _make_divisible(32 * width)
    layers: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(3, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU6())
    ]
    for t, ch, n, s in MOBILENET_V2_SETTINGS:
        cout = _make_divisible(ch * width)
        for i in range(n):
            layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
            cin = cout
    last = _make_divisible(1280 * max(1.0, width))
    layers.append(cbr(cin, last))
    return nn.Sequential(*layers, _Head(last, classes))


def vgg19(classes: int = 1000) -> nn.Module:
    cfg = (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    )
    net = VGG("D", classes)
    net.features = _features(cfg, 3)
    return net


# name -> (factory, input size)
ZOO_NETS = {
    "resnet50": (lambda: resnet50(1000), 224),
    "resnet18": (lambda: resnet18(15), 224),
    "inception_v3": (inception_v3, 299),
    "googlenet": (googlenet, 224),
    "mobilenet_v2_1.0": (lambda: mobilenet_v2(1.0), 224),
    "mobilenet_v2_1.4": (lambda: mobilenet_v2(1.4), 224),
    "vgg16": (lambda: vgg16_bn(1000), 224),
    "vgg19": (vgg19, 224),
    "squeezenet1_1": (squeezenet1_1, 224),
    "mobilenet_v1_1.0_224": (lambda: mobilenet_v1(1.0), 224),
    "mobilenet_v1_0.5_160": (lambda: mobilenet_v1(0.5), 160),
    "mobilenet_v1_0.25_128": (lambda: mobilenet_v1(0.25), 128),
}


def build(name: str) -> tuple[nn.Module, Tensor]:
    """The net in eval mode and a 1x3xHxW example input."""
    factory, size = ZOO_NETS[name]
    torch.manual_seed(0)
    return factory().eval(), torch.zeros(1, 3, size, size)
