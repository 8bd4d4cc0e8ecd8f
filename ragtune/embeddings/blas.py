"""Run small matrix products on one BLAS thread.

Query-time products (one query vector against route centroids, a numpy MiniLM forward pass for one
query) are tiny; waking idle BLAS threads on busy cores costs more than the product itself
(measured: 480 -> 30 ms for one query on 2 busy cores), and threads left spinning slow the next
model call.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: only keeps the small products single-threaded
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """One BLAS thread inside the block (a no-op without threadpoolctl)."""
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


__all__ = ["single_threaded_blas"]
