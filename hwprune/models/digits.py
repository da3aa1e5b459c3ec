"""A small CNN for 1x32x32 digit images (scikit-learn's digits, upscaled)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hwprune.errors import PruneConfigError
from hwprune.models._registry import check_positive, init_weights, register

__all__ = ["DigitsCNN"]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class DigitsCNN(nn.Module):
    """Three conv-BN-ReLU-pool blocks (16, 32, 64 channels), then flatten -> fc(64) -> fc(classes).

    The flatten feeds a linear layer with spatial features (64 x 4 x 4), so pruning the last conv
    exercises the channel -> C*H*W feature expansion.

    Args:
        num_classes: Output features.
        in_channels: Input image channels (1 for digits).
        input_size: Side of the square input, at least 8.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> None:
        super().__init__()
        check_positive("DigitsCNN", num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        if input_size < 8:
            raise PruneConfigError(f"DigitsCNN: input_size must be at least 8, got {input_size}")
        self.features = nn.Sequential(_block(in_channels, 16), _block(16, 32), _block(32, 64))
        side = input_size // 8
        self.fc1 = nn.Linear(64 * side * side, 64)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(64, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.features(x), 1)
        return self.fc2(self.relu(self.fc1(x)))


@register("digits_cnn", input_size=32, in_channels=1)
def digits_cnn(num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> DigitsCNN:
    """The digits CNN (1x32x32 input by default)."""
    return DigitsCNN(num_classes, in_channels, input_size)
