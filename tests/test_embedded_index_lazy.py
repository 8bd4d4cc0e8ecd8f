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
from ragtune.index.embedded.filtering import FieldTable, FilterCache
from ragtune.index.embedded.store import SqliteStore
from ragtune.schema import SearchMode
from ragtune.testing.index_contract import EMBEDDER, make_chunks, put, put_corpus
from ragtune.testing.snapshots import Snapshot, assert_same_snapshots, snapshot

QUERIES: list[tuple[str, FilterExpr | None]] = [
    ("light energy leaves", None),
    ("immune system proteins", None),
    ("quantum particles orchids", F("lang") == "en"),
    ("antibodies vaccines", (F("year") >= 2020) | (F("lang") == "de")),
]


def results(index: EmbeddedIndex, modes: tuple[SearchMode, ...] = tuple(SearchMode)) -> Snapshot:
    return snapshot(index, QUERIES, modes)


def same(a: Snapshot, b: Snapshot) -> None:
    assert_same_snapshots(a, b, score_abs=1e-9)


def no_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("a BM25 search loaded the vectors")

    monkeypatch.setattr(SqliteStore, "load_vectors", refuse)


def test_bm25_search_never_loads_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EmbeddedIndex(tmp_path / "s") as writer:
        put_corpus(writer)
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
        put_corpus(index)
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


def test_filter_cache_computes_once_and_drops_the_oldest() -> None:
    cache: FilterCache[int] = FilterCache(size=2)
    calls: list[str] = []

    def compute(name: str) -> int:
        calls.append(name)
        return len(calls)

    a, b, c = F("lang") == "en", F("lang") == "de", F("year") >= 2020
    assert cache.get(a, lambda: compute("a")) == 1
    assert cache.get(a, lambda: compute("a")) == 1  # a hit: not computed again
    assert cache.get(b, lambda: compute("b")) == 2
    assert cache.get(c, lambda: compute("c")) == 3  # full: a, the oldest, goes
    assert cache.get(b, lambda: compute("b")) == 2
    assert cache.get(a, lambda: compute("a")) == 4
    assert calls == ["a", "b", "c", "a"]
