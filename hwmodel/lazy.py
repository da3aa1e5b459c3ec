"""PEP 562 lazy public APIs: ``name -> "module:attr"`` tables resolved on first access (hwmodel, hwprune)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_api"]


def lazy_api(
    package: str, namespace: dict[str, Any], api: Mapping[str, str], submodules: tuple[str, ...] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: the package's name (for messages and submodule imports).
        namespace: the package's ``globals()``; resolved names are cached there.
        api: public name -> ``"module.path:attribute"``.
        submodules: names that are submodules of the package (``errors``, ``models``).
    """
    names = sorted([*api, *submodules])

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        target = api.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = target.split(":")
        value = namespace[name] = getattr(importlib.import_module(module), attr)
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
