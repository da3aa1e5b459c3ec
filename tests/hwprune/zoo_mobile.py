"""Zoo models, part 2: MobileNetV2/V3, EfficientNet, MNASNet, ShuffleNetV2, RegNet, ConvNeXt and a
model of functional calls. Small, but with torchvision's graph patterns; registered in
``tests/hwprune/zoo.py``."""

from __future__ import annotations

import operator

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tests.hwprune.zoo_classic import NUM_CLASSES, cbr

# --- Mobile families: MobileNetV2/V3, EfficientNet, MNASNet -----------------------------------------------


class _SqueezeExcitation(nn.Module):
    """torchvision's SqueezeExcitation: pool -> 1x1 conv -> act -> 1x1 conv -> gate -> scale * input."""

    def __init__(
        self, c: int, squeeze: int, act: type[nn.Module] = nn.ReLU, gate: type[nn.Module] = nn.Sigmoid
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.activation = act()
        self.scale_activation = gate()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class _MBConv(nn.Module):
    """Inverted residual: optional 1x1 expand, kxk depthwise, optional SE, 1x1 linear project."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int,
        stride: int,
        expand: int,
        act: type[nn.Module] = nn.ReLU6,
        se: int = 0,
        se_act: type[nn.Module] = nn.ReLU,
        se_gate: type[nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(cbr(cin, hidden, 1, act=act))
        layers.append(cbr(hidden, hidden, k, stride, groups=hidden, act=act))
        if se:
            layers.append(_SqueezeExcitation(hidden, se, se_act, se_gate))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result = result + x
        return result


class TinyMobileNetV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cfg = ((1, 8, 1, 1), (6, 12, 2, 2), (6, 16, 2, 2))  # t, c, n, s
        layers: list[nn.Module] = [cbr(3, 8, 3, 2, act=nn.ReLU6)]
        cin = 8
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(_MBConv(cin, c, 3, s if i == 0 else 1, t))
                cin = c
        layers.append(cbr(cin, 32, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, NUM_CLASSES))

    def forward(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class TinyMobileNetV3(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        hs, re = nn.Hardswish, nn.ReLU
        # (cin, kernel, expand, cout, se squeeze, act, stride), as torchvision's InvertedResidualConfig
        cfg = (
            (8, 3, 1, 8, 8, re, 2),
            (8, 3, 3, 12, 0, re, 2),
            (12, 5, 3, 12, 8, hs, 1),
            (12, 5, 4, 16, 16, hs, 2),
        )
        layers: list[nn.Module] = [cbr(3, 8, 3, 2, act=hs)]
        for cin, k, e, cout, se, act, s in cfg:
            layers.append(_MBConv(cin, cout, k, s, e, act=act, se=se, se_act=nn.ReLU, se_gate=nn.Hardsigmoid))
        layers.append(cbr(16, 48, 1, act=hs))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(48, 32), nn.Hardswish(inplace=True), nn.Dropout(0.2), nn.Linear(32, NUM_CLASSES)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TinyEfficientNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        silu = nn.SiLU
        # (expand, kernel, stride, cin, cout, repeats); SE squeezes to cin // 4 as torchvision's MBConv
        cfg = ((1, 3, 1, 8, 8, 1), (4, 3, 2, 8, 12, 2), (4, 5, 2, 12, 16, 1))
        layers: list[nn.Module] = [cbr(3, 8, 3, 2, act=silu)]
        for e, k, s, cin, cout, n in cfg:
            blocks = []
            for i in range(n):
                c = cin if i == 0 else cout
                blocks.append(
                    _MBConv(c, cout, k, s if i == 0 else 1, e, act=silu, se=max(1, c // 4), se_act=silu)
                )
            layers.append(nn.Sequential(*blocks))
        layers.append(cbr(16, 64, 1, act=silu))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(64, NUM_CLASSES))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TinyMNASNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 8, 3, 2, 1, bias=False),
            nn.BatchNorm2d(8, momentum=0.0003),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False),
            nn.BatchNorm2d(8, momentum=0.0003),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 1, bias=False),
            nn.BatchNorm2d(8, momentum=0.0003),
        ]
        cin = 8
        for cout, k, s, e, n in ((12, 3, 2, 3, 2), (16, 5, 2, 3, 2), (16, 5, 1, 6, 1)):
            for i in range(n):
                layers.append(_MBConv(cin, cout, k, s if i == 0 else 1, e, act=nn.ReLU))
                cin = cout
        layers += [nn.Conv2d(cin, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(48, NUM_CLASSES))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.layers(x).mean([2, 3]))


# --- ShuffleNetV2: chunk, concat, channel shuffle ---------------------------------------------------------


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, -1, height, width)


class _ShuffleBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        bf = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                nn.BatchNorm2d(cin),
                nn.Conv2d(cin, bf, 1, bias=False),
                nn.BatchNorm2d(bf),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(cin if stride > 1 else bf, bf, 1, bias=False),
            nn.BatchNorm2d(bf),
            nn.ReLU(inplace=True),
            nn.Conv2d(bf, bf, 3, stride, 1, groups=bf, bias=False),
            nn.BatchNorm2d(bf),
            nn.Conv2d(bf, bf, 1, bias=False),
            nn.BatchNorm2d(bf),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class TinyShuffleNetV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = cbr(3, 8, 3, 2)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.stage2 = nn.Sequential(_ShuffleBlock(8, 16, 2), _ShuffleBlock(16, 16, 1))
        self.stage3 = nn.Sequential(
            _ShuffleBlock(16, 24, 2), _ShuffleBlock(24, 24, 1), _ShuffleBlock(24, 24, 1)
        )
        self.conv5 = cbr(24, 48, 1)
        self.fc = nn.Linear(48, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stage3(self.stage2(self.maxpool(self.conv1(x))))
        return self.fc(self.conv5(x).mean([2, 3]))


# --- RegNet: grouped bottleneck with SE -------------------------------------------------------------------


class _ResBottleneckBlock(nn.Module):
    def __init__(self, w_in: int, w_out: int, stride: int, group_width: int, se_ratio: float = 0.25) -> None:
        super().__init__()
        self.proj = None
        if w_in != w_out or stride != 1:
            self.proj = nn.Sequential(nn.Conv2d(w_in, w_out, 1, stride, bias=False), nn.BatchNorm2d(w_out))
        self.f = nn.Sequential()
        self.f.add_module("a", cbr(w_in, w_out, 1))
        self.f.add_module("b", cbr(w_out, w_out, 3, stride, groups=w_out // group_width))
        self.f.add_module("se", _SqueezeExcitation(w_out, max(1, int(round(se_ratio * w_in)))))
        self.f.add_module("c", nn.Sequential(nn.Conv2d(w_out, w_out, 1, bias=False), nn.BatchNorm2d(w_out)))
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x) + self.f(x) if self.proj is not None else x + self.f(x)
        return self.activation(x)


class TinyRegNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8, 3, 2)
        self.trunk_output = nn.Sequential(
            nn.Sequential(_ResBottleneckBlock(8, 16, 2, 4), _ResBottleneckBlock(16, 16, 1, 4)),
            nn.Sequential(_ResBottleneckBlock(16, 32, 2, 8)),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(32, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.trunk_output(self.stem(x)))
        return self.fc(x.flatten(start_dim=1))


# --- ConvNeXt: depthwise 7x7, NHWC LayerNorm + Linear, layer scale ---------------------------------------


class _LayerNorm2d(nn.LayerNorm):
    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class _Permute(nn.Module):
    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return torch.permute(x, self.dims)


class _CNBlock(nn.Module):
    def __init__(self, dim: int, layer_scale: float = 0.1) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim),
            _Permute((0, 2, 3, 1)),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            _Permute((0, 3, 1, 2)),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x: Tensor) -> Tensor:
        result = self.layer_scale * self.block(x)
        result += x
        return result


class TinyConvNeXt(nn.Module):
    def __init__(self, dims: tuple[int, ...] = (8, 16), depths: tuple[int, ...] = (1, 2)) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), _LayerNorm2d(dims[0], eps=1e-6))
        ]
        for i, (d, n) in enumerate(zip(dims, depths, strict=True)):
            layers.append(nn.Sequential(*[_CNBlock(d) for _ in range(n)]))
            if i + 1 < len(dims):
                layers.append(nn.Sequential(_LayerNorm2d(d, eps=1e-6), nn.Conv2d(d, dims[i + 1], 2, 2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            _LayerNorm2d(dims[-1], eps=1e-6), nn.Flatten(1), nn.Linear(dims[-1], NUM_CLASSES)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)))


# --- Functional calls ------------------------------------------------------------------------------------


class FunctionalNet(nn.Module):
    """Channels flow through F.* calls, torch.split/cat, operator.add/mul, mean over (2, 3),
    view/reshape/flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(16 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, NUM_CLASSES)
        self.fc3 = nn.Linear(16, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x1, x2 = torch.split(x, (3, 5), dim=1)
        x = torch.cat([x2, torch.tanh(x1)], dim=1)  # uneven split, concatenated back in another order
        x = operator.add(x, F.relu(self.conv2(x)))
        x = operator.mul(x, torch.sigmoid(x.mean((2, 3), keepdim=True)))
        x = F.relu(self.conv3(F.max_pool2d(x, 2)))
        a = F.adaptive_avg_pool2d(x, 2)
        a = F.relu(self.fc1(a.view(a.size(0), -1)))
        b = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        c = x.mean((2, 3)).reshape(x.shape[0], -1)
        return self.fc2(a) + self.fc3(b * c)
