"""The real OpenAI API; skipped unless ``OPENAI_API_KEY`` is set (they cost a fraction of a cent)."""

from __future__ import annotations

import os

import pytest

from ragtune.llm import PriceTable, make_openai_chat

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not os.environ.get("OPENAI_API_KEY"), reason="OPENAI_API_KEY not set: live OpenAI tests need a key"
    ),
]

MODEL = os.environ.get("RAGTUNE_LIVE_OPENAI_MODEL", "gpt-4o-mini")


def test_live_invoke_reports_usage_and_cost() -> None:
    llm = make_openai_chat(MODEL, max_retries=2)
    answer = llm.invoke("Reply with the single word: pong")
    assert "pong" in str(answer.content).lower()
    usage = answer.usage_metadata
    assert usage and usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    model_name = answer.response_metadata.get("model_name", MODEL)
    assert PriceTable.default().cost(model_name, usage["input_tokens"], usage["output_tokens"]) > 0


def test_live_stream_reports_usage() -> None:
    chunks = list(make_openai_chat(MODEL, max_retries=2).stream("Count from 1 to 5, separated by spaces."))
    assert len(chunks) > 2
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert "3" in str(total.content)
    assert total.usage_metadata and total.usage_metadata["output_tokens"] > 0
