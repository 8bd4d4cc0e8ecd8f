"""The behaviour every :class:`~ragtune.index.base.Index` backend must show.

Subclass :class:`IndexContract` in a test module and provide one fixture,
``index``, that yields an empty index and cleans it up afterwards::

    from ragtune.testing.index_contract import IndexContract

    class TestMyIndex(IndexContract):
        @pytest.fixture
        def index(self, tmp_path):
            index = MyIndex(tmp_path / "store")
            try:
                yield index
            finally:
                index.close()

Capability flags turn tests into skips instead of overrides:
``supports_tenants`` on the contract class, and the backend's own
``Index.has_native_async`` (checked to mean an overridden ``_asearch``). A subclass may override a contract test only
to mark it ``@pytest.mark.xfail(reason=...)``; ``test_no_overrides_DO_NOT_OVERRIDE``
fails otherwise.

Vectors come from :class:`~ragtune.testing.embeddings.FakeEmbedder` (8-d,
deterministic): the suite checks what the backend does with vectors, text and
filters, not how good an embedding model is. Filter semantics are those of
:func:`ragtune.filters.matches` over :func:`~ragtune.index.fields.filter_fields`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ragtune.filters import F, FilterExpr, matches
from ragtune.index.base import Index, SearchRequest
from ragtune.index.fields import filter_fields
from ragtune.index.fusion import fuse
from ragtune.schema import Chunk, DocumentState, Fusion, Hit, SearchMode
from ragtune.testing.embeddings import FakeEmbedder
from ragtune.testing.twins import assert_async_twins

EMBEDDER = FakeEmbedder(dim=8)

_CORPUS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "alpha": [
        (
            "Photosynthesis converts sunlight into chemical energy inside plant leaves.",
            {"lang": "en", "year": 2019, "tags": ["biology", "plants"], "rating": 4.5},
        ),
        (
            "Chlorophyll absorbs red and blue light while green light is reflected by leaves.",
            {"lang": "en", "year": 2020, "tags": ["biology"], "rating": 3.0},
        ),
    ],
    "beta": [
        (
            "Vaccines train the immune system to recognise viral proteins quickly.",
            {"lang": "en", "year": 2021, "tags": ["medicine"], "rating": 5.0},
        ),
        (
            "Antibodies bind antigens and mark infected cells for destruction by the immune system.",
            {"lang": "en", "year": 2022, "tags": ["medicine", "immunology"], "rating": 2.5},
        ),
    ],
    "gamma": [
        (
            "Die Quantenmechanik beschreibt Teilchen als Wellenfunktionen.",
            {"lang": "de", "year": 2015, "tags": ["physics"], "rating": 4.0},
        ),
        (
            "Entanglement links quantum states of particles across large distances.",
            {"lang": "en", "year": 2023, "tags": ["physics", "quantum"], "rating": 1.5},
        ),
    ],
    "delta": [
        (
            "The zygomorphic flowers of orchids attract specific pollinators such as bees.",
            {"lang": "en", "year": 2010, "tags": ["biology", "botany"], "rating": 3.5},
        ),
    ],
}

NASTY_QUERIES = [
    'he said "hello" (world)',
    '"',
    '"unbalanced',
    "AND",
    "OR NOT",
    "a AND b OR NOT c",
    "*",
    "leaf*",
    "-immune",
    "NEAR(light energy, 2)",
    "title:orchids",
    "^start",
    "a + b = c; DROP TABLE chunks; --",
    "(((",
    "{}[]<>|\\/~`!@#$%&=",
    "the of and",
    "naïve café résumé",
    "日本語のテキスト",
    "\u0000\t\n",
]
"""Queries with quotes, operators and other syntax of keyword engines: none may raise."""


def make_chunks(doc_id: str, texts: list[tuple[str, dict[str, Any]]]) -> list[Chunk]:
    """The contract's chunks for one document: ids, positions, pages and metadata filled in."""
    return [
        Chunk(
            id=f"{doc_id}-{i}",
            doc_id=doc_id,
            text=text,
            position=i,
            source=f"docs/{doc_id}.md",
            title=doc_id.title(),
            section=f"Section {i + 1}",
            page=i + 1,
            doc_hash=f"hash-{doc_id}",
            metadata=dict(metadata),
        )
        for i, (text, metadata) in enumerate(texts)
    ]


def put(index: Index, doc_id: str, chunks: list[Chunk], *, tenant: str | None = None, doc_hash: str = "") -> None:
    """Replace one document with ``chunks``, embedded with the contract's embedder."""
    state = DocumentState(
        doc_id=doc_id,
        source=f"docs/{doc_id}.md",
        doc_hash=doc_hash or f"hash-{doc_id}",
        chunk_ids=tuple(c.id for c in chunks),
    )
    vectors = EMBEDDER.embed_documents([c.text_for_embedding for c in chunks])
    index.replace_document(state, chunks, vectors, tenant=tenant)


def put_corpus(index: Index, *, tenant: str | None = None) -> dict[str, Chunk]:
    """Write the contract corpus (every document of it) to ``index``; the chunks by id."""
    chunks: dict[str, Chunk] = {}
    for doc_id, texts in _CORPUS.items():
        doc_chunks = make_chunks(doc_id, texts)
        put(index, doc_id, doc_chunks, tenant=tenant)
        chunks.update((c.id, c) for c in doc_chunks)
    return chunks


def ids(hits: list[Hit]) -> list[str]:
    return [h.chunk_id for h in hits]


FILTER_CASES: dict[str, FilterExpr] = {
    "eq-str": F("lang") == "de",
    "eq-int": F("year") == 2021,
    "ne-str": F("lang") != "en",
    "lt-int": F("year") < 2019,
    "lte-int": F("year") <= 2019,
    "gt-int": F("year") > 2021,
    "gte-int": F("year") >= 2021,
    "lt-float": F("rating") < 3.0,
    "gte-float": F("rating") >= 4.5,
    "in-str": F("lang").is_in(["de", "fr"]),
    "in-int": F("year").is_in([2010, 2023, 1999]),
    "contains-list": F("tags").contains("medicine"),
    "and": (F("lang") == "en") & (F("year") >= 2020),
    "or": (F("year") == 2010) | F("tags").contains("quantum"),
    "and-of-or": ((F("year") < 2016) | (F("year") > 2021)) & (F("lang") == "en"),
    "or-of-and": ((F("lang") == "en") & (F("rating") >= 5.0)) | ((F("lang") == "de") & (F("year") == 2015)),
    "top-level-doc_id": F("doc_id") == "beta",
    "top-level-source": F("source").is_in(["docs/alpha.md", "docs/delta.md"]),
    "top-level-page": F("page") >= 2,
    "top-level-position": F("position") == 0,
    "no-match": F("year") > 3000,
}
"""Filters every backend must evaluate exactly like :func:`ragtune.filters.matches`."""


class IndexContract:
    """Standard tests for an :class:`~ragtune.index.base.Index` backend (see the module docstring)."""

    supports_tenants: bool = True
    """Set False for a backend without tenants: tenant tests skip."""

    # -- fixtures and helpers ---------------------------------------------------
    @pytest.fixture
    def index(self) -> Iterator[Index]:
        """Yield an empty index of the backend under test; close and delete it afterwards."""
        msg = "Subclass IndexContract and define an `index` fixture that yields an empty Index"
        raise NotImplementedError(msg)

    @pytest.fixture
    def corpus(self, index: Index) -> dict[str, Chunk]:
        """The index filled with the contract corpus (default tenant); chunks by id."""
        return put_corpus(index)

    @staticmethod
    def vector_of(chunk: Chunk) -> np.ndarray:
        return EMBEDDER.embed_documents([chunk.text_for_embedding])[0]

    @staticmethod
    def request(query: str, mode: SearchMode = SearchMode.HYBRID, **kwargs: Any) -> SearchRequest:
        vector = kwargs.pop("query_vector", None)
        if vector is None:
            vector = EMBEDDER.embed_query(query)
        return SearchRequest(query_text=query, query_vector=vector, mode=mode, **kwargs)

    # -- writes and reads -----------------------------------------------------------
    def test_replace_document_round_trip(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """Chunks, document states and stats read back as written.

        Troubleshooting: ``get_chunks`` must return full ``Chunk`` models (metadata, page,
        section, title included) in the order asked, leaving unknown ids out; ``documents``
        must return the ``DocumentState`` given to ``replace_document``.
        """
        asked = ["delta-0", "nope", "alpha-1", "beta-0"]
        assert index.get_chunks(asked) == [corpus["delta-0"], corpus["alpha-1"], corpus["beta-0"]]
        docs = index.documents()
        assert sorted(docs) == sorted(_CORPUS)
        assert docs["alpha"] == DocumentState(
            doc_id="alpha", source="docs/alpha.md", doc_hash="hash-alpha", chunk_ids=("alpha-0", "alpha-1")
        )
        stats = index.stats()
        assert (stats.documents, stats.chunks) == (len(_CORPUS), len(corpus))

    def test_replace_document_twice_changes_nothing(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """Writing the same document again leaves one copy of each chunk.

        Troubleshooting: chunk ids are the identity; an upsert must replace, not append.
        """
        put(index, "beta", make_chunks("beta", _CORPUS["beta"]))
        stats = index.stats()
        assert (stats.documents, stats.chunks) == (len(_CORPUS), len(corpus))
        hits = index.search(self.request("immune system", SearchMode.BM25, k=50))
        assert sorted(ids(hits)) == sorted(set(ids(hits)))

    def test_replace_document_shrinks(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """A document rewritten with fewer chunks loses the others everywhere.

        Troubleshooting: ``_replace_document`` must delete the document's stored chunks whose
        ids are not in the new set, from the vector side and the keyword side alike.
        """
        shorter = make_chunks("beta", _CORPUS["beta"][:1])
        put(index, "beta", shorter, doc_hash="hash-beta-2")
        assert index.get_chunks(["beta-0", "beta-1"]) == shorter
        assert index.documents()["beta"].chunk_ids == ("beta-0",)
        assert index.documents()["beta"].doc_hash == "hash-beta-2"
        assert index.stats().chunks == len(corpus) - 1
        for mode in SearchMode:
            hits = index.search(self.request("antibodies antigens destruction", mode, k=50))
            assert "beta-1" not in ids(hits), mode

    def test_replace_document_updates_text(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """A chunk rewritten under the same id is found by its new words, not its old ones.

        Troubleshooting: the keyword index must be updated in place of, not beside, the old text.
        """
        changed = Chunk(
            **{**corpus["gamma-1"].model_dump(), "text": "Superconductors expel magnetic fields.", "content_hash": ""}
        )
        put(index, "gamma", [corpus["gamma-0"], changed], doc_hash="hash-gamma-2")
        assert ids(index.search(self.request("superconductors", SearchMode.BM25)))[:1] == ["gamma-1"]
        assert "gamma-1" not in ids(index.search(self.request("entanglement", SearchMode.BM25)))
        assert index.get_chunks(["gamma-1"])[0].text == changed.text

    def test_delete_documents(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """Deleting documents removes them and all their chunks; unknown ids are ignored.

        Troubleshooting: the return value is the number of chunks deleted.
        """
        assert index.delete_documents(["alpha", "does-not-exist"]) == 2
        assert index.delete_documents(["does-not-exist"]) == 0
        assert "alpha" not in index.documents()
        assert index.get_chunks(["alpha-0", "alpha-1"]) == []
        assert index.stats().chunks == len(corpus) - 2
        for mode in SearchMode:
            hits = index.search(self.request("photosynthesis chlorophyll light", mode, k=50))
            assert not {"alpha-0", "alpha-1"} & set(ids(hits)), mode

    def test_search_empty_index(self, index: Index) -> None:
        """Every mode returns no hits, without error, on an empty index.

        Troubleshooting: a missing collection or tenant must read as empty, not raise.
        """
        for mode in SearchMode:
            assert index.search(self.request("anything at all", mode)) == []

    # -- vector search -------------------------------------------------------------
    def test_vector_search_finds_exact_vector_first(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """Searching with a chunk's own vector ranks that chunk first, distance ~0, score ~1.

        Troubleshooting: score is cosine similarity and distance ``1 - cosine``; check the
        backend normalises or expects unit vectors and reports cosine (not L2) distance.
        """
        for chunk in corpus.values():
            vector = self.vector_of(chunk)
            hits = index.search(self.request(chunk.text, SearchMode.VECTOR, query_vector=vector, k=3))
            assert hits[0].chunk_id == chunk.id
            assert hits[0].distance == pytest.approx(0.0, abs=1e-4)
            assert hits[0].score == pytest.approx(1.0, abs=1e-4)
            assert [h.rank for h in hits] == [0, 1, 2]

    def test_vector_search_scores_and_distances(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """Vector hits are ordered by cosine, with distance = 1 - cosine of the stored vectors.

        Troubleshooting: distances must be computed against the vectors given to
        ``replace_document``; scores must be non-increasing.
        """
        query = EMBEDDER.embed_query("light energy in leaves")
        hits = index.search(self.request("x", SearchMode.VECTOR, query_vector=query, k=len(corpus)))
        assert len(hits) == len(corpus)
        for hit in hits:
            expected = float(np.dot(query, self.vector_of(corpus[hit.chunk_id])))
            assert hit.score == pytest.approx(expected, abs=1e-4)
            assert hit.distance == pytest.approx(1 - expected, abs=1e-4)
        assert all(a.score >= b.score for a, b in itertools.pairwise(hits))

    def test_k_larger_than_index(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """Asking for more hits than chunks returns each matching chunk once.

        Troubleshooting: clamp k to the collection size; never pad or repeat.
        """
        hits = index.search(self.request("light", SearchMode.VECTOR, k=1000))
        assert sorted(ids(hits)) == sorted(corpus)
        hybrid = index.search(self.request("light", SearchMode.HYBRID, k=1000))
        assert sorted(ids(hybrid)) == sorted(set(ids(hybrid)))
        assert set(ids(hybrid)) <= set(corpus)

    async def test_min_score_drops_hits_below_it(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """``min_score`` keeps those of the top ``k`` hits that score at least that much, ranks unchanged.

        Troubleshooting: ``Index.search``/``asearch`` apply the floor after ranking; a backend's
        ``_search`` returns hits best first and need not look at ``min_score``.
        """
        query = EMBEDDER.embed_query("light energy in leaves")
        top = index.search(self.request("x", SearchMode.VECTOR, query_vector=query, k=5))
        floor = top[2].score
        kept = [h for h in top if h.score >= floor]
        assert 3 <= len(kept) < len(top)
        floored = self.request("x", SearchMode.VECTOR, query_vector=query, k=5, min_score=floor)
        for hits in (index.search(floored), await index.asearch(floored)):
            assert ids(hits) == ids(kept)
            assert [h.rank for h in hits] == list(range(len(kept)))

    # -- keyword search ------------------------------------------------------------
    def test_bm25_finds_keyword_only_match(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """A word that occurs in one chunk only finds that chunk first, with a positive score.

        Troubleshooting: bm25 mode reports the BM25 score (positive, higher is better) and
        no distance; check the keyword side indexes ``Chunk.text_for_embedding``.
        """
        hits = index.search(self.request("zygomorphic", SearchMode.BM25))
        assert ids(hits) == ["delta-0"]
        assert hits[0].score > 0
        assert hits[0].distance is None

    def test_bm25_scores_are_ordered(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """BM25 hits come best first with positive scores, only chunks holding a query word.

        Troubleshooting: an OR of the query words is expected, not an AND.
        """
        hits = index.search(self.request("immune leaves orchids", SearchMode.BM25, k=50))
        assert set(ids(hits)) == {"alpha-0", "alpha-1", "beta-0", "beta-1", "delta-0"}
        assert all(h.score > 0 for h in hits)
        assert all(a.score >= b.score for a, b in itertools.pairwise(hits))

    def test_bm25_query_syntax_is_safe(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """Quotes, parentheses, operators and wildcards in a query never raise.

        Troubleshooting: escape or drop the keyword engine's query syntax (FTS5, Lucene,
        Weaviate) before searching; a query of stop words may return nothing.
        """
        for query in NASTY_QUERIES:
            for mode in (SearchMode.BM25, SearchMode.HYBRID):
                hits = index.search(self.request(query, mode))
                assert isinstance(hits, list), query
        hits = index.search(self.request('"zygomorphic" AND (orchids* OR -NOT)', SearchMode.BM25))
        assert ids(hits)[:1] == ["delta-0"]

    # -- hybrid search ---------------------------------------------------------------
    @pytest.mark.parametrize("fusion", list(Fusion))
    def test_hybrid_alpha_one_is_vector_order(self, index: Index, corpus: dict[str, Chunk], fusion: Fusion) -> None:
        """Hybrid with alpha=1 ranks like vector search.

        Troubleshooting: alpha weighs the vector side (1 = vector only); send it explicitly.
        """
        query = "immune system proteins"
        vector = index.search(self.request(query, SearchMode.VECTOR, k=len(corpus)))
        hybrid = index.search(self.request(query, SearchMode.HYBRID, k=len(corpus), alpha=1.0, fusion=fusion))
        assert ids(hybrid) == ids(vector)

    @pytest.mark.parametrize("fusion", list(Fusion))
    def test_hybrid_alpha_zero_is_bm25_order(self, index: Index, corpus: dict[str, Chunk], fusion: Fusion) -> None:
        """Hybrid with alpha=0 ranks the keyword matches like BM25 search.

        Troubleshooting: alpha=0 is keyword only. With relativeScore the weakest keyword
        match normalises to 0 and may tie with vector-only hits, so it is not compared.
        """
        query = "light orchids antibodies"
        bm25 = index.search(self.request(query, SearchMode.BM25, k=len(corpus)))
        assert len({round(h.score, 6) for h in bm25}) == len(bm25), "precondition: distinct BM25 scores"
        hybrid = index.search(self.request(query, SearchMode.HYBRID, k=len(corpus), alpha=0.0, fusion=fusion))
        compared = len(bm25) - 1 if fusion is Fusion.RELATIVE_SCORE else len(bm25)
        assert ids(hybrid)[:compared] == ids(bm25)[:compared]

    @pytest.mark.parametrize("fusion", list(Fusion))
    @pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
    def test_hybrid_matches_fusion_of_own_results(
        self, index: Index, corpus: dict[str, Chunk], fusion: Fusion, alpha: float
    ) -> None:
        """Hybrid scores equal ``ragtune.index.fusion.fuse`` over the backend's own vector and BM25 hits.

        Troubleshooting: both sides must fetch ``request.pool_size`` candidates with the same
        filters and tenant, and the vector side must be fused by cosine similarity.
        """
        query = "light energy immune proteins"
        pool = len(corpus)
        vector = index.search(self.request(query, SearchMode.VECTOR, k=pool))
        bm25 = index.search(self.request(query, SearchMode.BM25, k=pool))
        expected = dict(
            fuse(
                [(h.chunk_id, h.score) for h in vector],
                [(h.chunk_id, h.score) for h in bm25],
                alpha=alpha,
                fusion=fusion,
            )
        )
        hybrid = index.search(
            self.request(query, SearchMode.HYBRID, k=pool, candidates=pool, alpha=alpha, fusion=fusion)
        )
        assert sorted(ids(hybrid)) == sorted(expected)
        for hit in hybrid:
            assert hit.score == pytest.approx(expected[hit.chunk_id], abs=1e-5), hit.chunk_id
        assert all(a.score >= b.score - 1e-9 for a, b in itertools.pairwise(hybrid))

    def test_hybrid_hits_carry_distance_and_fused_score(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """Every hybrid hit has the raw cosine distance and, separately, the fused score.

        Troubleshooting: compute the distance from the stored vector also for hits that only
        the keyword side found; ``score`` is the fused score, in [0, 1] for relativeScore.
        """
        query = "zygomorphic orchids"
        vector = EMBEDDER.embed_query("vaccines and antibodies")  # far from the keyword match
        hits = index.search(self.request(query, SearchMode.HYBRID, query_vector=vector, k=len(corpus)))
        assert "delta-0" in ids(hits)
        for hit in hits:
            expected = 1 - float(np.dot(vector, self.vector_of(corpus[hit.chunk_id])))
            assert hit.distance == pytest.approx(expected, abs=1e-4), hit.chunk_id
            assert -1e-6 <= hit.score <= 1 + 1e-6
        assert any(abs(h.score - (1 - (h.distance or 0))) > 1e-3 for h in hits)

    # -- filters -------------------------------------------------------------------
    @pytest.mark.parametrize("case", list(FILTER_CASES))
    def test_filter(self, index: Index, corpus: dict[str, Chunk], case: str) -> None:
        """Each filter keeps exactly the chunks ``ragtune.filters.matches`` keeps, in every mode.

        Troubleshooting: filter fields are the chunk's metadata plus doc_id, source, title,
        section, page, position and id; the keyword side must be filtered too, before the
        top k is cut.
        """
        expr = FILTER_CASES[case]
        expected = {cid for cid, c in corpus.items() if matches(expr, filter_fields(c))}
        vector = index.search(self.request("light", SearchMode.VECTOR, k=100, filters=expr))
        assert set(ids(vector)) == expected
        words = "photosynthesis chlorophyll vaccines antibodies quantenmechanik entanglement zygomorphic"
        bm25 = index.search(self.request(words, SearchMode.BM25, k=100, filters=expr))  # one word per chunk
        assert set(ids(bm25)) == expected
        hybrid = index.search(self.request(words, SearchMode.HYBRID, k=100, filters=expr))
        assert set(ids(hybrid)) == expected

    def test_filter_contains_substring(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """``contains`` on a string field matches a substring.

        Troubleshooting: Weaviate needs ``like *value*`` for this; lists use ContainsAny.
        """
        expr = F("source").contains("lph")
        hits = index.search(self.request("light", SearchMode.VECTOR, k=100, filters=expr))
        assert sorted(ids(hits)) == ["alpha-0", "alpha-1"]

    def test_filter_cuts_before_top_k(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """A filtered search returns k hits from the allowed chunks, not the allowed part of the top k.

        Troubleshooting: filter first (or fetch enough), then take the top k.
        """
        expr = F("doc_id") == "delta"
        for mode in SearchMode:
            hits = index.search(self.request("immune system vaccines orchids", mode, k=1, filters=expr))
            assert ids(hits) == ["delta-0"], mode

    # -- tenants -------------------------------------------------------------------
    def test_tenants_isolate_data(self, index: Index) -> None:
        """Tenants see only their own documents; stats and listings are per tenant.

        Troubleshooting: ``tenant=None`` is the default tenant; ``tenants()`` lists the named
        tenants holding data (sorted, the default tenant left out); ``stats()`` without a
        tenant totals all tenants with a per-tenant breakdown.
        """
        if not self.supports_tenants:
            pytest.skip("backend does not support tenants")
        put(index, "alpha", make_chunks("alpha", _CORPUS["alpha"]), tenant="acme")
        put(index, "beta", make_chunks("beta", _CORPUS["beta"]), tenant="globex")
        put(index, "delta", make_chunks("delta", _CORPUS["delta"]))
        seen = {
            tenant: set(ids(index.search(self.request("light immune orchids", SearchMode.HYBRID, k=50, tenant=tenant))))
            for tenant in ("acme", "globex", None)
        }
        assert seen == {"acme": {"alpha-0", "alpha-1"}, "globex": {"beta-0", "beta-1"}, None: {"delta-0"}}
        assert sorted(index.documents(tenant="acme")) == ["alpha"]
        assert index.get_chunks(["alpha-0"], tenant="globex") == []
        assert index.tenants() == ["acme", "globex"]
        assert index.stats(tenant="acme").chunks == 2
        assert index.stats(tenant="globex").documents == 1
        totals = index.stats()
        assert (totals.documents, totals.chunks) == (3, 5)
        assert totals.tenants["acme"] == {"documents": 1, "chunks": 2}
        assert totals.tenants["globex"] == {"documents": 1, "chunks": 2}
        assert index.delete_documents(["alpha"], tenant="globex") == 0
        assert index.delete_documents(["beta"], tenant="globex") == 2
        assert index.tenants() == ["acme"]
        assert sorted(index.documents(tenant="acme")) == ["alpha"]

    def test_unknown_tenant_is_empty(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """A tenant that never held data reads as empty everywhere.

        Troubleshooting: reads of a missing tenant must not raise nor create it.
        """
        if not self.supports_tenants:
            pytest.skip("backend does not support tenants")
        for mode in SearchMode:
            assert index.search(self.request("light", mode, tenant="nobody")) == []
        assert index.documents(tenant="nobody") == {}
        assert index.stats(tenant="nobody").chunks == 0
        assert "nobody" not in index.tenants()

    # -- async ---------------------------------------------------------------------
    @pytest.mark.parametrize("mode", list(SearchMode))
    async def test_asearch_matches_search(self, index: Index, corpus: dict[str, Chunk], mode: SearchMode) -> None:
        """``asearch`` returns what ``search`` returns.

        Troubleshooting: a native ``_asearch`` must build the same request as ``_search``.
        """
        request = self.request("immune light orchids", mode, k=5, filters=F("lang") == "en")
        sync = index.search(request)
        assert [(h.chunk_id, round(h.score, 6)) for h in await index.asearch(request)] == [
            (h.chunk_id, round(h.score, 6)) for h in sync
        ]

    async def test_asearch_concurrent(self, index: Index, corpus: dict[str, Chunk]) -> None:
        """Concurrent ``asearch`` calls each get their own, correct results.

        Troubleshooting: guard shared connections or caches with a lock.
        """
        requests = [
            self.request(c.text, SearchMode.VECTOR, query_vector=self.vector_of(c), k=3) for c in corpus.values()
        ]
        results = await asyncio.gather(*(index.asearch(r) for r in requests))
        assert [ids(r)[0] for r in results] == list(corpus)

    def test_async_twins_match_sync(self, index: Index) -> None:
        """Every public ``a*`` method is a coroutine function with its sync twin's signature.

        Troubleshooting: a backend with ``has_native_async = True`` overrides ``_asearch``;
        it must not change the public signatures.
        """
        assert_async_twins(index, expected=["asearch"])
        if index.has_native_async:
            assert type(index)._asearch is not Index._asearch, "has_native_async is set but _asearch is not overridden"

    # -- integrity (doctor, migrate, fingerprint) ------------------------------------
    def test_export_chunks_gives_every_chunk_with_its_vector(self, index: Index) -> None:
        """``export_chunks`` lists each chunk of the tenant once, with the vector it was written with.

        Troubleshooting: page through the whole tenant (a cursor, or rowid pages); return the
        stored vector, not a recomputed one.
        """
        chunks = make_chunks("exported", [(f"text number {i}", {}) for i in range(7)])
        put(index, "exported", chunks, tenant="exp")
        put(index, "elsewhere", make_chunks("elsewhere", [("other tenant", {})]))
        got = {c.id: v for c, v in index.export_chunks(tenant="exp")}
        assert sorted(got) == sorted(c.id for c in chunks)
        expected = EMBEDDER.embed_documents([c.text_for_embedding for c in chunks])
        for chunk, row in zip(chunks, expected, strict=True):
            assert np.allclose(got[chunk.id], row, atol=1e-5), chunk.id

    def test_delete_chunks_leaves_records_and_other_chunks(self, index: Index) -> None:
        """``delete_chunks`` removes exactly the named chunks; document records stay as they were."""
        chunks = make_chunks("trimmed", [("keep this", {}), ("drop this", {}), ("keep that", {})])
        put(index, "trimmed", chunks)
        assert index.delete_chunks([chunks[1].id, "no-such-chunk"]) == 1
        assert [c.id for c in index.get_chunks([c.id for c in chunks])] == [chunks[0].id, chunks[2].id]
        assert index.documents()["trimmed"].chunk_ids == tuple(c.id for c in chunks)

    def test_fingerprint_is_recorded_once(self, index: Index) -> None:
        """The first fingerprint wins; later ones get the stored one back (see ``ragtune.index.fingerprint``)."""
        from ragtune.index.fingerprint import Fingerprint

        assert index.fingerprint() is None
        first = Fingerprint.of(EMBEDDER)
        assert index.record_fingerprint(first) == first
        other = Fingerprint(model_id="other", dim=3)
        assert index.record_fingerprint(other) == first
        assert index.fingerprint() == first
        assert index.tenants() == [] and index.stats().documents == 0

    def test_put_documents_writes_each_document_whole(self, index: Index) -> None:
        """``put_documents`` (used by migrate) is ``replace_document`` for many documents at once."""
        items = []
        for d in range(3):
            chunks = make_chunks(f"bulk{d}", [(f"bulk text {d} {i}", {}) for i in range(4)])
            state = DocumentState(doc_id=f"bulk{d}", source="s", doc_hash="h", chunk_ids=tuple(c.id for c in chunks))
            items.append((state, chunks, EMBEDDER.embed_documents([c.text_for_embedding for c in chunks])))
        index.put_documents(items, tenant="bulk")
        assert sorted(index.documents(tenant="bulk")) == ["bulk0", "bulk1", "bulk2"]
        assert index.stats(tenant="bulk").chunks == 12

    # -- the guard -------------------------------------------------------------------
    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Contract tests may only be overridden to mark them ``xfail`` with a reason.

        Troubleshooting: do not delete or rewrite a contract test; decorate your override
        with ``@pytest.mark.xfail(reason="...")`` or use a capability flag.
        """

        def xfailed(test: Any) -> bool:
            return any(m.name == "xfail" and m.kwargs.get("reason") for m in getattr(test, "pytestmark", []))

        problems = []
        for name, base in vars(IndexContract).items():
            if not name.startswith("test_"):
                continue
            mine = getattr(type(self), name, None)
            if mine is None:
                problems.append(f"{name} was deleted")
            elif mine is not base and not xfailed(mine):
                problems.append(f"{name} was overridden without @pytest.mark.xfail(reason=...)")
        assert not problems, problems


__all__ = ["EMBEDDER", "FILTER_CASES", "NASTY_QUERIES", "IndexContract", "make_chunks", "put"]
