"""WeaviateIndex through the real weaviate-client against the in-process Weaviate test server."""

from __future__ import annotations

import asyncio
import gc
import struct
import time
import warnings
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
import weaviate
from weaviate.proto.v1 import base_pb2, base_search_pb2
from weaviate.util import generate_uuid5

from ragtune.errors import BatchWriteError, ConfigError, IndexBackendError, TransientIndexError
from ragtune.filters import F, FilterExpr, matches, parse_filter
from ragtune.index.base import Index, SearchRequest
from ragtune.index.weaviate import DEFAULT_TENANT, RetryPolicy, WeaviateIndex
from ragtune.index.weaviate._connect import Endpoint
from ragtune.schema import Chunk, DocumentState, Fusion, SearchMode
from ragtune.testing.index_contract import IndexContract

DIM = 8
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.02)


def make_index(server: Any, **kwargs: Any) -> WeaviateIndex:
    kwargs.setdefault("retry", FAST_RETRY)
    return WeaviateIndex(url=f"http://127.0.0.1:{server.http_port}", grpc_port=server.grpc_port, **kwargs)


@pytest.fixture
def index(weaviate_server: Any) -> Iterator[WeaviateIndex]:
    with make_index(weaviate_server) as idx:
        yield idx


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def vectors_for(n: int, seed: int = 0) -> np.ndarray:
    return unit(np.random.default_rng(seed).normal(size=(n, DIM)))


def document(doc_id: str, texts: list[str], **metadata: Any) -> tuple[DocumentState, list[Chunk]]:
    chunks = [
        Chunk(id=f"{doc_id}#{i}", doc_id=doc_id, text=t, position=i, source=f"/docs/{doc_id}.md", metadata=metadata)
        for i, t in enumerate(texts)
    ]
    state = DocumentState(
        doc_id=doc_id, source=f"/docs/{doc_id}.md", doc_hash=f"h-{doc_id}", chunk_ids=tuple(c.id for c in chunks)
    )
    return state, chunks


def add(
    index: WeaviateIndex, doc_id: str, texts: list[str], *, tenant: str | None = None, seed: int = 0, **meta: Any
) -> list[Chunk]:
    state, chunks = document(doc_id, texts, **meta)
    index.replace_document(state, chunks, vectors_for(len(chunks), seed), tenant=tenant)
    return chunks


def uuid_of(chunk_id: str) -> str:
    return str(generate_uuid5(chunk_id))


# -- layout --------------------------------------------------------------------------
def test_collections_use_self_provided_cosine_vectors_and_multi_tenancy(
    index: WeaviateIndex, weaviate_server: Any
) -> None:
    chunks_cfg = weaviate_server.store.get_class("Ragtune").config
    docs_cfg = weaviate_server.store.get_class("Ragtune_docs").config
    vector = chunks_cfg["vectorConfig"]["default"]
    assert vector["vectorizer"] == {"none": {}}
    assert vector["vectorIndexConfig"]["distance"] == "cosine"
    for cfg in (chunks_cfg, docs_cfg):
        assert cfg["multiTenancyConfig"] == {"enabled": True, "autoTenantCreation": True, "autoTenantActivation": True}
    props = {p["name"]: p for p in chunks_cfg["properties"]}
    assert props["search_text"]["indexSearchable"] and props["search_text"]["tokenization"] == "word"
    assert props["doc_id"]["tokenization"] == "field" and not props["doc_id"]["indexSearchable"]
    assert props["page"]["dataType"] == ["int"]
    assert not props["chunk_json"]["indexFilterable"] and not props["chunk_json"]["indexSearchable"]


def test_reopening_an_existing_collection_keeps_its_data(weaviate_server: Any) -> None:
    with make_index(weaviate_server) as first:
        add(first, "a", ["alpha beta"])
    with make_index(weaviate_server) as second:
        assert set(second.documents()) == {"a"}
    assert len(weaviate_server.http_requests("POST /v1/schema")) == 2  # created once, not again


def _raw_client(server: Any) -> weaviate.WeaviateClient:
    """A plain weaviate client on the test server, for tests that set up collections by hand."""
    return weaviate.connect_to_custom(
        "127.0.0.1", server.http_port, False, "127.0.0.1", server.grpc_port, False, skip_init_checks=True
    )


def test_refuses_a_collection_without_multi_tenancy(weaviate_server: Any) -> None:
    client = _raw_client(weaviate_server)
    try:
        client.collections.create("Plain")
        with pytest.raises(ConfigError, match="without multi-tenancy"):
            make_index(weaviate_server, collection="Plain")
    finally:
        client.close()


def test_invalid_collection_name_is_a_config_error(weaviate_server: Any) -> None:
    with pytest.raises(ConfigError, match="collection name"):
        make_index(weaviate_server, collection="my-docs")


# -- writes ---------------------------------------------------------------------------
def test_replace_document_round_trips_chunks_with_uuid5_ids(index: WeaviateIndex, weaviate_server: Any) -> None:
    state, chunks = document("doc", ["first part", "second part"], lang="en", year=2020, tags=["a", "b"])
    chunks[1] = chunks[1].model_copy(update={"embed_text": "Title: second part", "page": 3, "section": "Intro"})
    index.replace_document(state, chunks, vectors_for(2))
    assert index.get_chunks([chunks[1].id, "missing", chunks[0].id]) == [chunks[1], chunks[0]]
    assert index.documents() == {"doc": state}
    stored = weaviate_server.objects("Ragtune", DEFAULT_TENANT)
    assert set(stored) == {uuid_of(c.id) for c in chunks}
    second = stored[uuid_of(chunks[1].id)]
    assert second["search_text"] == "Title: second part"
    assert second["meta_year__number"] == 2020.0 and second["meta_tags__text_array"] == ["a", "b"]
    assert weaviate_server.objects("Ragtune_docs", DEFAULT_TENANT)[str(generate_uuid5("doc"))]["doc_hash"] == "h-doc"


def test_document_state_is_written_after_the_chunks(index: WeaviateIndex, weaviate_server: Any) -> None:
    add(index, "doc", ["one", "two"])
    order = [c for c in weaviate_server.calls if c.name in ("BatchObjects", "BatchDelete")]
    collections = [c.request.objects[0].collection if c.name == "BatchObjects" else c.request.collection for c in order]
    assert collections == ["Ragtune", "Ragtune", "Ragtune_docs"]


def test_shrunk_document_loses_its_stale_chunks(index: WeaviateIndex, weaviate_server: Any) -> None:
    add(index, "doc", ["a", "b", "c", "d"])
    kept = add(index, "doc", ["a", "B changed"])
    assert {c.id for c in index.get_chunks([f"doc#{i}" for i in range(4)])} == {c.id for c in kept}
    assert index.stats().chunks == 2


def test_stale_chunk_deletion_pages_through_the_servers_result_cap(index: WeaviateIndex, weaviate_server: Any) -> None:
    add(index, "doc", [f"chunk {i}" for i in range(12)])
    weaviate_server.query_maximum_results = 5
    add(index, "doc", ["chunk 0 changed", "chunk 1 changed"])
    assert index.stats().chunks == 2


def test_interrupted_ingest_leaves_the_document_looking_changed(index: WeaviateIndex, weaviate_server: Any) -> None:
    add(index, "doc", ["old one", "old two"])
    state, chunks = document("doc", ["new one", "new two", "new three"])
    state = state.model_copy(update={"doc_hash": "h-new"})
    weaviate_server.fail_uuids[uuid_of(chunks[2].id)] = "disk full"
    with pytest.raises(BatchWriteError):
        index.replace_document(state, chunks, vectors_for(3))
    assert index.documents()["doc"].doc_hash == "h-doc"  # the old state: the next sync redoes the document
    weaviate_server.fail_uuids.clear()
    index.replace_document(state, chunks, vectors_for(3))
    assert index.documents()["doc"] == state
    assert sorted(c.text for c in index.get_chunks(list(state.chunk_ids))) == ["new one", "new three", "new two"]
    assert index.stats().chunks == 3  # the chunks of the interrupted run are not left behind


def test_per_object_batch_errors_raise_with_the_failed_chunk_ids(index: WeaviateIndex, weaviate_server: Any) -> None:
    state, chunks = document("doc", ["one", "two", "three"])
    weaviate_server.fail_uuids[uuid_of(chunks[1].id)] = "shard is read-only"
    with pytest.raises(BatchWriteError) as caught:
        index.replace_document(state, chunks, vectors_for(3))
    assert caught.value.failed == {chunks[1].id: "shard is read-only"}
    assert "doc#1" in str(caught.value)
    assert len(weaviate_server.grpc_requests("BatchObjects")) == 1  # per-object errors are not retried


def test_a_batch_where_every_object_fails_raises_with_all_ids(index: WeaviateIndex, weaviate_server: Any) -> None:
    state, chunks = document("doc", ["one", "two"])
    for chunk in chunks:
        weaviate_server.fail_uuids[uuid_of(chunk.id)] = "out of memory"
    with pytest.raises(BatchWriteError) as caught:
        index.replace_document(state, chunks, vectors_for(2))
    assert set(caught.value.failed) == {c.id for c in chunks}
    assert "out of memory" in caught.value.failed[chunks[0].id]


def test_server_side_validation_errors_surface_as_batch_errors(index: WeaviateIndex, weaviate_server: Any) -> None:
    add(index, "a", ["eight dimensions"])
    state, chunks = document("b", ["four dimensions"])
    with pytest.raises(BatchWriteError) as caught:
        index.replace_document(state, chunks, unit(np.ones((1, 4))))
    assert "length 4" in caught.value.failed["b#0"]


def test_dim_mismatch_is_refused_before_writing(weaviate_server: Any) -> None:
    with make_index(weaviate_server, dim=DIM) as index:
        state, chunks = document("doc", ["x"])
        with pytest.raises(ConfigError, match="dimension 4"):
            index.replace_document(state, chunks, unit(np.ones((1, 4))))
        with pytest.raises(ConfigError, match="dimension 3"):
            index.search(SearchRequest(query_vector=np.ones(3, np.float32), mode="vector"))


def test_metadata_keys_of_different_kinds_share_a_name(index: WeaviateIndex) -> None:
    add(index, "a", ["first"], year=2020)
    add(index, "b", ["second"], year="2020")
    add(index, "c", ["third"], year=2020.5)
    found = {
        text: {
            h.doc_id
            for h in index.search(
                SearchRequest(query_vector=vectors_for(1)[0], mode="vector", filters=parse_filter(text))
            )
        }
        for text in ("year=2020", "year='2020'", "year>2020", "year!=2020")
    }
    assert found == {"year=2020": {"a"}, "year='2020'": {"b"}, "year>2020": {"c"}, "year!=2020": {"b", "c"}}


def test_delete_documents_returns_the_chunk_count(index: WeaviateIndex) -> None:
    add(index, "a", ["one", "two"])
    add(index, "b", ["three"])
    assert index.delete_documents(["a", "missing"]) == 2
    assert set(index.documents()) == {"b"}
    assert index.stats().chunks == 1
    assert index.delete_documents(["a"], tenant="nobody") == 0


# -- retries ----------------------------------------------------------------------------
def test_transient_grpc_unavailable_is_retried_then_succeeds(index: WeaviateIndex, weaviate_server: Any) -> None:
    weaviate_server.fail_next("BatchDelete", times=2, code=grpc.StatusCode.UNAVAILABLE)
    add(index, "doc", ["one"])
    assert len(weaviate_server.grpc_requests("BatchDelete")) == 3
    assert index.stats().chunks == 1


def test_transient_http_503_is_retried_then_succeeds(weaviate_server: Any) -> None:
    weaviate_server.fail_next("GET /v1/schema/Ragtune", times=2, status=503)
    with make_index(weaviate_server) as index:
        add(index, "doc", ["one"])
    assert len(weaviate_server.http_requests("GET /v1/schema/Ragtune")) >= 3


def test_retries_give_up_with_a_transient_error(weaviate_server: Any) -> None:
    with make_index(weaviate_server, retry=RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.01)) as index:
        add(index, "doc", ["text"])
        before = len(weaviate_server.grpc_requests("BatchDelete"))
        weaviate_server.fail_next("BatchDelete", times=10, code=grpc.StatusCode.UNAVAILABLE)
        with pytest.raises(TransientIndexError, match="after retries"):
            index.delete_documents(["doc"])
        assert len(weaviate_server.grpc_requests("BatchDelete")) - before == 3


async def test_async_calls_retry_like_sync_ones(weaviate_server: Any) -> None:
    """The async client gets the sync client's retry policy: as many tries per search, at most 3 to connect."""
    index = make_index(weaviate_server, retry=RetryPolicy(attempts=5, initial_wait=0.01, max_wait=0.01))
    try:
        add(index, "doc", ["cats purr"])
        request = SearchRequest(query_text="cats", mode="bm25")
        before = len(weaviate_server.http_requests("GET /v1/meta"))
        weaviate_server.fail_next("GET /v1/meta", times=10, status=503)
        with pytest.raises(TransientIndexError, match="connect"):
            await index.asearch(request)
        assert len(weaviate_server.http_requests("GET /v1/meta")) - before == 3
        weaviate_server.clear_faults()
        assert [h.doc_id for h in await index.asearch(request)] == ["doc"]

        before = len(weaviate_server.grpc_requests("Search"))
        weaviate_server.fail_next("Search", times=10, code=grpc.StatusCode.RESOURCE_EXHAUSTED)
        with pytest.raises(TransientIndexError, match="after retries"):
            index.search(request)
        sync_tries = len(weaviate_server.grpc_requests("Search")) - before
        weaviate_server.clear_faults()
        before = len(weaviate_server.grpc_requests("Search"))
        weaviate_server.fail_next("Search", times=10, code=grpc.StatusCode.RESOURCE_EXHAUSTED)
        with pytest.raises(TransientIndexError, match="after retries"):
            await index.asearch(request)
        assert len(weaviate_server.grpc_requests("Search")) - before == sync_tries == 5
    finally:
        await index.aclose()
    assert wait_for(lambda: weaviate_server.open_http_connections == 0)  # failed connects left nothing open


def test_client_errors_are_not_retried(index: WeaviateIndex, weaviate_server: Any) -> None:
    add(index, "plain", ["one"])
    weaviate_server.fail_next("POST /v1/schema/Ragtune/properties", status=422)
    state, chunks = document("doc", ["one"], lang="en")
    with pytest.raises(IndexBackendError) as caught:
        index.replace_document(state, chunks, vectors_for(1))
    assert not isinstance(caught.value, TransientIndexError)
    assert len(weaviate_server.http_requests("POST /v1/schema/Ragtune/properties")) == 1

    weaviate_server.fail_next("Search", code=grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(IndexBackendError, match="bm25 search failed"):
        index.search(SearchRequest(query_text="one", mode="bm25"))
    assert len(weaviate_server.grpc_requests("Search")) == 1


def test_unreachable_server_fails_fast_with_a_transient_error() -> None:
    start = time.perf_counter()
    with pytest.raises(TransientIndexError, match="gRPC port"):
        WeaviateIndex(url="http://127.0.0.1:9", grpc_port=9, retry=RetryPolicy(attempts=1))
    assert time.perf_counter() - start < 5


# -- search -------------------------------------------------------------------------------
@pytest.mark.parametrize("fusion", [Fusion.RELATIVE_SCORE, Fusion.RANKED])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_hybrid_sends_alpha_fusion_and_vector_explicitly(
    index: WeaviateIndex, weaviate_server: Any, alpha: float, fusion: Fusion
) -> None:
    add(index, "doc", ["cats purr", "dogs bark"])
    query = vectors_for(1, seed=7)[0]
    index.search(SearchRequest(query_text="cats", query_vector=query, alpha=alpha, fusion=fusion, k=2))
    hybrid = weaviate_server.grpc_requests("Search")[-1].hybrid_search
    expected = (
        base_search_pb2.Hybrid.FUSION_TYPE_RANKED
        if fusion is Fusion.RANKED
        else base_search_pb2.Hybrid.FUSION_TYPE_RELATIVE_SCORE
    )
    assert hybrid.fusion_type == expected
    assert hybrid.alpha == pytest.approx(alpha)
    assert list(hybrid.properties) == ["search_text"]
    assert list(hybrid.targets.target_vectors) == ["default"]
    assert struct.unpack(f"<{DIM}f", hybrid.vector_bytes) == pytest.approx(query.tolist())


def test_hybrid_reports_fused_score_and_raw_distance_separately(index: WeaviateIndex, weaviate_server: Any) -> None:
    chunks = add(index, "doc", ["cats purr loudly", "dogs bark", "birds sing"], seed=3)
    vectors = vectors_for(3, seed=3)
    query = vectors[0]
    hits = index.search(SearchRequest(query_text="cats", query_vector=query, alpha=0.5, k=3))
    assert hits[0].chunk_id == chunks[0].id
    assert hits[0].score == pytest.approx(1.0)  # best on both sides: 0.5 * 1 + 0.5 * 1
    for hit in hits:
        row = vectors[[c.id for c in chunks].index(hit.chunk_id)]
        assert hit.distance == pytest.approx(1 - float(np.dot(query, row)), abs=1e-5)
    metadata = weaviate_server.grpc_requests("Search")[-1].metadata
    assert metadata.score and metadata.explain_score and list(metadata.vectors) == ["default"]


def test_vector_search_ranks_by_cosine_distance(index: WeaviateIndex, weaviate_server: Any) -> None:
    chunks = add(index, "doc", ["a", "b", "c", "d"], seed=5)
    vectors = vectors_for(4, seed=5)
    hits = index.search(SearchRequest(query_vector=vectors[2], mode=SearchMode.VECTOR, k=4))
    assert hits[0].chunk_id == chunks[2].id and hits[0].distance == pytest.approx(0.0, abs=1e-6)
    expected = sorted(1 - float(np.dot(vectors[2], v)) for v in vectors)
    assert [h.distance for h in hits] == pytest.approx(expected, abs=1e-5)
    assert [h.score for h in hits] == pytest.approx([1 - d for d in expected], abs=1e-5)
    request = weaviate_server.grpc_requests("Search")[-1]
    assert request.near_vector.vectors or request.near_vector.vector_bytes
    assert request.limit == 4


def test_bm25_searches_the_embedded_text(index: WeaviateIndex, weaviate_server: Any) -> None:
    state, chunks = document("doc", ["stripes everywhere", "plain text"])
    chunks[0] = chunks[0].model_copy(update={"embed_text": "Zebra facts: stripes everywhere"})
    index.replace_document(state, chunks, vectors_for(2))
    hits = index.search(SearchRequest(query_text="zebra", mode=SearchMode.BM25))
    assert [h.chunk_id for h in hits] == [chunks[0].id]
    assert hits[0].score > 0 and hits[0].distance is None
    assert hits[0].text == "stripes everywhere"
    assert list(weaviate_server.grpc_requests("Search")[-1].bm25_search.properties) == ["search_text"]


def corpus(index: WeaviateIndex) -> list[Chunk]:
    out = []
    out += add(
        index,
        "guide",
        ["install the package", "configure it"],
        lang="en",
        tags=["howto", "setup"],
        year=2021,
        draft=False,
    )
    out += add(index, "leitfaden", ["installieren", "konfigurieren"], lang="de", tags=["howto"], year=2023, draft=True)
    out += add(index, "notes", ["random notes"], author="Ann Lee", year=2022.5)
    out += add(index, "bare", ["no metadata at all"])
    return out


def filter_fields(chunk: Chunk) -> dict[str, Any]:
    fields: dict[str, Any] = dict(chunk.metadata)
    for name in ("id", "doc_id", "source", "title", "section", "page", "position"):
        fields[name] = getattr(chunk, name)
    return fields


FILTERS: list[FilterExpr] = [
    F("lang") == "en",
    F("lang") != "en",
    F("year") >= 2022,
    F("year") < 2022.5,
    F("year") <= 2022.4,
    F("year") > 2021,
    F("lang").is_in(["de", "fr"]),
    F("year").is_in([2021, 2022.5, "2023"]),
    F("tags").contains("setup"),
    F("tags") == "howto",
    F("tags") != "setup",
    F("author").contains("Ann"),
    F("author").contains("ann"),
    F("doc_id") == "notes",
    F("source").contains("guide"),
    F("position") >= 1,
    F("position") < 0.5,
    F("page") == 1,
    F("id") == "guide#1",
    F("draft") == True,  # noqa: E712 - builds a filter
    F("draft") != True,  # noqa: E712
    F("missing") == "x",
    F("missing") != "x",
    F("lang") == 3,
    F("lang").is_in([]),
    (F("lang") == "en") & (F("position") == 0),
    (F("lang") == "de") | (F("year") > 2022),
    ((F("lang") == "en") | (F("author") == "Ann Lee")) & (F("position") == 0),
    parse_filter("year>=2021.5"),
    parse_filter("lang in en,de"),
]


@pytest.mark.parametrize("expr", FILTERS, ids=[f.model_dump_json() for f in FILTERS])
def test_filters_match_the_reference_semantics(index: WeaviateIndex, expr: FilterExpr) -> None:
    chunks = corpus(index)
    expected = {c.id for c in chunks if matches(expr, filter_fields(c))}
    query = vectors_for(1, seed=11)[0]
    for mode in ("vector", "hybrid"):
        hits = index.search(
            SearchRequest(query_text="install notes", query_vector=query, mode=mode, k=50, filters=expr)
        )
        assert {h.chunk_id for h in hits} == expected, mode


def test_filters_are_translated_to_weaviate_operators(index: WeaviateIndex, weaviate_server: Any) -> None:
    corpus(index)
    query = vectors_for(1)[0]

    def sent(expr: FilterExpr) -> base_pb2.Filters:
        index.search(SearchRequest(query_vector=query, mode="vector", filters=expr))
        return weaviate_server.grpc_requests("Search")[-1].filters

    ops = base_pb2.Filters
    eq = sent(F("lang") == "en")
    assert (eq.operator, eq.target.property, eq.value_text) == (ops.OPERATOR_EQUAL, "meta_lang__text", "en")
    found_in = sent(F("lang").is_in(["de", "fr"]))
    assert found_in.operator == ops.OPERATOR_CONTAINS_ANY and list(found_in.value_text_array.values) == ["de", "fr"]
    like = sent(F("author").contains("Ann"))
    assert (like.operator, like.value_text) == (ops.OPERATOR_LIKE, "*Ann*")
    page = sent(F("page") >= 2)
    assert (page.operator, page.target.property, page.value_int) == (ops.OPERATOR_GREATER_THAN_EQUAL, "page", 2)
    year = sent(F("year") < 2022)
    assert (year.operator, year.value_number) == (ops.OPERATOR_LESS_THAN, 2022.0)
    both = sent((F("doc_id") == "guide") | (F("source") != "x"))
    assert both.operator == ops.OPERATOR_OR and [f.operator for f in both.filters] == [
        ops.OPERATOR_EQUAL,
        ops.OPERATOR_NOT_EQUAL,
    ]
    calls = len(weaviate_server.grpc_requests("Search"))
    assert index.search(SearchRequest(query_vector=query, mode="vector", filters=F("missing") == "x")) == []
    assert len(weaviate_server.grpc_requests("Search")) == calls  # a filter nothing can match skips the query


def test_a_field_added_by_another_writer_is_found(weaviate_server: Any) -> None:
    with make_index(weaviate_server) as reader, make_index(weaviate_server) as writer:
        reader.stats()
        add(writer, "doc", ["fresh"], colour="red")
        hits = reader.search(SearchRequest(query_vector=vectors_for(1)[0], mode="vector", filters=F("colour") == "red"))
        assert [h.doc_id for h in hits] == ["doc"]


# -- tenants --------------------------------------------------------------------------------
def test_tenants_are_created_on_write_and_isolated(index: WeaviateIndex, weaviate_server: Any) -> None:
    add(index, "shared", ["default tenant text"])
    add(index, "acme-doc", ["acme tenant text"], tenant="acme")
    add(index, "globex-doc", ["globex tenant text"], tenant="globex_2")
    assert set(weaviate_server.store.get_class("Ragtune").shards) == {DEFAULT_TENANT, "acme", "globex_2"}
    assert index.tenants() == ["acme", "globex_2"]
    request = SearchRequest(query_text="tenant text", mode="bm25", tenant="acme")
    assert [h.doc_id for h in index.search(request)] == ["acme-doc"]
    assert [h.doc_id for h in index.search(request.model_copy(update={"tenant": None}))] == ["shared"]
    assert set(index.documents(tenant="globex_2")) == {"globex-doc"}
    assert index.stats(tenant="acme").chunks == 1
    stats = index.stats()
    assert (stats.documents, stats.chunks) == (3, 3)
    assert stats.tenants == {
        "": {"documents": 1, "chunks": 1},
        "acme": {"documents": 1, "chunks": 1},
        "globex_2": {"documents": 1, "chunks": 1},
    }


def test_unknown_tenants_read_as_empty(index: WeaviateIndex, weaviate_server: Any) -> None:
    assert index.search(SearchRequest(query_text="x", mode="bm25", tenant="nobody")) == []
    assert index.documents(tenant="nobody") == {}
    assert index.get_chunks(["a"], tenant="nobody") == []
    assert index.stats(tenant="nobody").chunks == 0
    assert index.tenants() == []
    assert "nobody" not in weaviate_server.store.get_class("Ragtune").shards


def test_emptied_tenants_are_not_listed(index: WeaviateIndex) -> None:
    add(index, "doc", ["text"], tenant="acme")
    index.delete_documents(["doc"], tenant="acme")
    assert index.tenants() == []
    assert index.stats().tenants == {}


@pytest.mark.parametrize("tenant", ["", "has space", "x" * 65, "ünï"])
def test_invalid_tenant_names_are_config_errors(index: WeaviateIndex, tenant: str) -> None:
    with pytest.raises(ConfigError, match="tenant"):
        index.search(SearchRequest(query_text="x", mode="bm25", tenant=tenant))


# -- lifecycle and async ----------------------------------------------------------------------
def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_close_leaves_no_open_connections(weaviate_server: Any) -> None:
    assert wait_for(lambda: weaviate_server.open_http_connections == 0)  # earlier tests closed theirs too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with make_index(weaviate_server) as index:
            add(index, "doc", ["text"])
            assert weaviate_server.open_http_connections > 0
            client = index._client
        assert not client.is_connected()
        assert wait_for(lambda: weaviate_server.open_http_connections == 0)
        index.close()  # a second close is harmless
        del index, client
        gc.collect()
    assert not [w for w in caught if "unclosed" in str(w.message).lower() or issubclass(w.category, ResourceWarning)]


def test_a_closed_index_refuses_work(index: WeaviateIndex) -> None:
    index.close()
    with pytest.raises(IndexBackendError, match="closed"):
        index.search(SearchRequest(query_text="x", mode="bm25"))


async def test_async_search_uses_the_async_client(weaviate_server: Any) -> None:
    index = make_index(weaviate_server)
    try:
        chunks = add(index, "doc", ["cats purr", "dogs bark", "birds sing"], seed=2)
        query = vectors_for(3, seed=2)[1]
        requests = [
            SearchRequest(query_text="dogs", query_vector=query, mode=mode, k=3)
            for mode in ("vector", "bm25", "hybrid")
        ]
        results = await asyncio.gather(*(index.asearch(r) for r in requests))
        assert index._async_client is not None and index._async_client.is_connected()
        for request, hits in zip(requests, results, strict=True):
            sync_hits = index.search(request)
            assert [h.chunk_id for h in hits] == [h.chunk_id for h in sync_hits]
            assert [h.score for h in hits] == pytest.approx([h.score for h in sync_hits])
        assert results[0][0].chunk_id == chunks[1].id
        assert await index.asearch(requests[1].model_copy(update={"tenant": "nobody"})) == []
        assert [
            h.doc_id for h in await index.asearch(requests[1].model_copy(update={"filters": F("lang") == "x"}))
        ] == []
    finally:
        async_client = index._async_client
        await index.aclose()
    assert async_client is not None and not async_client.is_connected()
    assert not index._client.is_connected()
    assert wait_for(lambda: weaviate_server.open_http_connections == 0)


async def test_async_search_works_across_event_loops_and_closes_from_sync_code(weaviate_server: Any) -> None:
    index = make_index(weaviate_server)
    add(index, "doc", ["cats purr"])
    request = SearchRequest(query_text="cats", mode="bm25")
    assert [h.doc_id for h in await index.asearch(request)] == ["doc"]
    other_loop = await asyncio.to_thread(asyncio.run, index.asearch(request))
    assert [h.doc_id for h in other_loop] == ["doc"]
    async_client = index._async_client
    index.close()  # sync close still shuts the async client down on the loop that opened it
    assert async_client is not None and not async_client.is_connected()
    assert wait_for(lambda: weaviate_server.open_http_connections == 0)
    with pytest.raises(IndexBackendError, match="closed"):
        await index.asearch(request)


def test_a_given_client_is_used_and_left_open(weaviate_server: Any) -> None:
    client = _raw_client(weaviate_server)
    try:
        with WeaviateIndex(client=client, collection="Given") as index:
            add(index, "doc", ["hello there"])
            assert index.has_native_async is False
            hits = asyncio.run(index.asearch(SearchRequest(query_text="hello", mode="bm25")))
            assert [h.doc_id for h in hits] == ["doc"]
        assert client.is_connected()
    finally:
        client.close()


def test_nothing_the_client_called_is_unimplemented(index: WeaviateIndex, weaviate_server: Any) -> None:
    corpus(index)
    index.search(SearchRequest(query_text="install", query_vector=vectors_for(1)[0], filters=F("lang") == "en"))
    index.documents()
    index.stats()
    index.tenants()
    index.delete_documents(["guide"])
    assert weaviate_server.unimplemented == []


# -- endpoint parsing ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:8080", ("localhost", 8080, False, "localhost")),
        ("localhost:9090", ("localhost", 9090, False, "localhost")),
        ("https://weaviate.example.com", ("weaviate.example.com", 443, True, "weaviate.example.com")),
        (
            "https://abc.c0.europe-west3.gcp.weaviate.cloud",
            ("abc.c0.europe-west3.gcp.weaviate.cloud", 443, True, "grpc-abc.c0.europe-west3.gcp.weaviate.cloud"),
        ),
    ],
)
def test_endpoint_parsing(url: str, expected: tuple[str, int, bool, str]) -> None:
    e = Endpoint.parse(url, 50051)
    assert (e.http_host, e.http_port, e.http_secure, e.grpc_host) == expected


def test_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Invalid Weaviate URL"):
        Endpoint.parse("ftp://host", 50051)


# -- the contract suite ------------------------------------------------------------------------
class TestWeaviateIndexContract(IndexContract):
    """The shared Index contract, through the real client against the test server."""

    @pytest.fixture
    def index(self, weaviate_server: Any) -> Iterator[Index]:
        with make_index(weaviate_server) as idx:
            yield idx


# -- end to end through the CLI, with real MiniLM embeddings ------------------------------------
def test_cli_ingest_status_search_on_weaviate(
    weaviate_server: Any, sample_corpus: Any, tmp_path: Any, minilm: Any
) -> None:
    import json

    from typer.testing import CliRunner

    from ragtune.cli.main import app

    def run(*args: str) -> Any:
        common = ["--store", str(tmp_path / "store"), "--backend", "weaviate", "--collection", "Cli"]
        common += ["--weaviate-url", f"http://127.0.0.1:{weaviate_server.http_port}"]
        common += ["--weaviate-grpc-port", str(weaviate_server.grpc_port), "--json"]
        result = CliRunner().invoke(app, [*args, *common], terminal_width=200)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return json.loads(result.stdout)

    first = run("ingest", str(sample_corpus))
    assert first["added"] == 5 and first["errors"] == []
    again = run("ingest", str(sample_corpus))
    assert (again["added"], again["unchanged"]) == (0, 5)
    status = run("status")
    assert (status["documents"], status["chunks"]) == (5, first["chunks_added"])
    hits = run("search", "refund within 30 days", "--k", "3")
    assert hits[0]["source"].endswith("pricing.md") and hits[0]["distance"] is not None
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    keyword = run("search", "429", "--mode", "bm25", "--k", "1")
    assert keyword[0]["source"].endswith("api.md") and keyword[0]["distance"] is None
    assert weaviate_server.unimplemented == []
