"""Sync/async twins: every public ``a*`` method is a coroutine function with its sync twin's signature.

ragtune writes each async entry point as a thin shell over the same code as its sync twin
(``search``/``asearch``, ``ask``/``aask`` ...). Twins kept in step by hand drift, so the
index contract, the searcher and the agent toolkit all check them with :func:`assert_async_twins`.

Example:
    >>> assert_async_twins(RagtuneToolkit(workspace), expected=["asearch", "aask"])  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable


def async_twins(obj: object) -> list[str]:
    """Names of the public callable ``a*`` attributes of ``obj`` that have a sync twin (``asearch`` -> ``search``)."""
    return [
        name
        for name in dir(obj)
        if name.startswith("a") and callable(getattr(obj, name, None)) and callable(getattr(obj, name[1:], None))
    ]


def assert_async_twins(obj: object, *, expected: Iterable[str] = ()) -> list[str]:
    """Check every twin of ``obj`` (an instance, class or module); return their names.

    Args:
        obj: what holds the twins.
        expected: async names that must be among them (so a renamed method is not skipped silently).

    Raises:
        AssertionError: an expected twin is missing, an ``a*`` twin is not a coroutine function,
            or its signature differs from its sync twin's.
    """
    twins = async_twins(obj)
    missing = sorted(set(expected) - set(twins))
    assert not missing, f"no async twins named {missing} on {obj!r}"
    for name in twins:
        method, sync = getattr(obj, name), getattr(obj, name[1:])
        assert inspect.iscoroutinefunction(method), f"{name} is not a coroutine function"
        async_signature, sync_signature = inspect.signature(method), inspect.signature(sync)
        assert async_signature == sync_signature, f"{name}{async_signature} != {name[1:]}{sync_signature}"
    return twins


__all__ = ["assert_async_twins", "async_twins"]
