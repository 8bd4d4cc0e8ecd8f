"""The OpenAI path through the real ``openai`` client against the in-process fake OpenAI server."""

from __future__ import annotations

import asyncio

import numpy as np
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from ragtune.config import Settings
from ragtune.embeddings.openai import OpenAIEmbedder
from ragtune.errors import ConfigError, EmbeddingError, ModelError, RagtuneError, RetryableModelError
from ragtune.llm import ModelEntry, make_chat_model, make_openai_chat
from ragtune.llm.openai_chat import RetryingChatOpenAI

FT_ID = "ft:gpt-4o-mini-2024-07-18:acme::abc123"


@pytest.fixture
def chat(openai_server):  # type: ignore[no-untyped-def]
    return make_openai_chat(
        "gpt-4o-mini", api_key="test-key", base_url=openai_server.url, max_retries=3, retry_wait_initial=0.01
    )


def test_invoke_sends_model_and_messages(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.chat.reply("Paris is the capital of France.")
    answer = chat.invoke([SystemMessage("Be brief."), HumanMessage("Capital of France?")])

    assert answer.content == "Paris is the capital of France."
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] > 0
    (request,) = openai_server.chat.requests
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert request.body["temperature"] == 0.0
    assert request.headers["authorization"] == "Bearer test-key"


def test_429_then_success_is_retried(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(2, status=429, path_prefix="/v1/chat")
    openai_server.chat.reply("ok")

    assert chat.invoke("hi").content == "ok"
    assert len(openai_server.chat.requests) == 3


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_retried(chat, openai_server, status: int) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(1, status=status)
    assert chat.invoke("hi").content == "Echo: hi"
    assert len(openai_server.requests) == 2


def test_retries_exhausted_raise_retryable_error(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(10, status=429)
    with pytest.raises(RetryableModelError) as info:
        chat.invoke("hi")
    assert isinstance(info.value, openai.RateLimitError)  # both types: ragtune's and openai's
    assert info.value.is_retryable
    assert "429" in str(info.value)
    assert len(openai_server.requests) == 4  # 1 + max_retries=3


def test_insufficient_quota_is_not_retried(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(5, status=429, code="insufficient_quota", message="You exceeded your current quota.")
    with pytest.raises(ModelError) as info:
        chat.invoke("hi")
    assert not info.value.is_retryable
    assert len(openai_server.requests) == 1


def test_400_is_not_retried(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.chat.reply(status=400, content="Invalid 'messages': bad role.", code="invalid_value")
    with pytest.raises(ModelError) as info:
        chat.invoke("hi")
    assert isinstance(info.value, openai.BadRequestError)
    assert isinstance(info.value, RagtuneError) and isinstance(info.value, RuntimeError)
    assert not isinstance(info.value, RetryableModelError)
    assert info.value.code == "invalid_value"
    assert len(openai_server.requests) == 1


def test_context_overflow_keeps_error_code(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    message = "This model's maximum context length is 128000 tokens. However, your messages resulted in 130001 tokens."
    openai_server.chat.reply(status=400, content=message, code="context_length_exceeded")
    with pytest.raises(ModelError, match="maximum context length") as info:
        chat.invoke("hi")
    assert info.value.code == "context_length_exceeded"
    assert isinstance(info.value, openai.BadRequestError)


def test_unknown_model_404_is_not_retried(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.chat.known_models = {"gpt-4o"}
    with pytest.raises(ModelError, match="does not exist"):
        chat.invoke("hi")
    assert len(openai_server.requests) == 1


def test_timeout_is_retried(openai_server) -> None:  # type: ignore[no-untyped-def]
    llm = make_openai_chat(
        "gpt-4o-mini", api_key="k", base_url=openai_server.url, timeout=0.3, max_retries=2, retry_wait_initial=0.01
    )
    openai_server.delay_next(1, seconds=1.0)
    assert llm.invoke("slow").content == "Echo: slow"
    assert len(openai_server.requests) == 2


def test_stream_yields_tokens_and_usage(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.chat.reply("The capital of France is Paris.")
    chunks = list(chat.stream("Capital of France?"))

    texts = [c.content for c in chunks if c.content]
    assert len(texts) >= 5
    assert "".join(texts) == "The capital of France is Paris."
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.usage_metadata and total.usage_metadata["output_tokens"] > 0
    body = openai_server.chat.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_retries_before_first_chunk(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(1, status=503)
    assert "".join(c.text for c in chat.stream("again")) == "Echo: again"
    assert len(openai_server.requests) == 2


def test_stream_400_raises(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    openai_server.fail_next(1, status=400, message="bad request")
    with pytest.raises(ModelError):
        list(chat.stream("x"))
    assert len(openai_server.requests) == 1


def test_async_invoke_and_stream_retry(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    async def run() -> tuple[str, str]:
        openai_server.fail_next(1, status=429)
        answer = await chat.ainvoke("one")
        openai_server.fail_next(1, status=500)
        streamed = "".join([c.text async for c in chat.astream("two")])
        return str(answer.content), streamed

    assert asyncio.run(run()) == ("Echo: one", "Echo: two")
    assert len(openai_server.requests) == 4


def test_finetuned_id_passes_through(openai_server) -> None:  # type: ignore[no-untyped-def]
    entry = ModelEntry(name="finetuned", provider="openai", model_id=FT_ID, base="gpt-4o-mini-2024-07-18")
    settings = Settings(openai_api_key="k", openai_base_url=openai_server.url)
    llm = make_chat_model(entry, settings)
    assert isinstance(llm, RetryingChatOpenAI)

    llm.invoke("hi")
    list(llm.stream("hi"))
    assert [r.body["model"] for r in openai_server.chat.requests] == [FT_ID, FT_ID]


def test_tool_calls_and_structured_output(chat, openai_server) -> None:  # type: ignore[no-untyped-def]
    class Route(BaseModel):
        route: str
        confidence: float

    def search(query: str) -> str:
        """Search the documents."""
        return query

    openai_server.chat.reply(tool_calls=[{"name": "search", "arguments": {"query": "capital of France"}}])
    message = chat.bind_tools([search]).invoke("Find the capital of France")
    assert message.tool_calls[0]["name"] == "search"
    assert message.tool_calls[0]["args"] == {"query": "capital of France"}
    assert openai_server.chat.requests[-1].body["tools"][0]["function"]["name"] == "search"

    openai_server.chat.reply('{"route": "rag", "confidence": 0.9}')
    decision = chat.with_structured_output(Route).invoke("route this")
    assert decision == Route(route="rag", confidence=0.9)


def test_missing_api_key_is_a_config_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_openai_chat("gpt-4o-mini")


def test_openai_embedder_through_fake(openai_server) -> None:  # type: ignore[no-untyped-def]
    embedder = OpenAIEmbedder("text-embedding-3-small", api_key="k", base_url=openai_server.url, dimensions=64)
    openai_server.fail_next(1, status=429)
    vectors = np.asarray(embedder.embed_documents(["alpha", "beta"]))
    assert vectors.shape == (2, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    bodies = [r.body for r in openai_server.requests_to("/v1/embeddings")]
    assert len(bodies) == 2  # one 429, then the retry
    assert bodies[-1]["model"] == "text-embedding-3-small" and bodies[-1]["dimensions"] == 64
    assert bodies[-1]["input"] == ["alpha", "beta"]

    again = np.asarray(embedder.embed_query("alpha"))
    assert np.allclose(again.ravel(), vectors[0])


def test_openai_embedder_400_raises_embedding_error(openai_server) -> None:  # type: ignore[no-untyped-def]
    embedder = OpenAIEmbedder(api_key="k", base_url=openai_server.url, max_retries=3)
    openai_server.fail_next(1, status=400, message="bad input")
    with pytest.raises(EmbeddingError):
        embedder.embed_documents(["x"])
    assert len(openai_server.requests) == 1
