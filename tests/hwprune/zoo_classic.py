"""Zoo models, part 1: ResNet/ResNeXt/Wide-ResNet, VGG, AlexNet, DenseNet, GoogLeNet, Inception-v3,
SqueezeNet. Small, but with torchvision's graph patterns; registered in ``tests/hwprune/zoo.py``."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

NUM_CLASSES = 10


def cbr(
    cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: type[nn.Module] = nn.ReLU
) -> nn.Sequential:
    """Conv-BN-activation, as torchvision's Conv2dNormActivation."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), act()
    )


# --- ResNet family: basic, bottleneck, ResNeXt (grouped), Wide-ResNet -------------------------------------


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity  # in-place add, as torchvision
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(
        self,
        block: type[nn.Module],
        layers: tuple[int, ...],
        planes: tuple[int, ...],
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, stages = 8, []
        for i, (n, p) in enumerate(zip(layers, planes, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, p, 2 if (i > 0 and j == 0) else 1, groups, base_width))
                cin = p * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layers(x))
        return self.fc(torch.flatten(x, 1))


# --- VGG, AlexNet ---------------------------------------------------------------------------------------


class TinyVGG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cfg, layers, cin = (8, "M", 16, 16, "M", 32, "M"), [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(32 * 2 * 2, 24),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(24, 24),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(24, NUM_CLASSES),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TinyAlexNet(nn.Module):
    """AlexNet's layout on 64x64: large strided stem, convs with bias, no BN, flatten -> dropout/linear."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 11, 4, 2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(8, 16, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(16, 24, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(24, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(16 * 3 * 3, 32),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(32, 32),
            nn.ReLU(inplace=True),
            nn.Linear(32, NUM_CLASSES),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- DenseNet: concat chains over lists, transitions ----------------------------------------------------


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, inputs: list[Tensor]) -> Tensor:
        concated = torch.cat(inputs, 1)
        out = self.conv1(self.relu1(self.norm1(concated)))
        return self.conv2(self.relu2(self.norm2(out)))


class _DenseBlock(nn.ModuleDict):
    def __init__(self, n: int, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        for i in range(n):
            self.add_module(f"denselayer{i + 1}", _DenseLayer(cin + i * growth, growth, bn_size))

    def forward(self, init_features: Tensor) -> Tensor:
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class _Transition(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)


class TinyDenseNet(nn.Module):
    def __init__(
        self, growth: int = 4, blocks: tuple[int, ...] = (2, 3), init: int = 8, bn_size: int = 2
    ) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, init, 3, 1, 1, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(init))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        c = init
        for i, n in enumerate(blocks):
            self.features.add_module(f"denseblock{i + 1}", _DenseBlock(n, c, growth, bn_size))
            c += n * growth
            if i != len(blocks) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(c, c // 2))
                c //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.classifier = nn.Linear(c, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.features(x), inplace=True)
        out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
        return self.classifier(out)


# --- GoogLeNet and Inception-v3: multi-branch concat ----------------------------------------------------


class _BasicConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, **kw) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class _GoogLeNetInception(nn.Module):
    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pp: int) -> None:
        super().__init__()
        self.branch1 = _BasicConv2d(cin, c1, kernel_size=1)
        self.branch2 = nn.Sequential(
            _BasicConv2d(cin, c3r, kernel_size=1), _BasicConv2d(c3r, c3, kernel_size=3, padding=1)
        )
        self.branch3 = nn.Sequential(
            _BasicConv2d(cin, c5r, kernel_size=1), _BasicConv2d(c5r, c5, kernel_size=3, padding=1)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, 1, 1, ceil_mode=True), _BasicConv2d(cin, pp, kernel_size=1)
        )

    def forward(self, x: Tensor) -> Tensor:
        outputs = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(outputs, 1)


class TinyGoogLeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _BasicConv2d(3, 8, kernel_size=3, stride=1, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = _GoogLeNetInception(8, 4, 4, 8, 2, 4, 4)
        self.inception3b = _GoogLeNetInception(20, 8, 4, 8, 2, 4, 4)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = _GoogLeNetInception(24, 8, 4, 8, 4, 4, 4)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(24, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.inception3b(self.inception3a(x)))
        x = torch.flatten(self.avgpool(self.inception4a(x)), 1)
        return self.fc(self.dropout(x))


class _InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv2d(cin, 8, kernel_size=1)
        self.branch5x5_1 = _BasicConv2d(cin, 6, kernel_size=1)
        self.branch5x5_2 = _BasicConv2d(6, 8, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = _BasicConv2d(cin, 8, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(8, 12, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(12, 12, kernel_size=3, padding=1)
        self.branch_pool = _BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], 1)


class _InceptionB(nn.Module):
    """Grid reduction: two strided conv branches and a max-pool branch that passes channels through."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _BasicConv2d(cin, 16, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = _BasicConv2d(cin, 8, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(8, 12, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(12, 12, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class _InceptionC(nn.Module):
    """Factorised 1x7 / 7x1 convolutions."""

    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv2d(cin, 12, kernel_size=1)
        self.branch7x7_1 = _BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = _BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = _BasicConv2d(c7, 12, kernel_size=(7, 1), padding=(3, 0))
        self.branch_pool = _BasicConv2d(cin, 12, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b7, bp], 1)


class _InceptionE(nn.Module):
    """Branches that split into parallel 1x3 and 3x1 convs concatenated inside the branch."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv2d(cin, 8, kernel_size=1)
        self.branch3x3_1 = _BasicConv2d(cin, 8, kernel_size=1)
        self.branch3x3_2a = _BasicConv2d(8, 8, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = _BasicConv2d(8, 8, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = _BasicConv2d(cin, 8, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b3, bp], 1)


class TinyInception3(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _BasicConv2d(3, 8, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = _BasicConv2d(8, 16, kernel_size=3)
        self.Mixed_5b = _InceptionA(16, pool_features=4)  # -> 8 + 8 + 12 + 4 = 32
        self.Mixed_6a = _InceptionB(32)  # -> 16 + 12 + 32 = 60
        self.Mixed_6b = _InceptionC(60, c7=8)  # -> 36
        self.Mixed_7c = _InceptionE(36)  # -> 8 + 16 + 8 = 32
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(32, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))
        x = self.Mixed_7c(self.Mixed_6b(self.Mixed_6a(self.Mixed_5b(x))))
        x = self.dropout(self.avgpool(x))
        return self.fc(torch.flatten(x, 1))


# --- SqueezeNet: fire modules ---------------------------------------------------------------------------


class _Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1
        )


class TinySqueezeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            _Fire(16, 4, 8, 8),
            _Fire(16, 4, 8, 8),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            _Fire(16, 6, 12, 12),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Conv2d(24, NUM_CLASSES, 1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)
