"""Synthesis modes with scripted models: citation checking, stable numbering, uncited marking, usage and cost."""

from __future__ import annotations

import re

import pytest
from langchain_core.messages import BaseMessage

from ragtune.chains.answer import NOT_FOUND, Answer
from ragtune.chains.context import ContextOptions
from ragtune.chains.models import ChainModel
from ragtune.chains.rag_chain import ChainConfig, RagChain
from ragtune.llm.pricing import PriceTable
from ragtune.llm.tokens import token_counter
from ragtune.schema import Chunk, Hit
from ragtune.testing.scripted import ScriptedChatModel

COUNT = token_counter("gpt-4o-mini")
FT_ID = "ft:gpt-4o-mini-2024-07-18:acme::abc123"
TOPICS = ["refunds", "shipping", "security", "pricing", "support", "billing", "privacy", "uptime"]
WORDS = ["timing", "scope", "policy", "cost", "limits"]


def hits(n: int, sentences: int = 1) -> list[Hit]:
    out = []
    for i in range(n):
        word = TOPICS[i]
        text = " ".join(f"Fact {i}.{s} says {word} {WORDS[s]} matters." for s in range(sentences))
        chunk = Chunk(id=f"c{i}", doc_id=f"d{i}", text=text, source=f"/docs/d{i}.md", title=f"Doc {i}")
        out.append(Hit(chunk=chunk, score=1 - i / 10, distance=i / 10, rank=i))
    return out


def scripted(*turns: object, model_id: str = "gpt-4o-mini", window: int = 16_000) -> ChainModel:
    chat = ScriptedChatModel(list(turns))
    return ChainModel(chat=chat, model_id=model_id, provider="openai", count_tokens=COUNT, window=window)


OFF = ChainConfig(grounding="off")
"""These tests check what synthesis itself does with the model's markers; grounding (tests/test_grounding.py) is off."""


def chain(model: ChainModel, found: list[Hit], **config: object) -> RagChain:
    config.setdefault("grounding", "off")
    return RagChain(base=model, retriever=lambda q: found, config=ChainConfig(**config))  # type: ignore[arg-type]


def human(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content)


def test_invalid_citation_is_removed_and_reported() -> None:
    model = scripted("Topic zero holds [1]. Topic two holds [3][9]. Both [2, 9] agree.")
    answer = chain(model, hits(3)).invoke({"question": "what holds?", "route": "rag"})
    assert answer.text == "Topic zero holds [1]. Topic two holds [3]. Both [2] agree."
    assert answer.invalid_citations == [9]
    assert [(c.number, c.chunk_id, c.source) for c in answer.citations] == [
        (1, "c0", "/docs/d0.md"),
        (3, "c2", "/docs/d2.md"),
        (2, "c1", "/docs/d1.md"),
    ]
    assert [c.number for c in answer.context] == [1, 2, 3]


def test_citation_of_a_block_dropped_for_budget_is_invalid() -> None:
    found = hits(6, sentences=3)
    model = scripted("See [1] and [6].", window=16_000)
    answer = chain(model, found, context=ContextOptions(max_tokens=150)).invoke({"question": "q", "route": "rag"})
    shown = {c.number for c in answer.context}
    assert 6 not in shown and answer.invalid_citations == [6]
    assert {d.chunk_id for d in answer.dropped_context if d.reason == "budget"} >= {"c5"}
    sent = human(model.chat.calls[0])  # type: ignore[attr-defined]
    assert "Fact 5.0" not in sent and "Fact 0.0" in sent


def shown_numbers(messages: list[BaseMessage]) -> list[int]:
    return sorted({int(n) for n in re.findall(r'index="(\d+)"', human(messages))})


def test_refine_keeps_block_numbers_across_steps() -> None:
    outputs: list[str] = []

    def refine(messages: list[BaseMessage]) -> str:
        previous = outputs[-1] if outputs else ""
        cited = " ".join(f"{TOPICS[n - 1]} [{n}]." for n in shown_numbers(messages))
        outputs.append(f"{previous} {cited}".strip())
        return outputs[-1]

    model = scripted(refine)
    answer = chain(model, hits(4, sentences=3), mode="refine", context=ContextOptions(max_tokens=100)).invoke(
        {"question": "what topics?", "route": "rag"}
    )
    calls = model.chat.calls  # type: ignore[attr-defined]
    assert len(calls) >= 3
    seen = [shown_numbers(c) for c in calls]
    assert seen[0][0] == 1 and seen[1][0] > 1  # later steps show later blocks under their global numbers
    assert sorted({n for s in seen for n in s}) == [1, 2, 3, 4]
    for i in range(1, len(calls)):
        assert f"Existing answer:\n{outputs[i - 1]}" in human(calls[i])
    assert [(c.number, c.chunk_id) for c in answer.citations] == [(1, "c0"), (2, "c1"), (3, "c2"), (4, "c3")]
    assert answer.text == outputs[-1] and answer.invalid_citations == []
    assert {f"refine[{i}]" for i in range(len(calls))} | {"total"} <= set(answer.usage.latency_ms)


def test_map_reduce_notes_and_answer_cite_global_numbers() -> None:
    def mapper(messages: list[BaseMessage]) -> str:
        text = human(messages)
        if "Notes" in text or "<notes>" in text:
            return "Topic zero [1] and topic three [4]."
        numbers = shown_numbers(messages)
        return "\n".join(f"Fact from block {n} [{n}]" for n in numbers) + " [7]"

    model = scripted(mapper)
    found = hits(4, sentences=3)
    answer = chain(model, found, mode="map_reduce", context=ContextOptions(max_tokens=140)).invoke(
        {"question": "what topics?", "route": "rag"}
    )
    calls = model.chat.calls  # type: ignore[attr-defined]
    maps, reduce = calls[:-1], calls[-1]
    assert len(maps) >= 2
    notes = human(reduce)
    assert "Fact from block 1 [1]" in notes and "Fact from block 4 [4]" in notes
    assert "[7]" not in notes  # a map step cited a block it never saw: removed before reduce
    assert 7 in answer.invalid_citations
    assert [(c.number, c.chunk_id) for c in answer.citations] == [(1, "c0"), (4, "c3")]
    assert {"map[0]", "map[1]", "reduce"} <= set(answer.usage.latency_ms)


def test_hybrid_marks_sentences_without_a_valid_citation() -> None:
    base = scripted("unused")
    tuned = scripted("Refunds take 30 days [1]. Our team is the friendliest in the world. Call us today [5].")
    rag = RagChain(base=base, finetuned=tuned, retriever=lambda q: hits(2), config=OFF)
    answer = rag.invoke({"question": "refunds?", "route": "hybrid"})
    assert answer.route == "hybrid" and answer.model == "gpt-4o-mini"
    assert [(s.text, s.cited) for s in answer.segments] == [
        ("Refunds take 30 days [1].", True),
        ("Our team is the friendliest in the world.", False),
        ("Call us today.", False),
    ]
    assert answer.invalid_citations == [5]
    assert [s.text for s in answer.uncited] == ["Our team is the friendliest in the world.", "Call us today."]
    assert answer.marked_text() == (
        "Refunds take 30 days [1]. Our team is the friendliest in the world. [uncited] Call us today. [uncited]"
    )
    assert not base.chat.calls  # type: ignore[attr-defined]  # hybrid runs on the fine-tuned model


def test_rag_answers_have_no_segments_and_not_found_abstains() -> None:
    answer = chain(scripted(NOT_FOUND), hits(2)).invoke({"question": "q", "route": "rag"})
    assert answer.abstained and answer.segments == []
    empty = chain(scripted("never called"), []).invoke({"question": "q", "route": "rag"})
    assert empty.abstained and empty.text == NOT_FOUND and empty.usage.input_tokens == 0


def test_usage_and_cost_of_a_finetuned_openai_model(openai_server) -> None:  # type: ignore[no-untyped-def]
    from ragtune.llm.openai_chat import make_openai_chat

    openai_server.chat.reply("Refunds take 30 days [1].", usage={"prompt_tokens": 1200, "completion_tokens": 300})
    chat = make_openai_chat(FT_ID, api_key="test", base_url=openai_server.url)
    tuned = ChainModel.of(chat, model_id=FT_ID, name="finetuned", is_finetuned=True)
    rag = RagChain(base=scripted("unused"), finetuned=tuned, retriever=lambda q: hits(2), config=OFF)
    pieces = list(rag.stream({"question": "refunds?", "route": "hybrid"}))
    answer = pieces[-1]
    assert isinstance(answer, Answer) and all(isinstance(p, str) for p in pieces[:-1])
    assert "".join(pieces[:-1]) == "Refunds take 30 days [1]."
    usage = answer.usage
    assert (usage.input_tokens, usage.output_tokens, usage.estimated_tokens) == (1200, 300, False)
    expected = PriceTable.default().cost(FT_ID, 1200, 300)
    assert expected > PriceTable.default().cost("gpt-4o-mini", 1200, 300) > 0
    assert usage.cost_usd == pytest.approx(expected)
    (request,) = openai_server.chat.requests
    assert request.body["model"] == FT_ID and request.body["stream"] is True
    assert "<documents>" in request.body["messages"][-1]["content"]


def test_streamed_tokens_keep_the_citation_numbers_of_the_answer() -> None:
    model = scripted("Topic one [2] then topic zero [1].")
    pieces = list(chain(model, hits(3)).stream({"question": "q", "route": "rag"}))
    streamed, answer = "".join(p for p in pieces if isinstance(p, str)), pieces[-1]
    assert isinstance(answer, Answer)
    assert streamed == answer.text == "Topic one [2] then topic zero [1]."
    assert [c.number for c in answer.citations] == [2, 1]
