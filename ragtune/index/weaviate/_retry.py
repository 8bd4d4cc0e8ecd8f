"""Which Weaviate failures are worth retrying, and Weaviate's defaults for the shared retry policy.

Transient: connection errors and timeouts, HTTP 5xx and 429, gRPC
``UNAVAILABLE`` / ``DEADLINE_EXCEEDED`` / ``RESOURCE_EXHAUSTED``, and the
client's own ``WeaviateRetryError`` (it gave up retrying ``UNAVAILABLE``).
Everything else (4xx, invalid filters, per-object batch errors) fails at once.
The client wraps gRPC errors in its own exceptions, so the whole
``__cause__``/``__context__`` chain is inspected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from tenacity import AsyncRetrying, Retrying
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from ragtune import retry
from ragtune.errors import IndexBackendError, RagtuneError, TransientIndexError

log = logging.getLogger("ragtune.index.weaviate")

TRANSIENT_GRPC_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


@dataclass(frozen=True)
class WeaviateRetryPolicy(retry.RetryPolicy):
    """:class:`ragtune.retry.RetryPolicy` with Weaviate's defaults, retrying what :func:`is_transient` accepts.

    ``attempts`` counts tries in all, the first included.
    """

    attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 8.0
    max_delay: float | None = 60.0

    def retrying(self, action: str = "call", **kwargs: Any) -> Retrying:
        return super().retrying(f"Weaviate {action}", **{"retry": is_transient, "logger": log, **kwargs})

    def aretrying(self, action: str = "call", **kwargs: Any) -> AsyncRetrying:
        return super().aretrying(f"Weaviate {action}", **{"retry": is_transient, "logger": log, **kwargs})


RetryPolicy = WeaviateRetryPolicy
"""The name :class:`WeaviateIndex` and existing code import (``ragtune.index.weaviate.RetryPolicy``)."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(exc: BaseException) -> bool:
    """True for faults a later try may not see (see the module docstring)."""
    for err in _chain(exc):
        if isinstance(err, RagtuneError):
            return err.is_retryable
        if isinstance(err, grpc.RpcError) and hasattr(err, "code"):
            return err.code() in TRANSIENT_GRPC_CODES
        if isinstance(err, UnexpectedStatusCodeError):
            return err.status_code >= 500 or err.status_code == 429
        if isinstance(err, WeaviateClosedClientError):
            return False
        if isinstance(err, (WeaviateRetryError, WeaviateConnectionError, WeaviateTimeoutError, WeaviateStartUpError)):
            return True
        if isinstance(err, (httpx.TransportError, TimeoutError, ConnectionError)):
            return True
    return False


def wrap_error(exc: BaseException, action: str) -> IndexBackendError:
    """A typed ragtune error for a failed Weaviate call (raise it ``from exc``)."""
    if isinstance(exc, IndexBackendError):
        return exc
    if isinstance(exc, WeaviateClosedClientError):
        return IndexBackendError(f"Weaviate {action}: the index is closed; open a new WeaviateIndex")
    detail = str(exc).strip() or type(exc).__name__
    if is_transient(exc):
        msg = f"Weaviate {action} failed after retries ({detail}). Check that Weaviate is running and reachable."
        return TransientIndexError(msg)
    return IndexBackendError(f"Weaviate {action} failed: {detail}")


@contextmanager
def typed_errors(action: str) -> Iterator[None]:
    """Let ragtune errors through and re-raise any other as :func:`wrap_error` types it (sync and async calls)."""
    try:
        yield
    except RagtuneError:
        raise
    except Exception as exc:
        raise wrap_error(exc, action) from exc


__all__ = ["RetryPolicy", "WeaviateRetryPolicy", "is_transient", "log", "typed_errors", "wrap_error"]
