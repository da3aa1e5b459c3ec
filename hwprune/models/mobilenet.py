"""MobileNetV2 with torchvision's geometry: inverted residuals, ReLU6, linear bottlenecks; any width."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hwprune.errors import PruneConfigError
from hwprune.models._registry import check_positive, init_weights, register

__all__ = ["InvertedResidual", "MobileNetV2", "MOBILENET_V2_SETTINGS"]

# (expand ratio t, output channels c, repeats n, first stride s), as in Sandler et al. 2018, table 2.
MOBILENET_V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _divisible(c: float, by: int = 8) -> int:
    """``c`` rounded to a multiple of ``by``, never below 90% of ``c`` (torchvision's width rule)."""
    out = max(by, int(c + by / 2) // by * by)
    return out + by if out < 0.9 * c else out


def _conv_bn_relu6(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when t = 1), 3x3 depthwise, 1x1 linear project; residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = cin * expand_ratio
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(cin, hidden, kernel=1))
        layers += [
            _conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0 and stem stride 2 by default: torchvision's).

    Args:
        num_classes: Output features of the classifier.
        in_channels: Input image channels.
        dropout: Dropout probability before the classifier.
        width: Width multiplier; channel counts rounded to multiples of 8 as torchvision does (the last
            1x1 conv keeps 1280 channels below width 1).
        stem_stride: Stride of the first conv; 1 suits 32x32 inputs (CIFAR-style, 16x downsampling).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.2,
        width: float = 1.0,
        stem_stride: int = 2,
    ) -> None:
        super().__init__()
        check_positive(
            "MobileNetV2", num_classes=num_classes, in_channels=in_channels, stem_stride=stem_stride
        )
        if not width > 0:
            raise PruneConfigError(f"MobileNetV2 width must be > 0, got {width}")
        cin = _divisible(32 * width)
        features: list[nn.Module] = [_conv_bn_relu6(in_channels, cin, stride=stem_stride)]
        for t, c, n, s in MOBILENET_V2_SETTINGS:
            for i in range(n):
                features.append(InvertedResidual(cin, _divisible(c * width), s if i == 0 else 1, t))
                cin = _divisible(c * width)
        last = _divisible(1280 * max(1.0, width))
        features.append(_conv_bn_relu6(cin, last, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        init_weights(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


@register("mobilenet_v2", input_size=224)
def mobilenet_v2(num_classes: int = 10, in_channels: int = 3) -> MobileNetV2:
    """MobileNetV2, width 1.0 (3,504,872 parameters at 1000 classes)."""
    return MobileNetV2(num_classes, in_channels)
