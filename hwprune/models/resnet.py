"""ResNets written from scratch: ImageNet ResNet-18/34/50/101/152 (torchvision geometry and parameter names)
and CIFAR-style ResNet-20/56 with option-B (1x1 conv) shortcuts.

Option B is deliberate: the option-A zero-padding shortcut hides which channels are added to which,
so channel groups could not be traced through it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hwprune.errors import PruneConfigError
from hwprune.models._registry import check_positive, init_weights, register

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "CifarResNet"]


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual add (ResNet-18/34, CIFAR ResNets)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(cin, planes, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride here, as torchvision's v1.5), 1x1 expand by 4, residual add."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _make_stage(
    block: type[BasicBlock | Bottleneck], cin: int, planes: int, blocks: int, stride: int
) -> nn.Sequential:
    layers = [block(cin, planes, stride)]
    layers += [block(planes * block.expansion, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """ImageNet ResNet: 7x7/2 stem, 3x3/2 max pool, four stages (64..512), global pool, fc.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: Blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        num_classes: Output features of ``fc``.
        in_channels: Input image channels.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: tuple[int, ...],
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        check_positive("ResNet", num_classes=num_classes, in_channels=in_channels)
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, cin = [], 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stages.append(_make_stage(block, cin, planes, blocks, 1 if i == 0 else 2))
            cin = planes * block.expansion
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class CifarResNet(nn.Module):
    """CIFAR ResNet (He et al. 2016, sec. 4.2): 3x3 stem, stages of 16/32/64, 6n+2 layers.

    Args:
        depth: 6n+2, e.g. 20 or 56.
        num_classes: Output features of ``fc``.
        in_channels: Input image channels (3 for CIFAR, 1 for digits).
    """

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        check_positive("CifarResNet", num_classes=num_classes, in_channels=in_channels, depth=depth)
        if (depth - 2) % 6 != 0:
            raise PruneConfigError(f"CifarResNet: depth must be 6n+2 (20, 32, 44, 56, ...), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = _conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _make_stage(BasicBlock, 16, 16, n, 1)
        self.layer2 = _make_stage(BasicBlock, 16, 32, n, 2)
        self.layer3 = _make_stage(BasicBlock, 32, 64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register("resnet18", input_size=224)
def resnet18(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-18 (11,689,512 parameters at 1000 classes)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels)


@register("resnet34", input_size=224)
def resnet34(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-34 (21,797,672 parameters at 1000 classes)."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels)


@register("resnet50", input_size=224)
def resnet50(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-50 (25,557,032 parameters at 1000 classes)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels)


@register("resnet101", input_size=224)
def resnet101(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-101 (44,549,160 parameters at 1000 classes)."""
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels)


@register("resnet152", input_size=224)
def resnet152(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-152 (60,192,808 parameters at 1000 classes)."""
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes, in_channels)


@register("resnet20", input_size=32)
def resnet20(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR ResNet-20 with 1x1-conv shortcuts."""
    return CifarResNet(20, num_classes, in_channels)


@register("resnet56", input_size=32)
def resnet56(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR ResNet-56 with 1x1-conv shortcuts."""
    return CifarResNet(56, num_classes, in_channels)
