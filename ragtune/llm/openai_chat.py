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

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import Field, SecretStr

from ragtune.errors import ConfigError
from ragtune.retry import RetryPolicy, is_retryable_openai_error, translate_openai_error

log = logging.getLogger(__name__)

T = TypeVar("T")


def translate_error(exc: BaseException, model: str) -> BaseException:
    """Re-type an OpenAI/LangChain error as :class:`ModelError` or :class:`RetryableModelError`, keeping its type.

    Errors that are not OpenAI API errors are returned unchanged (see :func:`ragtune.retry.translate_openai_error`).
    """
    return translate_openai_error(exc, f"chat model {model!r}")


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

    def _policy(self) -> RetryPolicy:
        return RetryPolicy.from_retries(
            self.retries, initial_wait=self.retry_wait_initial, max_wait=self.retry_wait_max
        )

    def _call(self, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return fn()
            except Exception as exc:
                _reraise(exc, self.model_name)

        return self._policy().retrying(f"OpenAI chat model {self.model_name!r}", logger=log)(attempt)

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
        async for attempt in self._policy().aretrying(f"OpenAI chat model {self.model_name!r}", logger=log):
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
        async for attempt in self._policy().aretrying(f"OpenAI chat model {self.model_name!r}", logger=log):
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
        max_retries: retries after the first try on transient faults (``max_retries + 1`` attempts;
            the client's own retries are off). See :class:`ragtune.retry.RetryPolicy`.
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
