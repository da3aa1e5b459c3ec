"""Reference nets written from scratch (no torchvision, no downloaded weights).

Example:
    >>> import hwprune.models as models
    >>> net = models.get("resnet20", num_classes=10)
    >>> y = net(models.default_input("resnet20", batch=2))   # (2, 10)

Names: ``resnet18``, ``resnet34``, ``resnet50``, ``resnet101``, ``resnet152`` (ImageNet, 224x224),
``vgg11_bn``, ``vgg16_bn``, ``mobilenet_v2``, ``densenet121`` (224x224), ``resnet20``, ``resnet56`` (CIFAR,
32x32), ``digits_cnn`` (1x32x32).
Every net is a plain ``nn.Module`` that ``torch.fx.symbolic_trace`` can trace, initialised with
kaiming-normal weights, so ``torch.manual_seed`` before ``get`` makes it deterministic.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from hwprune.errors import PruneConfigError
from hwprune.models import densenet, digits, mobilenet, resnet, vgg  # noqa: F401  (fill the registry)
from hwprune.models._registry import ModelEntry, entry, names

__all__ = ["get", "names", "default_input", "input_shape", "ModelEntry", "entry"]


def get(name: str, num_classes: int = 10, **kw: Any) -> nn.Module:
    """Build a reference net.

    Args:
        name: One of ``names()``.
        num_classes: Output features of the classifier (1000 gives torchvision's parameter counts).
        **kw: Builder options, e.g. ``in_channels=1`` (all nets), ``input_size`` (``digits_cnn``).

    Returns:
        A freshly initialised ``nn.Module`` in training mode.

    Raises:
        PruneConfigError: ``name`` is unknown, or an option is out of range.
    """
    builder = entry(name).builder
    options = inspect.signature(builder).parameters
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise PruneConfigError(
            f"reference net {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(options)}"
        )
    return builder(num_classes=num_classes, **kw)


def input_shape(name: str, batch: int = 1, in_channels: int | None = None) -> tuple[int, int, int, int]:
    """The NCHW shape of the default input of ``name``.

    Args:
        name: One of ``names()``.
        batch: Batch size.
        in_channels: Overrides the net's default channel count (3, or 1 for ``digits_cnn``).
    """
    e = entry(name)
    return (batch, in_channels or e.in_channels, e.input_size, e.input_size)


def default_input(name: str, batch: int = 1, in_channels: int | None = None, seed: int = 0) -> torch.Tensor:
    """A seeded standard-normal example input for ``name`` (224x224 ImageNet nets, 32x32 CIFAR/digits).

    Args:
        name: One of ``names()``.
        batch: Batch size.
        in_channels: Overrides the net's default channel count.
        seed: Seed of the private generator; the global torch RNG is not touched.

    Returns:
        A float32 tensor of shape ``input_shape(name, batch, in_channels)``.
    """
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(input_shape(name, batch, in_channels), generator=gen)
