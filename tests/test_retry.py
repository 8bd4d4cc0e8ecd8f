"""One retry policy and one reading of OpenAI faults, against the in-process OpenAI server."""

from __future__ import annotations

import dataclasses
import time

import openai
import pytest

from ragtune.embeddings.openai import OpenAIEmbedder
from ragtune.errors import ConfigError, EmbeddingError, ModelError, RetryableModelError
from ragtune.finetune import openai_job
from ragtune.index.weaviate import RetryPolicy as WeaviateRetryPolicy
from ragtune.llm.openai_chat import make_openai_chat
from ragtune.retry import RetryPolicy, call_openai, is_retryable_openai_error

FAST = RetryPolicy(attempts=3, initial_wait=0.0, max_wait=0.0)


@pytest.fixture
def client(openai_server):  # type: ignore[no-untyped-def]
    return openai.OpenAI(api_key="k", base_url=openai_server.url, max_retries=0)


def embed(client):  # type: ignore[no-untyped-def]
    return lambda: client.embeddings.create(model="text-embedding-3-small", input=["x"])


@pytest.mark.parametrize(("status", "code"), [(408, None), (429, None), (500, None), (503, None)])
def test_transient_faults_are_retried(client, openai_server, status: int, code: str | None) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(2, status, "/v1/embeddings", code=code)
    response = call_openai(FAST, "embeddings", embed(client))
    assert len(response.data) == 1
    assert len(openai_server.requests_to("/v1/embeddings")) == 3


@pytest.mark.parametrize(("status", "code"), [(429, "insufficient_quota"), (400, None), (401, None), (404, None)])
def test_permanent_faults_fail_at_once_with_both_types(client, openai_server, status: int, code: str | None) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(5, status, "/v1/embeddings", code=code)
    with pytest.raises(ModelError, match=f"HTTP {status}") as info:
        call_openai(FAST, "embeddings", embed(client))
    assert not isinstance(info.value, RetryableModelError) and not info.value.is_retryable
    assert isinstance(info.value, openai.APIStatusError) and not is_retryable_openai_error(info.value)
    assert len(openai_server.requests_to("/v1/embeddings")) == 1


def test_attempts_count_every_try_and_the_last_error_is_retryable(client, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(10, 503, "/v1/embeddings")
    with pytest.raises(RetryableModelError, match="HTTP 503") as info:
        call_openai(FAST, "embeddings", embed(client))
    assert isinstance(info.value, openai.InternalServerError)
    assert len(openai_server.requests_to("/v1/embeddings")) == FAST.attempts == 3


def test_retry_after_is_honoured_up_to_max_wait(client, openai_server) -> None:  # type: ignore[no-untyped-def]
    waits: list[float] = []
    patient, impatient = RetryPolicy(attempts=2, max_wait=5.0), RetryPolicy(attempts=2, max_wait=0.5)
    openai_server.fail_next(1, 429, "/v1/embeddings", retry_after=0.25)
    call_openai(patient, "embeddings", embed(client), sleep=waits.append)
    assert waits == [0.25]
    openai_server.fail_next(1, 429, "/v1/embeddings", retry_after=30.0)
    call_openai(impatient, "embeddings", embed(client), sleep=waits.append)
    assert waits[-1] == 0.5


def test_max_delay_stops_retrying(client, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(10, 503, "/v1/embeddings")
    policy = RetryPolicy(attempts=10, initial_wait=0.0, max_wait=0.0, max_delay=0.01)
    with pytest.raises(RetryableModelError):
        call_openai(policy, "embeddings", embed(client), sleep=lambda _: time.sleep(0.05))
    # Checked after each try: the first one (if it was quick) or the one after the first sleep is the last.
    assert len(openai_server.requests_to("/v1/embeddings")) in (1, 2)


@pytest.mark.parametrize("retries", [0, 2])
def test_max_retries_means_retries_after_the_first_try_everywhere(openai_server, retries: int) -> None:  # type: ignore[no-untyped-def]
    chat = make_openai_chat("gpt-4o-mini", api_key="k", base_url=openai_server.url, max_retries=retries)
    embedder = OpenAIEmbedder(api_key="k", base_url=openai_server.url, max_retries=retries)
    openai_server.fail_next(10, 503, "/v1/chat")
    openai_server.fail_next(10, 503, "/v1/embeddings")
    with pytest.raises(RetryableModelError):
        chat.invoke("hi")
    with pytest.raises(RetryableModelError):
        embedder.embed_query("hi")
    assert len(openai_server.requests_to("/v1/chat/completions")) == retries + 1
    assert len(openai_server.requests_to("/v1/embeddings")) == retries + 1


def test_embedder_raises_embedding_error_for_permanent_faults(openai_server) -> None:  # type: ignore[no-untyped-def]
    embedder = OpenAIEmbedder(api_key="k", base_url=openai_server.url, max_retries=2)
    openai_server.fail_next(1, 400, "/v1/embeddings", message="bad input")
    with pytest.raises(EmbeddingError, match="bad input") as info:
        embedder.embed_query("x")
    assert isinstance(info.value, openai.BadRequestError)


def test_policy_arguments_are_checked() -> None:
    assert RetryPolicy.from_retries(2).attempts == 3
    with pytest.raises(ConfigError, match="first try"):
        RetryPolicy(attempts=0)
    with pytest.raises(ConfigError, match=">= 0"):
        RetryPolicy.from_retries(-1)


def test_old_names_are_the_one_policy() -> None:
    with pytest.warns(DeprecationWarning, match="initial_wait"):
        legacy = openai_job.RetryPolicy(attempts=4, initial=0.5, deadline=30.0)
    assert isinstance(legacy, RetryPolicy)
    assert (legacy.attempts, legacy.initial_wait, legacy.max_delay) == (4, 0.5, 30.0)
    assert (legacy.initial, legacy.deadline) == (0.5, 30.0)
    assert openai_job.OpenAITrainConfig(retry=legacy).retry is legacy
    weaviate = WeaviateRetryPolicy(attempts=4)
    assert isinstance(weaviate, RetryPolicy) and (weaviate.max_wait, weaviate.max_delay) == (8.0, 60.0)
    assert dataclasses.replace(weaviate, attempts=2).attempts == 2
