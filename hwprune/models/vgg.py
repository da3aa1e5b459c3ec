"""VGG-11-BN and VGG-16-BN with torchvision's geometry: conv-BN-ReLU features, 7x7 adaptive average
pool and a 4096-4096 classifier with dropout."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hwprune.models._registry import check_positive, init_weights, register

__all__ = ["VGG", "VGG_CONFIGS"]

# Output channels per conv; "M" is a 2x2 max pool.
VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}


def _features(cfg: tuple[int | str, ...], in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = in_channels
    for v in cfg:
        if isinstance(v, str):  # "M"
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            cin = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG with batch norm.

    Args:
        cfg: A key of ``VGG_CONFIGS`` ("A" = VGG-11, "D" = VGG-16).
        num_classes: Output features of the last linear layer.
        in_channels: Input image channels.
        dropout: Dropout probability in the classifier.
    """

    def __init__(self, cfg: str, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        check_positive("VGG", num_classes=num_classes, in_channels=in_channels)
        self.features = _features(VGG_CONFIGS[cfg], in_channels)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        init_weights(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register("vgg11_bn", input_size=224)
def vgg11_bn(num_classes: int = 10, in_channels: int = 3) -> VGG:
    """VGG-11 with batch norm (132,868,840 parameters at 1000 classes)."""
    return VGG("A", num_classes, in_channels)


@register("vgg16_bn", input_size=224)
def vgg16_bn(num_classes: int = 10, in_channels: int = 3) -> VGG:
    """VGG-16 with batch norm (138,365,992 parameters at 1000 classes)."""
    return VGG("D", num_classes, in_channels)
