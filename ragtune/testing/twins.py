"""The sync/async twin rule, checked the same way wherever a class has twins.

ragtune writes each async entry point as a thin shell over the same code as its sync twin
(``search``/``asearch``, ``ask``/``aask`` ...). Twins kept in step by hand drift, so a public
method ``aX`` beside a public ``X`` must be a coroutine function with ``X``'s signature: the
index contract, :class:`~ragtune.retrievers.search.Searcher` and the agent toolkit are all held
to it.

Example:
    >>> from ragtune.retrievers.search import Searcher
    >>> assert_async_twins(Searcher, expected=["asearch"])
    ['asearch']
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any


def async_twins(obj: Any) -> list[str]:
    """Names of the public callable ``a*`` attributes of ``obj`` (a class, instance or module) with a sync twin."""
    return [
        name
        for name in dir(obj)
        if name.startswith("a") and callable(getattr(obj, name, None)) and callable(getattr(obj, name[1:], None))
    ]


def assert_async_twins(obj: Any, *, expected: Iterable[str] = ()) -> list[str]:
    """Check every twin of ``obj``; return their names.

    Args:
        obj: what holds the twins.
        expected: async names that must be among them (so a renamed method is not skipped silently).

    Raises:
        AssertionError: an expected twin is missing, an ``a*`` twin is not a coroutine function,
            or its signature differs from its sync twin's.
    """
    owner = getattr(obj, "__name__", None) if isinstance(obj, type) or inspect.ismodule(obj) else type(obj).__name__
    names = async_twins(obj)
    missing = sorted(set(expected) - set(names))
    assert not missing, f"no async twins named {missing} on {owner}"
    for name in names:
        method, sync = getattr(obj, name), getattr(obj, name[1:])
        assert inspect.iscoroutinefunction(method), f"{owner}.{name} is not a coroutine function"
        assert inspect.signature(method) == inspect.signature(sync), (
            f"{owner}.{name}{inspect.signature(method)} differs from {owner}.{name[1:]}{inspect.signature(sync)}"
        )
    return names


__all__ = ["assert_async_twins", "async_twins"]
