"""Small test models of every family in torchvision's classification zoo.

Each model is a few channels wide and runs on a 3x32x32 (or 3x64x64) input in milliseconds, but is
written with the same graph patterns as torchvision's version: residual adds, grouped and depthwise
convs, dense concat chains over lists, multi-branch inception concats, fire modules, squeeze-excite
multiplies, chunk + channel shuffle, NHWC permutes with LayerNorm and layer scale, flatten -> linear,
and plain functional calls. Front-end, channel-group and pruning tests run over all of them.
The models live in ``zoo_classic.py`` and ``zoo_mobile.py``; this module registers and seeds them.

Usage:
    from tests.hwprune.zoo import ZOO, zoo_input
    model = ZOO["densenet"]()          # seeded, deterministic
    y = model(zoo_input("densenet"))   # (2, NUM_CLASSES)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from tests.hwprune.zoo_classic import (
    NUM_CLASSES,
    BasicBlock,
    Bottleneck,
    TinyAlexNet,
    TinyDenseNet,
    TinyGoogLeNet,
    TinyInception3,
    TinyResNet,
    TinySqueezeNet,
    TinyVGG,
)
from tests.hwprune.zoo_mobile import (
    FunctionalNet,
    TinyConvNeXt,
    TinyEfficientNet,
    TinyMNASNet,
    TinyMobileNetV2,
    TinyMobileNetV3,
    TinyRegNet,
    TinyShuffleNetV2,
)

__all__ = ["ZOO", "NUM_CLASSES", "BATCH", "zoo_input", "zoo_input_shape"]

BATCH = 2


# --- Registry ---------------------------------------------------------------------------------------------


def _perturb(model: nn.Module, gen: torch.Generator) -> nn.Module:
    """Give norms random affine parameters and running stats, so slicing bugs change the output."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return model


def _seeded(factory: Callable[[], nn.Module], seed: int = 0) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = factory()
        return _perturb(model, torch.Generator().manual_seed(seed + 1))

    build.__name__ = getattr(factory, "__name__", "build")
    return build


_FACTORIES: dict[str, Callable[[], nn.Module]] = {
    "resnet_basic": lambda: TinyResNet(BasicBlock, (1, 2, 1), (8, 16, 24)),
    "resnet_bottleneck": lambda: TinyResNet(Bottleneck, (2, 1), (4, 8)),
    "resnext": lambda: TinyResNet(Bottleneck, (1, 2), (8, 16), groups=4, base_width=16),
    "wide_resnet": lambda: TinyResNet(Bottleneck, (1, 1), (4, 8), base_width=128),
    "vgg": TinyVGG,
    "alexnet": TinyAlexNet,
    "densenet": TinyDenseNet,
    "googlenet": TinyGoogLeNet,
    "inception_v3": TinyInception3,
    "squeezenet": TinySqueezeNet,
    "mobilenet_v2": TinyMobileNetV2,
    "mobilenet_v3": TinyMobileNetV3,
    "efficientnet": TinyEfficientNet,
    "mnasnet": TinyMNASNet,
    "shufflenet_v2": TinyShuffleNetV2,
    "regnet": TinyRegNet,
    "convnext": TinyConvNeXt,
    "functional": FunctionalNet,
}

# Every model is built under its own seed without touching the global RNG: ZOO[name]() is reproducible.
ZOO: dict[str, Callable[[], nn.Module]] = {name: _seeded(f) for name, f in _FACTORIES.items()}

_INPUT_SIZE: dict[str, int] = {"alexnet": 64}


def zoo_input_shape(name: str, batch: int = BATCH) -> tuple[int, int, int, int]:
    """NCHW shape of the example input of zoo model ``name``."""
    if name not in ZOO:
        raise KeyError(f"no zoo model {name!r}; choose one of: {', '.join(ZOO)}")
    side = _INPUT_SIZE.get(name, 32)
    return (batch, 3, side, side)


def zoo_input(name: str, batch: int = BATCH, seed: int = 0) -> Tensor:
    """A seeded standard-normal example input for zoo model ``name`` (global RNG untouched)."""
    return torch.randn(zoo_input_shape(name, batch), generator=torch.Generator().manual_seed(seed))
