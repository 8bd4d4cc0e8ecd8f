"""The embedded index loads only what a search needs, and stays exact while parts are missing.

A BM25 search (filtered or not) must never read the vectors; a vector or
hybrid search loads them afterwards. Writes made while a part is not loaded
must leave every mode equal to a freshly opened index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragtune.filters import F, FilterExpr
from ragtune.index.base import SearchRequest
from ragtune.index.embedded import EmbeddedIndex
from ragtune.index.embedded.filtering import FieldTable
from ragtune.index.embedded.store import SqliteStore
from ragtune.schema import SearchMode
from ragtune.testing.index_contract import _CORPUS, EMBEDDER, make_chunks, put

QUERIES: list[tuple[str, FilterExpr | None]] = [
    ("light energy leaves", None),
    ("immune system proteins", None),
    ("quantum particles orchids", F("lang") == "en"),
    ("antibodies vaccines", (F("year") >= 2020) | (F("lang") == "de")),
]

Results = list[list[tuple[str, float, float | None]]]


def results(index: EmbeddedIndex, modes: tuple[SearchMode, ...] = tuple(SearchMode)) -> Results:
    out = []
    for text, expr in QUERIES:
        for mode in modes:
            request = SearchRequest(
                query_text=text, query_vector=EMBEDDER.embed_query(text), mode=mode, k=20, filters=expr
            )
            out.append([(h.chunk_id, h.score, h.distance) for h in index.search(request)])
    return out


def same(a: Results, b: Results) -> None:
    assert [[h[0] for h in hits] for hits in a] == [[h[0] for h in hits] for hits in b]
    for hits_a, hits_b in zip(a, b, strict=True):
        for (_, score_a, dist_a), (_, score_b, dist_b) in zip(hits_a, hits_b, strict=True):
            assert score_a == pytest.approx(score_b, abs=1e-9)
            assert (dist_a is None) == (dist_b is None)
            if dist_a is not None and dist_b is not None:
                assert dist_a == pytest.approx(dist_b, abs=1e-6)


def load_corpus(index: EmbeddedIndex) -> None:
    for doc_id, texts in _CORPUS.items():
        put(index, doc_id, make_chunks(doc_id, texts))


def no_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("a BM25 search loaded the vectors")

    monkeypatch.setattr(SqliteStore, "load_vectors", refuse)


def test_bm25_search_never_loads_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EmbeddedIndex(tmp_path / "s") as writer:
        load_corpus(writer)
        expected = results(writer, (SearchMode.BM25,))
    with EmbeddedIndex(tmp_path / "s") as index:
        no_vectors(monkeypatch)
        bm25 = results(index, (SearchMode.BM25,))  # filtered and unfiltered
        assert any(bm25) and bm25 == expected
        monkeypatch.undo()
        assert index.search(SearchRequest(query_vector=EMBEDDER.embed_query("leaves"), mode=SearchMode.VECTOR))


def test_writes_while_vectors_are_not_loaded_match_a_fresh_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EmbeddedIndex(tmp_path / "s") as index:
        load_corpus(index)
    with EmbeddedIndex(tmp_path / "s") as index:
        no_vectors(monkeypatch)
        results(index, (SearchMode.BM25,))  # postings and filter fields in memory, vectors not
        put(index, "beta", make_chunks("beta", [("Vaccines against malaria parasites.", {"lang": "en", "year": 2024})]))
        assert index.delete_documents(["gamma"]) == 2
        put(index, "epsilon", make_chunks("epsilon", [("Orchids and bees in quantum light.", {"lang": "en"})]))
        bm25_after_writes = results(index, (SearchMode.BM25,))
        monkeypatch.undo()
        live = results(index)  # now the vectors load, after the writes
        put(index, "zeta", make_chunks("zeta", [("Leaves of quantum orchids.", {"lang": "de", "year": 2021})]))
        live_after = results(index)  # vectors in memory follow this write
    with EmbeddedIndex(tmp_path / "s") as fresh:
        same(live_after, results(fresh))
    with EmbeddedIndex(tmp_path / "s") as fresh:
        assert fresh.delete_documents(["zeta"]) == 1
        same(live, results(fresh))
        same(bm25_after_writes, results(fresh, (SearchMode.BM25,)))


def test_field_table_masks_any_order_and_unknown_rows() -> None:
    table = FieldTable({5: {"lang": "en"}, 2: {"lang": "de"}, 9: {"lang": "en"}})
    expr = F("lang") == "en"
    assert table.passing(expr).tolist() == [5, 9]
    assert table.mask(expr, np.array([9, 2, 5])).tolist() == [True, False, True]
    missing = F("lang") != "en"  # a row without fields reads every field as missing (None)
    assert table.mask(missing, np.array([7, 2])).tolist() == [True, True]
    table.remove(9)
    table.set(1, {"lang": "en"})
    assert table.passing(expr).tolist() == [1, 5]
