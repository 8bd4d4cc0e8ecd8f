"""The sync/async twin rule, checked the same way wherever a class has twins.

A public method ``aX`` beside a public ``X`` must be a coroutine function with
``X``'s signature, so async callers never meet a twin that drifted (the
index contract, :class:`~ragtune.retrievers.search.Searcher` and the agent
toolkit are all held to it).

Example:
    >>> from ragtune.retrievers.search import Searcher
    >>> assert_async_twins(Searcher)
    ['asearch']
"""

from __future__ import annotations

import inspect
from typing import Any


def async_twins(obj: Any) -> list[str]:
    """Names of the public callable ``a*`` attributes of ``obj`` (a class or an instance) that have a sync twin."""
    return [
        name
        for name in dir(obj)
        if name.startswith("a") and not name.startswith("_") and hasattr(obj, name[1:]) and callable(getattr(obj, name))
    ]


def assert_async_twins(obj: Any) -> list[str]:
    """Assert that each async twin of ``obj`` is a coroutine function with its sync twin's signature.

    Returns the twins' names, so a caller can also check that the ones it expects are there.
    """
    owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    names = async_twins(obj)
    for name in names:
        method, sync = getattr(obj, name), getattr(obj, name[1:])
        assert inspect.iscoroutinefunction(method), f"{owner}.{name} is not a coroutine function"
        assert inspect.signature(method) == inspect.signature(sync), (
            f"{owner}.{name}{inspect.signature(method)} differs from {owner}.{name[1:]}{inspect.signature(sync)}"
        )
    return names


__all__ = ["assert_async_twins", "async_twins"]
