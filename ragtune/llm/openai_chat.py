"""OpenAI (or any OpenAI-compatible) chat models with tenacity retries on transient faults only.

:class:`RetryingChatOpenAI` is a real ``ChatOpenAI`` (``bind_tools``,
``with_structured_output`` and streaming all work) whose calls are retried with
exponential backoff, honouring ``Retry-After``, on 429 rate limits, 5xx, 408,
timeouts and connection errors. Other 4xx errors (bad request, auth, unknown
model) and ``insufficient_quota`` 429s are raised at once. Streams are retried
only until their first chunk arrives: text already yielded cannot be taken back.

Errors are raised as ragtune errors that keep their original type too, so both
``except ragtune.errors.ModelError`` and ``except openai.RateLimitError`` (or
LangChain's ``ContextOverflowError``) catch them::

    RetryableModelError + openai.RateLimitError      429 after the last attempt
    ModelError          + openai.BadRequestError     400, never retried

Example:
    >>> llm = make_openai_chat("ft:gpt-4o-mini-2024-07-18:acme::abc123")
    >>> llm.invoke("Hello").content
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NoReturn, TypeVar

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import Field, SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ragtune.errors import ConfigError, ModelError, RetryableModelError

log = logging.getLogger(__name__)

T = TypeVar("T")


def is_retryable_openai_error(exc: BaseException) -> bool:
    """429 (except ``insufficient_quota``), 408, 5xx, timeouts and connection errors."""
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError)):
        return True
    if isinstance(exc, openai.RateLimitError):
        return getattr(exc, "code", None) != "insufficient_quota"
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 408 or exc.status_code >= 500
    return False


_DUAL_CLASSES: dict[tuple[type[ModelError], type[BaseException]], type[ModelError]] = {}


def _dual_class(ragtune_cls: type[ModelError], original: type[BaseException]) -> type[ModelError]:
    """A class that is both ``ragtune_cls`` and the original exception type (one per pair)."""
    key = (ragtune_cls, original)
    if key not in _DUAL_CLASSES:
        _DUAL_CLASSES[key] = type(original.__name__, (ragtune_cls, original), {"__module__": __name__})
    return _DUAL_CLASSES[key]


def translate_error(exc: BaseException, model: str) -> BaseException:
    """Re-type an OpenAI/LangChain error as :class:`ModelError` or :class:`RetryableModelError`, keeping its type.

    Errors that are not OpenAI API errors are returned unchanged.
    """
    if isinstance(exc, ModelError) or not isinstance(exc, openai.APIError):
        return exc
    retryable = is_retryable_openai_error(exc)
    status = getattr(exc, "status_code", None)
    detail = getattr(exc, "message", None) or str(exc)
    what = "transient failure" if retryable else "request failed"
    message = f"OpenAI chat model {model!r}: {what}" + (f" (HTTP {status})" if status else "") + f": {detail}"
    cls = _dual_class(RetryableModelError if retryable else ModelError, type(exc))
    new = cls.__new__(cls, message)
    new.__dict__.update(exc.__dict__)
    new.args = (message,)
    new.path = new.record_id = new.line = None
    if not isinstance(getattr(exc, "code", None), str):
        new.code = str(status) if status else None
    return new


def _reraise(exc: Exception, model: str) -> NoReturn:
    new = translate_error(exc, model)
    if new is exc:
        raise exc
    raise new from exc


class RetryingChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` whose requests are retried with tenacity on transient faults only.

    Build it with :func:`make_openai_chat`. The client's own retries are off (``max_retries=0``),
    so one policy, logged at WARNING before each sleep, governs every call.
    """

    retries: int = Field(default=5, ge=0)
    """Retries after the first attempt (429, 408, 5xx, timeouts, connection errors)."""
    retry_wait_initial: float = Field(default=0.5, ge=0)
    """First backoff in seconds; doubles per retry, with jitter. ``Retry-After`` wins when sent."""
    retry_wait_max: float = Field(default=20.0, ge=0)
    """Longest single wait in seconds."""

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        try:
            if headers.get("retry-after-ms") is not None:
                return min(float(headers["retry-after-ms"]) / 1000, self.retry_wait_max)
            if headers.get("retry-after") is not None:
                return min(float(headers["retry-after"]), self.retry_wait_max)
        except ValueError:  # an HTTP date: fall back to backoff
            pass
        backoff = wait_exponential_jitter(
            multiplier=self.retry_wait_initial, max=self.retry_wait_max, jitter=self.retry_wait_initial
        )
        return float(backoff(state))

    def _policy(self) -> dict[str, Any]:
        return {
            "retry": retry_if_exception(lambda e: bool(getattr(e, "is_retryable", False))),
            "stop": stop_after_attempt(self.retries + 1),
            "wait": self._wait,
            "before_sleep": before_sleep_log(log, logging.WARNING),
            "reraise": True,
        }

    def _call(self, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return fn()
            except Exception as exc:
                _reraise(exc, self.model_name)

        return Retrying(**self._policy())(attempt)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._call(lambda: super(RetryingChatOpenAI, self)._generate(messages, stop, run_manager, **kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        async for attempt in AsyncRetrying(**self._policy()):
            with attempt:
                try:
                    return await super()._agenerate(messages, stop, run_manager, **kwargs)
                except Exception as exc:
                    _reraise(exc, self.model_name)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        def open_stream() -> tuple[Iterator[ChatGenerationChunk], ChatGenerationChunk | None]:
            iterator = super(RetryingChatOpenAI, self)._stream(*args, **kwargs)
            return iterator, next(iterator, None)

        iterator, first = self._call(open_stream)
        if first is None:
            return
        yield first
        try:
            yield from iterator
        except Exception as exc:
            _reraise(exc, self.model_name)

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        iterator: AsyncIterator[ChatGenerationChunk] | None = None
        first: ChatGenerationChunk | None = None
        async for attempt in AsyncRetrying(**self._policy()):
            with attempt:
                try:
                    iterator = super()._astream(*args, **kwargs)
                    first = await anext(iterator, None)
                except Exception as exc:
                    _reraise(exc, self.model_name)
        if iterator is None or first is None:
            return
        yield first
        try:
            async for chunk in iterator:
                yield chunk
        except Exception as exc:
            _reraise(exc, self.model_name)


def make_openai_chat(
    model_id: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    temperature: float = 0.0,
    max_retries: int = 5,
    timeout: float = 60,
    **kwargs: Any,
) -> RetryingChatOpenAI:
    """A chat model for ``model_id`` on OpenAI or any compatible server.

    Fine-tuned ids (``ft:gpt-4o-mini-2024-07-18:org::abc``) are sent unchanged. Usage is reported
    when streaming too (``stream_usage=True``).

    Args:
        model_id: e.g. ``gpt-4o-mini`` or an ``ft:`` id.
        api_key: falls back to ``OPENAI_API_KEY``.
        base_url: e.g. ``http://localhost:8000/v1``; falls back to ``OPENAI_BASE_URL``, then OpenAI.
        temperature: sampling temperature.
        max_retries: tenacity retries on transient faults (the client's own retries are off).
        timeout: seconds per request.
        **kwargs: other ``ChatOpenAI`` fields (``max_completion_tokens``, ``retry_wait_initial``...).

    Raises:
        ConfigError: no API key is given or set in the environment.
    """
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        msg = (
            f"No OpenAI API key for model {model_id!r}. Set OPENAI_API_KEY, RAGTUNE_OPENAI_API_KEY or "
            "openai_api_key in ragtune.toml (any non-empty string for a local OpenAI-compatible server)."
        )
        raise ConfigError(msg)
    return RetryingChatOpenAI(
        model=model_id,
        api_key=SecretStr(key),
        base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
        temperature=temperature,
        timeout=timeout,
        max_retries=0,
        retries=max_retries,
        stream_usage=True,
        **kwargs,
    )


__all__ = ["RetryingChatOpenAI", "is_retryable_openai_error", "make_openai_chat", "translate_error"]
