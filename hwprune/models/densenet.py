"""DenseNet-121 with torchvision's geometry and parameter names (Huang et al. 2017, "DenseNet-BC").

Every dense layer reads the concatenation of all earlier feature maps of its block, so one layer's
output channels reach every later layer of the block: the channel groups fan out widely, which makes
it the planner's hardest reference net per group.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hwprune.models._registry import check_positive, init_weights, register

__all__ = ["DenseLayer", "DenseBlock", "Transition", "DenseNet"]


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv to ``bn_size * growth``, BN-ReLU-3x3 conv to ``growth`` channels."""

    def __init__(self, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        width = bn_size * growth
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, growth, 3, padding=1, bias=False)

    def forward(self, features: list[Tensor]) -> Tensor:
        x = torch.cat(features, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    """``n`` dense layers; the block's output concatenates its input and every layer's output."""

    def __init__(self, n: int, cin: int, growth: int, bn_size: int) -> None:
        super().__init__(
            {f"denselayer{i + 1}": DenseLayer(cin + i * growth, growth, bn_size) for i in range(n)}
        )

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv (halves the channels), 2x2 average pool."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2, stride=2)


class DenseNet(nn.Module):
    """ImageNet DenseNet-BC: 7x7/2 stem, 3x3/2 max pool, dense blocks joined by transitions, fc.

    Args:
        blocks: Dense layers per block, e.g. ``(6, 12, 24, 16)`` for DenseNet-121.
        growth: Channels each dense layer adds.
        stem: Output channels of the stem convolution.
        bn_size: Bottleneck width of a dense layer, in multiples of ``growth``.
        num_classes: Output features of ``classifier``.
        in_channels: Input image channels.
    """

    def __init__(
        self,
        blocks: tuple[int, ...],
        growth: int = 32,
        stem: int = 64,
        bn_size: int = 4,
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        check_positive(
            "DenseNet",
            growth=growth,
            stem=stem,
            bn_size=bn_size,
            num_classes=num_classes,
            in_channels=in_channels,
        )
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(stem))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("pool0", nn.MaxPool2d(3, stride=2, padding=1))
        c = stem
        for i, n in enumerate(blocks):
            self.features.add_module(f"denseblock{i + 1}", DenseBlock(n, c, growth, bn_size))
            c += n * growth
            if i < len(blocks) - 1:
                self.features.add_module(f"transition{i + 1}", Transition(c, c // 2))
                c //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.classifier = nn.Linear(c, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.features(x), inplace=True)
        x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return self.classifier(x)


@register("densenet121", input_size=224)
def densenet121(num_classes: int = 10, in_channels: int = 3) -> DenseNet:
    """DenseNet-121 (7,978,856 parameters at 1000 classes)."""
    return DenseNet((6, 12, 24, 16), 32, 64, 4, num_classes, in_channels)
