"""Stored BM25 segments: used only while current, refused when stale, never a reason for a search to fail.

Every test lowers ``BM25_SEGMENT_MIN_CHUNKS`` to 0 so that the small test
corpus gets a stored segment. "Rebuilt" results come from an index whose
stored segment is ignored, i.e. today's rebuild from every chunk's terms.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ragtune.filters import F, FilterExpr
from ragtune.index.base import SearchRequest
from ragtune.index.embedded import EmbeddedIndex
from ragtune.index.embedded import index as index_module
from ragtune.index.embedded.bm25 import KeywordIndex
from ragtune.index.embedded.store import SqliteStore
from ragtune.schema import SearchMode
from ragtune.testing.index_contract import make_chunks, put, put_corpus
from ragtune.testing.snapshots import Snapshot, snapshot

QUERIES: list[tuple[str, FilterExpr | None]] = [
    ("light energy leaves", None),
    ("immune system proteins antibodies", None),
    ("quantum particles orchids", F("lang") == "en"),
    ("antibodies vaccines malaria", (F("year") >= 2020) | (F("lang") == "de")),
]


@pytest.fixture(autouse=True)
def store_every_segment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "BM25_SEGMENT_MIN_CHUNKS", 0)


def bm25(index: EmbeddedIndex, tenant: str | None = None) -> Snapshot:
    return snapshot(index, QUERIES, (SearchMode.BM25,), tenant=tenant)


def rebuilt(folder: Path, monkeypatch: pytest.MonkeyPatch, tenant: str | None = None) -> Snapshot:
    """BM25 results of a fresh index that rebuilds its postings from the chunks."""
    with monkeypatch.context() as patch:
        patch.setattr(SqliteStore, "bm25_segment", lambda self, tenant_id: None)
        patch.setattr(SqliteStore, "put_bm25_segment", lambda self, *args: False)
        with EmbeddedIndex(folder) as index:
            return bm25(index, tenant)


def stored(folder: Path, tenant: str = "") -> bool:
    """Whether a current segment is stored for the tenant."""
    store = SqliteStore(folder)
    try:
        tenant_id = store.tenant_id(tenant)
        return tenant_id is not None and store.bm25_segment(tenant_id) is not None
    finally:
        store.close()


def malaria() -> list:  # type: ignore[type-arg]
    return make_chunks("beta", [("Vaccines against malaria parasites.", {"lang": "en", "year": 2024})])


# -- the segment itself ---------------------------------------------------------------
def test_segment_round_trip_scores_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    docs = {rid: np.unique(rng.integers(0, 50, size=int(rng.integers(0, 12)))) for rid in range(0, 600, 3)}
    rids = np.array(sorted(docs))
    offsets = np.r_[0, np.cumsum([len(docs[r]) for r in rids])]
    terms = np.concatenate([docs[r] for r in rids])
    tfs = rng.integers(1, 4, size=len(terms)).astype(np.float64)
    built = KeywordIndex.bulk(rids, offsets, terms, tfs)
    segment = built.segment()
    assert segment is not None
    loaded = KeywordIndex.from_segment(segment)
    for query in ([1], [2, 7, 40], list(range(50))):
        for allowed in (None, rids[::2]):
            a, b = built.top(query, 30, allowed), loaded.top(query, 30, allowed)
            assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()
    loaded.add(10_000, np.array([1, 2]), np.array([1.0, 1.0]))
    assert loaded.segment() is None  # only a freshly built index is stored


# -- storing and using it ---------------------------------------------------------------
def test_segment_is_stored_by_a_search_and_read_by_the_next_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "s"
    with EmbeddedIndex(folder) as index:
        put_corpus(index)
        assert not stored(folder)  # writes store nothing
        first = bm25(index)
    assert any(first) and stored(folder)

    def refuse(*args: object) -> None:
        raise AssertionError("the postings were rebuilt instead of read from the stored segment")

    with monkeypatch.context() as patch:
        patch.setattr(SqliteStore, "load_terms", refuse)
        with EmbeddedIndex(folder) as index:
            assert bm25(index) == first
    assert rebuilt(folder, monkeypatch) == first


@pytest.mark.parametrize("write", ["replace", "delete_documents", "delete_chunks"])
def test_a_write_by_another_index_makes_the_segment_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    folder = tmp_path / "s"
    with EmbeddedIndex(folder) as writer:
        put_corpus(writer)
    with EmbeddedIndex(folder) as reader, EmbeddedIndex(folder) as writer:
        before = bm25(reader)  # builds and stores the segment
        assert stored(folder)
        if write == "replace":
            put(writer, "beta", malaria())
        elif write == "delete_documents":
            assert writer.delete_documents(["gamma"]) == 2
        else:
            assert writer.delete_chunks(["alpha-0"]) == 1
        assert not stored(folder)
        expected = rebuilt(folder, monkeypatch)
        assert expected != before
        assert bm25(reader) == expected  # the open reader notices the other writer
    with EmbeddedIndex(folder) as fresh:
        assert bm25(fresh) == expected  # rebuilt, and stored again at the new generation
    assert stored(folder)
    with EmbeddedIndex(folder) as again:
        monkeypatch.setattr(SqliteStore, "load_terms", lambda *args: pytest.fail("rebuilt"))
        assert bm25(again) == expected


WRITER = textwrap.dedent(
    """
    import sys
    from ragtune.index.embedded import EmbeddedIndex
    from ragtune.testing.index_contract import make_chunks, put

    with EmbeddedIndex(sys.argv[1]) as index:
        put(index, "beta", make_chunks("beta", [("Malaria vaccines, rewritten in another process.", {"lang": "en"})]))
    """
)


def test_a_write_by_another_process_makes_the_segment_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "s"
    with EmbeddedIndex(folder) as index:
        put_corpus(index)
        before = bm25(index)
        assert stored(folder)
        proc = subprocess.run([sys.executable, "-c", WRITER, str(folder)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        expected = rebuilt(folder, monkeypatch)
        assert expected != before
        assert bm25(index) == expected
    with EmbeddedIndex(folder) as fresh:
        assert bm25(fresh) == expected


def test_hand_edits_of_the_file_make_the_segment_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Triggers count every chunk change, whoever makes it (an older ragtune, sqlite3 on the command line)."""
    folder = tmp_path / "s"
    with EmbeddedIndex(folder) as index:
        put_corpus(index)
        bm25(index)
    assert stored(folder)
    conn = sqlite3.connect(folder / "index.sqlite")
    (gen,) = conn.execute("SELECT generation FROM tenants WHERE name = ''").fetchone()
    conn.execute("UPDATE chunks SET terms = x'' WHERE chunk_id = 'alpha-0'")
    conn.commit()
    assert conn.execute("SELECT generation FROM tenants WHERE name = ''").fetchone()[0] > gen
    assert conn.execute("SELECT count(*) FROM bm25_segments").fetchone()[0] == 0  # stale ones are not kept
    conn.close()
    with EmbeddedIndex(folder) as index:
        bm25(index)
    assert stored(folder)
    conn = sqlite3.connect(folder / "index.sqlite")
    conn.execute("UPDATE tenants SET generation = generation + 1")  # a segment of another generation is not used
    conn.commit()
    conn.close()
    assert not stored(folder)
    expected = rebuilt(folder, monkeypatch)
    with EmbeddedIndex(folder) as fresh:
        assert bm25(fresh) == expected
    assert "alpha-0" not in {cid for hits in expected for cid, _, _ in hits}


def test_postings_read_before_a_concurrent_write_are_not_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "s"
    with EmbeddedIndex(folder) as index:
        put_corpus(index)
    load_terms = SqliteStore.load_terms
    with EmbeddedIndex(folder) as reader, EmbeddedIndex(folder) as writer:

        def then_write(self: SqliteStore, tenant_id: int) -> object:
            terms = load_terms(self, tenant_id)
            monkeypatch.setattr(SqliteStore, "load_terms", load_terms)
            put(writer, "beta", malaria())  # commits between the read and the store
            return terms

        monkeypatch.setattr(SqliteStore, "load_terms", then_write)
        assert reader.search(SearchRequest(query_text="vaccines", mode=SearchMode.BM25))  # one search, one build
        assert not stored(folder)  # built from the state before the write: refused
        conn = sqlite3.connect(folder / "index.sqlite")
        assert conn.execute("SELECT count(*) FROM bm25_segments").fetchone()[0] == 0  # not even written
        conn.close()
        assert bm25(reader) == rebuilt(folder, monkeypatch)


def test_a_busy_store_skips_storing_and_the_search_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "s"
    with EmbeddedIndex(folder) as index:
        put_corpus(index)
    expected = rebuilt(folder, monkeypatch)
    with EmbeddedIndex(folder) as index:
        other = sqlite3.connect(folder / "index.sqlite", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process mid-write
        try:
            assert bm25(index) == expected
        finally:
            other.execute("ROLLBACK")
            other.close()
    assert not stored(folder)


def test_segments_are_per_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "s"
    with EmbeddedIndex(folder) as index:
        put_corpus(index)
        put_corpus(index, tenant="acme")
        default, acme = bm25(index), bm25(index, "acme")
        assert stored(folder) and stored(folder, "acme")
        put(index, "beta", malaria(), tenant="acme")
        assert stored(folder) and not stored(folder, "acme")  # the default tenant's segment stays valid
        assert bm25(index) == default
        assert bm25(index, "acme") != acme
    assert rebuilt(folder, monkeypatch) == default
    expected = rebuilt(folder, monkeypatch, "acme")
    with EmbeddedIndex(folder) as fresh:
        assert bm25(fresh, "acme") == expected


@pytest.mark.parametrize("damage", ["docs = substr(docs, 1, 8)", "tfs = substr(tfs, 1, 7)", "indptr = x''"])
def test_a_damaged_segment_is_ignored(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "s"
    with EmbeddedIndex(folder) as index:
        put_corpus(index)
        expected = bm25(index)
    conn = sqlite3.connect(folder / "index.sqlite")
    conn.execute(f"UPDATE bm25_segments SET {damage}")
    conn.commit()
    conn.close()
    assert not stored(folder)
    with EmbeddedIndex(folder) as fresh:
        assert bm25(fresh) == expected
    assert stored(folder)  # rebuilt and stored whole again


def test_a_store_from_before_segments_is_upgraded_on_open(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    with EmbeddedIndex(folder) as index:
        put_corpus(index)
        expected = bm25(index)
    conn = sqlite3.connect(folder / "index.sqlite")
    for name in ("chunks_generation_insert", "chunks_generation_delete", "chunks_generation_update"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DROP TABLE bm25_segments")
    conn.execute("ALTER TABLE tenants DROP COLUMN generation")
    conn.commit()
    conn.close()
    with EmbeddedIndex(folder) as index:
        assert bm25(index) == expected
        put(index, "beta", malaria())
        assert not stored(folder)
    conn = sqlite3.connect(folder / "index.sqlite")
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    conn.close()
    assert triggers == {"chunks_generation_insert", "chunks_generation_delete", "chunks_generation_update"}


def test_small_tenants_store_nothing_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "BM25_SEGMENT_MIN_CHUNKS", 10_000)
    with EmbeddedIndex(tmp_path / "s") as index:
        put_corpus(index)
        assert any(bm25(index))
    assert not stored(tmp_path / "s")
