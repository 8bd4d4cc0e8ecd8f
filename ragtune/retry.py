"""One retry policy (tenacity) and one reading of OpenAI errors, for every remote call ragtune makes.

:class:`RetryPolicy` counts **attempts**: tries in all, the first included
(``attempts=1`` never retries). Where a public argument is named for retries
(``max_retries=3``), it means retries after the first try and becomes
``RetryPolicy.from_retries(3)``, i.e. four attempts. Waits grow exponentially
with jitter, and a server's ``Retry-After`` (``retry-after-ms``) wins when it
sends one, capped at ``max_wait``.

:func:`is_retryable_openai_error` is the one classification of OpenAI faults:
429 (except ``insufficient_quota``), 408, 5xx, timeouts and dropped
connections are transient; other 4xx are not. :func:`translate_openai_error`
re-types an ``openai`` exception as a ragtune error that keeps its original
type too, so ``except ModelError`` and ``except openai.RateLimitError`` both
catch it.

Example:
    >>> policy = RetryPolicy(attempts=3, initial_wait=0.1)
    >>> for attempt in policy.retrying("upload"):  # doctest: +SKIP
    ...     with attempt:
    ...         upload()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity import wait_exponential_jitter as _exponential_jitter

from ragtune.errors import ConfigError, ModelError, RagtuneError, RetryableModelError

log = logging.getLogger(__name__)

Predicate = Callable[[BaseException], bool]
T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """True for ragtune errors marked transient (``is_retryable``), e.g. a translated 429."""
    return bool(getattr(exc, "is_retryable", False))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient faults are retried.

    ``attempts`` counts tries in all, the first included; use :meth:`from_retries`
    where a caller speaks of retries after the first try.
    """

    attempts: int = 6
    """Tries in all, the first included (1: no retry)."""
    initial_wait: float = 0.5
    """Seconds before the first retry; doubles each time, with as much jitter."""
    max_wait: float = 20.0
    """Longest single wait, ``Retry-After`` included."""
    max_delay: float | None = None
    """Give up once this many seconds have passed since the first try, checked after each try (None: no limit)."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            msg = f"RetryPolicy.attempts counts the first try too, so it must be >= 1 (got {self.attempts})"
            raise ConfigError(msg)
        if self.initial_wait < 0 or self.max_wait < 0:
            raise ConfigError(f"RetryPolicy waits must be >= 0 (got {self.initial_wait} and {self.max_wait})")
        if self.max_delay is not None and self.max_delay <= 0:
            raise ConfigError(f"RetryPolicy.max_delay must be > 0 seconds or None (got {self.max_delay})")

    @classmethod
    def from_retries(cls, retries: int, **fields: Any) -> RetryPolicy:
        """The policy for ``retries`` retries after the first try (``retries + 1`` attempts)."""
        if retries < 0:
            raise ConfigError(f"retries counts tries after the first, so it must be >= 0 (got {retries})")
        return cls(attempts=retries + 1, **fields)

    def retrying(
        self,
        action: str = "call",
        *,
        retry: Predicate = is_retryable,
        logger: logging.Logger = log,
        sleep: Callable[[float], None] | None = None,
    ) -> Retrying:
        """A tenacity ``Retrying`` for one call; iterate it and run the call in each ``with attempt:``."""
        kwargs = self._kwargs(action, retry, logger)
        return Retrying(**kwargs) if sleep is None else Retrying(sleep=sleep, **kwargs)

    def aretrying(
        self, action: str = "call", *, retry: Predicate = is_retryable, logger: logging.Logger = log
    ) -> AsyncRetrying:
        """The async twin of :meth:`retrying` (``async for attempt in ...``)."""
        return AsyncRetrying(**self._kwargs(action, retry, logger))

    def wait_seconds(self, state: RetryCallState) -> float:
        """The server's ``Retry-After`` when it sent one, else exponential backoff with jitter; at most ``max_wait``."""
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = _retry_after(exc)
        if asked is not None:
            return min(asked, self.max_wait)
        backoff = _exponential_jitter(multiplier=self.initial_wait, max=self.max_wait, jitter=self.initial_wait)
        return min(float(backoff(state)), self.max_wait)

    def _kwargs(self, action: str, retry: Predicate, logger: logging.Logger) -> dict[str, Any]:
        stop = stop_after_attempt(self.attempts)
        if self.max_delay is not None:
            stop = stop | stop_after_delay(self.max_delay)  # type: ignore[assignment]
        return {
            "retry": retry_if_exception(retry),
            "stop": stop,
            "wait": self.wait_seconds,
            "before_sleep": _log_retry(action, logger),
            "reraise": True,
        }


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` on the error's HTTP response, if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        if headers.get("retry-after-ms") is not None:
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after") is not None:
            return float(headers["retry-after"])
    except (TypeError, ValueError):  # an HTTP date: fall back to backoff
        return None
    return None


def _log_retry(action: str, logger: logging.Logger) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning("%s failed (try %d): %s; retrying in %.1fs", action, state.attempt_number, error, wait)

    return before_sleep


# -- OpenAI ------------------------------------------------------------------------------------


def is_retryable_openai_error(exc: BaseException) -> bool:
    """429 (except ``insufficient_quota``), 408, 5xx, timeouts and connection errors."""
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError)):
        return True
    if isinstance(exc, openai.RateLimitError):
        return getattr(exc, "code", None) != "insufficient_quota"
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 408 or exc.status_code >= 500
    return False


_DUAL_CLASSES: dict[tuple[type[RagtuneError], type[BaseException]], type[RagtuneError]] = {}


def _dual_class(ragtune_cls: type[RagtuneError], original: type[BaseException]) -> type[RagtuneError]:
    """A class that is both ``ragtune_cls`` and the original exception type (one per pair)."""
    key = (ragtune_cls, original)
    if key not in _DUAL_CLASSES:
        _DUAL_CLASSES[key] = type(original.__name__, (ragtune_cls, original), {"__module__": __name__})
    return _DUAL_CLASSES[key]


def translate_openai_error(exc: BaseException, what: str, *, fatal: type[RagtuneError] = ModelError) -> BaseException:
    """Re-type an OpenAI API error as :class:`RetryableModelError` (transient) or ``fatal``, keeping its type.

    ``what`` names the call in the message (``"chat model 'gpt-4o-mini'"``, ``"upload train.jsonl"``).
    The error's ``code`` is OpenAI's (``invalid_value``, ``context_length_exceeded``) or else the HTTP
    status. Errors that are not OpenAI API errors, and ragtune errors, are returned unchanged.
    """
    import openai

    if isinstance(exc, RagtuneError) or not isinstance(exc, openai.APIError):
        return exc
    retryable = is_retryable_openai_error(exc)
    status = getattr(exc, "status_code", None)
    detail = getattr(exc, "message", None) or str(exc)
    kind = "transient failure" if retryable else "request failed"
    hint = " Check OPENAI_API_KEY." if status in (401, 403) else ""
    message = f"OpenAI {what}: {kind}" + (f" (HTTP {status})" if status else "") + f": {detail}{hint}"
    cls = _dual_class(RetryableModelError if retryable else fatal, type(exc))
    new = cls.__new__(cls, message)
    new.__dict__.update(exc.__dict__)
    new.args = (message,)
    new.path = new.record_id = new.line = None
    if not isinstance(getattr(exc, "code", None), str):
        new.code = str(status) if status else None
    return new


def call_openai(
    policy: RetryPolicy,
    what: str,
    func: Callable[[], T],
    *,
    fatal: type[RagtuneError] = ModelError,
    logger: logging.Logger = log,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Run ``func`` under ``policy``, translating OpenAI errors and retrying the transient ones."""
    for attempt in policy.retrying(f"OpenAI {what}", logger=logger, sleep=sleep):
        with attempt:
            try:
                return func()
            except Exception as exc:
                new = translate_openai_error(exc, what, fatal=fatal)
                if new is exc:
                    raise
                raise new from exc
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


__all__ = [
    "RetryPolicy",
    "call_openai",
    "is_retryable",
    "is_retryable_openai_error",
    "translate_openai_error",
]
