"""Lazy public names for packages: heavy modules load on first attribute access."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, table: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``name`` through ``table`` (name -> module).

    Module paths may be absolute (``ragtune.x.y``) or relative to ``package``
    (``y``); a resolved value is cached in the package's ``namespace``.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        path = module if module.startswith("ragtune.") else f"{package}.{module}"
        value = getattr(importlib.import_module(path), name)
        namespace[name] = value
        return value

    return __getattr__


__all__ = ["lazy_getattr"]
