"""The RagChain runnable: the real local model end to end (few, short), dispatch, fallbacks and build_chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.chains.answer import Answer
from ragtune.chains.build import build_chain
from ragtune.chains.models import ChainModel
from ragtune.chains.rag_chain import ChainConfig, RagChain
from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.llm.pricing import PriceTable
from ragtune.llm.registry import ModelEntry, ModelRegistry
from ragtune.routing import Route, RouteSet, Rule
from ragtune.schema import Chunk, Hit
from ragtune.testing.scripted import ScriptedChatModel
from ragtune.workspace import Workspace

FT_ID = "ft:gpt-4o-mini-2024-07-18:acme::abc123"

HITS = [
    Hit(
        chunk=Chunk(
            id="p-3",
            doc_id="pricing",
            text="Annual Team subscriptions can be refunded in full within 30 days of purchase.",
            position=3,
            source="/docs/pricing.md",
            title="Plans and pricing",
        ),
        score=0.9,
        distance=0.3,
        rank=0,
    )
]


def scripted(*turns: str, model_id: str = "gpt-4o-mini") -> ChainModel:
    return ChainModel(chat=ScriptedChatModel(list(turns)), model_id=model_id, provider="openai")


@pytest.fixture(scope="module")
def local_model() -> ChainModel:
    from ragtune.llm.local import LocalChatModel

    return ChainModel.of(LocalChatModel(max_new_tokens=12))


@pytest.mark.slow
def test_local_model_streams_tokens_then_the_answer(local_model: ChainModel) -> None:
    # grounding off: the final text is the streamed draft (strict may replace it; see tests/test_grounding.py)
    chain = RagChain(base=local_model, retriever=lambda q: HITS, config=ChainConfig(grounding="off"))
    pieces = list(chain.stream({"question": "How long is the refund window?", "route": "rag"}))
    answer = pieces[-1]
    assert isinstance(answer, Answer) and len(pieces) >= 3
    tokens = pieces[:-1]
    assert all(isinstance(p, str) for p in tokens)
    assert answer.text and "".join(tokens).strip().startswith(answer.text.split("[")[0].strip()[:10])
    assert answer.route == "rag" and answer.model == "smollm2-135m-instruct"
    assert [c.chunk_id for c in answer.context] == ["p-3"]
    usage = answer.usage
    assert usage.input_tokens > 40 and 0 < usage.output_tokens <= 12 and not usage.estimated_tokens
    assert usage.cost_usd == 0.0 and usage.latency_ms["synthesize"] > 0


@pytest.mark.slow
async def test_local_model_ainvoke_and_astream(local_model: ChainModel) -> None:
    chain = RagChain(base=local_model)
    answer = await chain.ainvoke({"question": "What is the capital of France?", "route": "direct"})
    assert answer.route == "direct" and answer.text and answer.decision is not None
    assert answer.decision.strategy == "forced" and answer.citations == [] and answer.usage.output_tokens > 0
    pieces = [p async for p in chain.astream({"question": "What is the capital of France?", "route": "direct"})]
    final = pieces[-1]
    assert isinstance(final, Answer) and final.text == answer.text  # greedy decoding: the same answer
    assert "".join(p for p in pieces[:-1] if isinstance(p, str)).strip() == final.text


def test_routes_dispatch_to_the_right_model_and_fall_back_without_finetuned() -> None:
    base, tuned = scripted("from base"), scripted("from tuned", model_id=FT_ID)
    chain = RagChain(base=base, finetuned=tuned, retriever=lambda q: HITS)
    direct = chain.invoke({"question": "q", "route": "direct"})
    assert direct.text == "from base" and direct.unsourced and not direct.citations
    assert not chain.invoke({"question": "q", "route": "rag"}).unsourced
    tuned_answer = chain.invoke({"question": "q", "route": "finetuned"})
    assert (tuned_answer.text, tuned_answer.model) == ("from tuned", FT_ID)
    assert "<documents>" not in str(tuned.chat.calls[0][-1].content)  # type: ignore[attr-defined]
    assert tuned_answer.usage.cost_usd == pytest.approx(
        PriceTable.default().cost(FT_ID, tuned_answer.usage.input_tokens, tuned_answer.usage.output_tokens)
    )

    # grounding off: the reply names the model that wrote it (tests/test_grounding.py checks grounding)
    alone = RagChain(base=scripted("base did it"), retriever=lambda q: HITS, config=ChainConfig(grounding="off"))
    for route in ("finetuned", "hybrid"):
        answer = alone.invoke({"question": "q", "route": route})
        assert answer.route == route and answer.text == "base did it"
        assert answer.decision is not None and "No 'finetuned' model is registered" in answer.decision.reason


def test_batch_and_bad_input() -> None:
    chain = RagChain(base=scripted("one answer"), retriever=lambda q: HITS)
    answers = chain.batch(["first?", {"question": "second?", "route": "direct"}])
    assert [a.route for a in answers] == ["rag", "direct"] and [a.question for a in answers] == ["first?", "second?"]
    with pytest.raises(ConfigError, match="Unknown route"):
        chain.invoke({"question": "q", "route": "sideways"})
    with pytest.raises(ConfigError, match="retriever"):
        RagChain(base=scripted("x")).invoke("needs documents")


def test_custom_route_names_run_their_target(minilm) -> None:  # type: ignore[no-untyped-def]
    from ragtune.routing import build_router

    routes = RouteSet.of(
        Route(name="docs", target="rag", examples=("what does the manual say about refunds",)),
        Route(name="chitchat", target="direct", examples=("hello how are you", "good morning")),
    )
    chain = RagChain(base=scripted("ok"), router=build_router(routes, embedder=minilm), retriever=lambda q: HITS)
    answer = chain.invoke("good morning to you")
    assert answer.route == "direct" and answer.decision is not None and answer.decision.route == "chitchat"


def test_build_chain_uses_the_registry_and_its_snapshot(tmp_path: Path, sample_corpus: Path, openai_server) -> None:  # type: ignore[no-untyped-def]
    from ragtune.ingest import sync_paths

    settings = Settings.load(
        {"store": str(tmp_path / "store"), "openai_api_key": "test", "openai_base_url": openai_server.url}
    )
    with Workspace(settings) as ws:
        sync_paths(ws, [str(sample_corpus)])
        pricing = next(d for d in ws.index.documents() if d.endswith("pricing.md"))
        registry = ModelRegistry(ws.registry_path)
        registry.register(
            ModelEntry(name="finetuned", provider="openai", model_id=FT_ID, base="base", snapshot={pricing: "old-hash"})
        )
        chain = build_chain(ws, rules=[Rule(route="finetuned", pattern="in our tone")], max_new_tokens=8)
        assert chain.finetuned is not None and chain.finetuned.model_id == FT_ID and chain.finetuned.is_finetuned

        stale = chain.invoke("Explain refunds of annual Team subscriptions in our tone")
        assert stale.route == "rag" and "stale" in stale.decision.reason  # type: ignore[union-attr]
        # build_chain defaults to ragtune ask's: the packaged model under strict grounding quotes (no generator)
        assert stale.model is None and stale.mode == "extract" and stale.context[0].source.endswith("pricing.md")
        assert openai_server.chat.requests == []  # the stale fine-tuned model was not asked

        openai_server.chat.reply("Hello from the tuned model!")
        fresh = chain.invoke("Say hello to a new customer in our tone")
        assert fresh.route == "finetuned" and fresh.text == "Hello from the tuned model!"
        assert fresh.usage.cost_usd and fresh.usage.cost_usd > 0
        assert openai_server.chat.requests[-1].body["model"] == FT_ID


def test_build_chain_takes_one_options_model_or_the_old_keywords(tmp_path: Path, openai_server) -> None:  # type: ignore[no-untyped-def]
    from ragtune.chains.options import ChainOptions
    from ragtune.routing.semantic import SemanticOptions
    from ragtune.testing.embeddings import FakeEmbedder

    settings = Settings.load(
        {
            "store": str(tmp_path / "store"),
            "openai_api_key": "test",
            "openai_base_url": openai_server.url,
            "chat_model": "openai:gpt-4o-mini",
        }
    )
    prices = PriceTable.default()
    rule = Rule(route="direct", pattern="hello there")
    config = ChainConfig(mode="stuff", grounding="annotate")
    with Workspace(settings, embedder=FakeEmbedder(dim=6)) as ws:
        by_keywords = build_chain(
            ws, config=config, rules=[rule], semantic={"threshold": 0.5}, max_new_tokens=8, prices=prices
        )
        options = ChainOptions(
            config=config, rules=(rule,), semantic=SemanticOptions(threshold=0.5), max_new_tokens=8, prices=prices
        )
        by_options = build_chain(ws, options=options)
        for chain in (by_keywords, by_options):
            assert chain.config == config and chain.prices is prices
            assert chain.router is not None
            strategies = {s.name: s for s in chain.router.strategies}
            assert strategies["rules"].rules == [rule]  # type: ignore[attr-defined]
            assert strategies["semantic"].threshold == 0.5  # type: ignore[attr-defined]
        with pytest.raises(TypeError, match="not both"):
            build_chain(ws, options=options, max_new_tokens=16)
    assert openai_server.chat.requests == []  # building calls no model
