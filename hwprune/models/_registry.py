"""Registry of reference nets: name -> builder and input geometry, filled by ``@register``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from hwprune.errors import PruneConfigError

__all__ = ["ModelEntry", "register", "entry", "names", "init_weights", "check_positive"]


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One reference net.

    Attributes:
        name: Registry name, e.g. ``"resnet18"``.
        builder: ``builder(num_classes=..., in_channels=..., **kw) -> nn.Module``.
        input_size: Spatial side of the default (square) input.
        in_channels: Default number of input channels.
    """

    name: str
    builder: Callable[..., nn.Module]
    input_size: int
    in_channels: int


_REGISTRY: dict[str, ModelEntry] = {}


def register(
    name: str, *, input_size: int, in_channels: int = 3
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that adds a builder to the registry under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise PruneConfigError(f"reference net {name!r} is registered twice; rename one of them")
        _REGISTRY[name] = ModelEntry(name, fn, input_size, in_channels)
        return fn

    return deco


def names() -> tuple[str, ...]:
    """Names of all registered reference nets, sorted."""
    return tuple(sorted(_REGISTRY))


def entry(name: str) -> ModelEntry:
    """Look up a reference net by name.

    Raises:
        PruneConfigError: ``name`` is not registered; the message lists the known names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise PruneConfigError(
            f"unknown reference net {name!r}; choose one of: {', '.join(names())}"
        ) from None


def init_weights(model: nn.Module, *, linear_std: float | None = None) -> nn.Module:
    """Kaiming init as torchvision does it; deterministic under ``torch.manual_seed``.

    Convs get kaiming-normal (fan_out, relu) and zero bias, norms weight 1 / bias 0, linears
    normal(0, ``linear_std``) with zero bias when ``linear_std`` is given, else PyTorch's default.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)
    return model


def check_positive(name: str, **values: int) -> None:
    """Raise ``PruneConfigError`` unless every keyword value is a positive int."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PruneConfigError(f"{name}: {key} must be a positive int, got {value!r}")
