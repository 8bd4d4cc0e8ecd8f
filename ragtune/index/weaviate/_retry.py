"""Which Weaviate failures are worth retrying, and the retry policy (tenacity).

Transient: connection errors and timeouts, HTTP 5xx and 429, gRPC
``UNAVAILABLE`` / ``DEADLINE_EXCEEDED`` / ``RESOURCE_EXHAUSTED``, and the
client's own ``WeaviateRetryError`` (it gave up retrying ``UNAVAILABLE``).
Everything else (4xx, invalid filters, per-object batch errors) fails at once.
The client wraps gRPC errors in its own exceptions, so the whole
``__cause__``/``__context__`` chain is inspected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from ragtune.errors import IndexBackendError, RagtuneError, TransientIndexError

log = logging.getLogger("ragtune.index.weaviate")

TRANSIENT_GRPC_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient Weaviate faults are retried."""

    attempts: int = 5
    """Tries in all, the first included."""
    initial_wait: float = 0.5
    """Seconds before the first retry; doubles each time, with jitter."""
    max_wait: float = 8.0
    """Longest single wait between tries."""
    max_delay: float = 60.0
    """No new try starts after this many seconds."""

    def retrying(self, action: str) -> Retrying:
        return Retrying(**self._kwargs(action))

    def aretrying(self, action: str) -> AsyncRetrying:
        return AsyncRetrying(**self._kwargs(action))

    def _kwargs(self, action: str) -> dict[str, Any]:
        return {
            "retry": retry_if_exception(is_transient),
            "stop": stop_after_attempt(self.attempts) | stop_after_delay(self.max_delay),
            "wait": wait_exponential_jitter(multiplier=self.initial_wait, max=self.max_wait, jitter=self.initial_wait),
            "before_sleep": _log_retry(action),
            "reraise": True,
        }


def _log_retry(action: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("Weaviate %s failed (try %d): %s; retrying in %.1fs", action, state.attempt_number, error, wait)

    return before_sleep


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


__all__ = ["RetryPolicy", "is_transient", "log", "wrap_error"]
