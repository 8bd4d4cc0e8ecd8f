"""LangChain and LlamaIndex retrievers over a real embedded index (real MiniLM)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from ragtune.config import Settings
from ragtune.filters import F
from ragtune.ingest import sync_paths
from ragtune.retrievers.langchain import RagtuneRetriever
from ragtune.retrievers.llamaindex import RagtuneLlamaRetriever
from ragtune.retrievers.search import Searcher
from ragtune.testing.twins import assert_async_twins
from ragtune.workspace import Workspace

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample_corpus"


@functools.lru_cache(maxsize=1)
def sample_searcher() -> Searcher:
    """One populated store for the module (the standard suite builds retrievers from properties)."""
    store = Path(tempfile.mkdtemp(prefix="ragtune-retriever-")) / "store"
    ws = Workspace(Settings(store=store))
    sync_paths(ws, [SAMPLE])
    return ws.searcher()


class TestLangChainRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[RagtuneRetriever]:
        return RagtuneRetriever

    @property
    def retriever_constructor_params(self) -> dict:  # type: ignore[type-arg]
        return {"searcher": sample_searcher()}

    @property
    def retriever_query_example(self) -> str:
        return "how do refunds work"


def test_langchain_documents_carry_ids_scores_and_sources() -> None:
    retriever = RagtuneRetriever(searcher=sample_searcher(), k=3)
    docs = retriever.invoke("which regions can store my data")
    assert len(docs) == 3
    top = docs[0]
    assert top.metadata["source"].endswith("security.md")
    assert top.id == top.metadata["chunk_id"]
    assert top.metadata["distance"] is not None and 0 <= top.metadata["distance"] <= 2
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_langchain_per_call_overrides_mode_and_filters() -> None:
    retriever = RagtuneRetriever(searcher=sample_searcher(), k=5)
    api = str((SAMPLE / "api.md").resolve())
    docs = retriever.invoke("security", filters=F("source") == api)
    assert docs and all(d.metadata["source"] == api for d in docs)
    bm25 = retriever.invoke("HMAC-SHA256", mode="bm25", k=1)
    assert bm25[0].metadata["source"] == api and bm25[0].metadata["distance"] is None


async def test_langchain_async_matches_sync() -> None:
    retriever = RagtuneRetriever(searcher=sample_searcher(), k=4)
    sync_ids = [d.id for d in retriever.invoke("offline editing conflicts")]
    async_ids = [d.id for d in await retriever.ainvoke("offline editing conflicts")]
    assert sync_ids == async_ids


def test_llamaindex_retriever_sync_and_async() -> None:
    import asyncio

    retriever = RagtuneLlamaRetriever(sample_searcher(), k=2, mode="hybrid", alpha=0.5)
    nodes = retriever.retrieve("Retry-After header on 429")
    assert len(nodes) == 2
    assert nodes[0].node.metadata["source"].endswith("api.md")
    assert nodes[0].score is not None and nodes[0].score >= nodes[1].score  # type: ignore[operator]
    again = asyncio.run(retriever.aretrieve("Retry-After header on 429"))
    assert [n.node.node_id for n in again] == [n.node.node_id for n in nodes]


def test_llamaindex_rejects_bad_options_at_construction() -> None:
    with pytest.raises(ValueError):
        RagtuneLlamaRetriever(sample_searcher(), k=0)


def test_searcher_async_twin_has_the_sync_signature_and_reuses_a_query_vector() -> None:
    """The index contract's twin rule (:func:`assert_async_twins`), on a live searcher."""
    import asyncio

    searcher = sample_searcher()
    assert "asearch" in assert_async_twins(searcher)
    question = "How long can annual Team subscriptions be refunded?"
    vector = searcher.embedder.embed_query(question)
    expected = [h.chunk_id for h in searcher.search(question)]
    assert [h.chunk_id for h in searcher.search(question, query_vector=vector)] == expected
    assert [h.chunk_id for h in asyncio.run(searcher.asearch(question, query_vector=vector))] == expected
    unrelated = searcher.embedder.embed_query("a recipe for banana bread")
    assert [h.chunk_id for h in searcher.search(question, query_vector=unrelated, mode="vector")] != expected


async def test_searcher_min_score_floors_the_top_k() -> None:
    """``min_score`` drops the hits under it from the top ``k``, in ``search`` and ``asearch`` alike."""
    searcher = sample_searcher()
    question = "How long can annual Team subscriptions be refunded?"
    top = searcher.search(question, k=4)
    floor = top[1].score
    expected = [h.chunk_id for h in top if h.score >= floor]
    assert 2 <= len(expected) < len(top)
    assert [h.chunk_id for h in searcher.search(question, k=4, min_score=floor)] == expected
    assert [h.chunk_id for h in await searcher.asearch(question, k=4, min_score=floor)] == expected
