"""``EmbeddedIndex``: the default, serverless index backend.

Chunks, vectors and BM25 postings live in one SQLite file (see
:mod:`~ragtune.index.embedded.store`). Searches run against in-memory copies
of each tenant's vectors (:mod:`~ragtune.index.embedded.vectors`) and
postings (:mod:`~ragtune.index.embedded.bm25`), each loaded on the tenant's
first search that needs it (a BM25 search never loads vectors; postings come
from a stored segment while it is current, :mod:`~ragtune.index.embedded.segments`)
and then kept in step with this object's own writes; a
commit by any other connection (another process, another ``EmbeddedIndex`` on
the same folder) is noticed through SQLite's ``data_version`` and the copies
are reloaded lazily.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ragtune.errors import ConfigError, IndexBackendError
from ragtune.filters import FilterExpr
from ragtune.index.base import Index, SearchRequest
from ragtune.index.embedded.bm25 import KeywordIndex
from ragtune.index.embedded.filtering import FieldTable, FilterCache
from ragtune.index.embedded.store import DEFAULT_TENANT, Changes, SqliteStore, wrap_sqlite_error
from ragtune.index.embedded.vectors import VectorMatrix, as_unit
from ragtune.index.fingerprint import Fingerprint
from ragtune.index.fusion import fuse
from ragtune.schema import Chunk, DocumentState, Hit, IndexStats, SearchMode

FINGERPRINT_KEY = "fingerprint"
"""``meta`` key of the embedding fingerprint (:mod:`ragtune.index.fingerprint`)."""

BM25_SEGMENT_MIN_CHUNKS = 10_000
"""A tenant this large gets its rebuilt BM25 postings stored (:mod:`.segments`); below, rebuilding is cheap."""


class _Shard:
    """One tenant's in-memory state, each part loaded on the first search that needs it.

    A BM25 search needs the postings (and the filter fields when it filters),
    never the vectors: at 100k chunks the vectors are ~150 MB and most of a
    cold keyword search's time.
    """

    def __init__(self) -> None:
        self.matrix: VectorMatrix | None = None
        self.keyword: KeywordIndex | None = None
        self.fields: FieldTable | None = None
        self._masks: FilterCache[np.ndarray] = FilterCache()  # booleans in the matrix's slot order

    def apply(self, changes: Changes) -> None:
        for rid in changes.removed:
            if self.matrix is not None:
                self.matrix.remove(rid)
            if self.keyword is not None:
                self.keyword.remove(rid)
            if self.fields is not None:
                self.fields.remove(rid)
        for up in changes.upserted:
            if self.matrix is not None:
                self.matrix.upsert(up.rowid, up.vector)
            if self.keyword is not None:
                self.keyword.add(up.rowid, up.term_ids, up.tfs)
            if self.fields is not None:
                self.fields.set(up.rowid, up.fields)
        self._masks.clear()  # slot order may have changed even without field changes

    def mask(self, expr: FilterExpr) -> np.ndarray:
        """Which rows of the (loaded) matrix pass the filter, in slot order."""
        fields, matrix = self.fields, self.matrix
        assert fields is not None and matrix is not None
        return self._masks.get(expr, lambda: fields.mask(expr, matrix.rowids))

    def allowed(self, expr: FilterExpr) -> np.ndarray:
        """Sorted rowids that pass the filter (cached by the field table)."""
        assert self.fields is not None
        return self.fields.passing(expr)


class EmbeddedIndex(Index):
    """An index in a local folder: SQLite (WAL) on disk, exact cosine search in numpy, FTS5 BM25.

    Args:
        path: The store folder; the index is the file ``index.sqlite`` inside it.
        dim: Vector dimension, checked against the store; taken from the first write when omitted.

    ``tenant=None`` is the default tenant. :meth:`tenants` lists named tenants
    only; :meth:`stats` without a tenant gives totals over all tenants, with a
    per-tenant breakdown (the default tenant under ``""``) once named tenants
    hold data. Safe to share between threads.

    Example:
        >>> with EmbeddedIndex(".ragtune") as index:
        ...     hits = index.search(SearchRequest(query_text="gene expression", mode="bm25"))
    """

    name = "embedded"
    supports_tenants = True
    has_native_async = False

    def __init__(self, path: str | Path, *, dim: int | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._store = SqliteStore(self.path, dim=dim)
        self._shards: dict[int, _Shard] = {}
        self._data_version = self._store.data_version()
        self._closed = False

    def __repr__(self) -> str:
        return f"EmbeddedIndex({str(self.path)!r}, dim={self.dim})"

    @property
    def dim(self) -> int | None:
        """Dimension of the stored vectors (``None`` until the first write)."""
        with self._lock:
            return self._store.current_dim()

    # -- plumbing -------------------------------------------------------------
    @contextmanager
    def _session(self, action: str) -> Iterator[SqliteStore]:
        """Hold the lock, refuse a closed index, notice other writers, type SQLite errors."""
        with self._lock:
            if self._closed:
                msg = f"{action}: the index at {self.path} is closed; open a new EmbeddedIndex"
                raise IndexBackendError(msg, path=str(self.path))
            try:
                version = self._store.data_version()
                if version != self._data_version:
                    self._shards.clear()
                    self._data_version = version
                yield self._store
            except sqlite3.Error as exc:
                raise wrap_sqlite_error(exc, action, self._store.path) from exc

    @staticmethod
    def _tenant(tenant: str | None) -> str:
        if tenant is None:
            return DEFAULT_TENANT
        if not isinstance(tenant, str) or not tenant:
            msg = f"tenant must be a non-empty string or None for the default tenant, got {tenant!r}"
            raise ConfigError(msg)
        return tenant

    def _shard(self, tenant_id: int) -> _Shard:
        shard = self._shards.get(tenant_id)
        if shard is None:
            shard = self._shards[tenant_id] = _Shard()
        return shard

    def _matrix(self, tenant_id: int, shard: _Shard) -> VectorMatrix:
        """The tenant's vectors, loaded on first use."""
        if shard.matrix is None:
            rowids, rows = self._store.load_vectors(tenant_id)
            shard.matrix = VectorMatrix(self._store.dim or 0, rowids, rows, copy=False)
        return shard.matrix

    def _keyword(self, tenant_id: int, shard: _Shard) -> KeywordIndex:
        """The tenant's BM25 postings: the stored segment when current, else rebuilt (and stored if large)."""
        if shard.keyword is None:
            segment = self._store.bm25_segment(tenant_id)
            if segment is not None:
                shard.keyword = KeywordIndex.from_segment(segment)
                return shard.keyword
            with self._store.reading():  # the generation the postings were read at, for storing them
                read_at = self._store.generation(tenant_id)
                keyword = KeywordIndex.bulk(*self._store.load_terms(tenant_id))
            shard.keyword = keyword
            fresh = keyword.segment()
            if fresh is not None and len(keyword) >= BM25_SEGMENT_MIN_CHUNKS:
                self._store.put_bm25_segment(tenant_id, read_at, fresh)
        return shard.keyword

    def _fields(self, tenant_id: int, shard: _Shard) -> FieldTable:
        """The tenant's filter fields, loaded on first use."""
        if shard.fields is None:
            shard.fields = FieldTable(self._store.load_fields(tenant_id))
        return shard.fields

    def _apply(self, changes: Changes | None) -> None:
        if changes is None or changes.tenant_id not in self._shards:
            return
        matrix = self._shards[changes.tenant_id].matrix
        if matrix is not None and matrix.dim != (self._store.dim or 0):
            del self._shards[changes.tenant_id]  # loaded before the first vector fixed the dimension
            return
        self._shards[changes.tenant_id].apply(changes)

    # -- writes -----------------------------------------------------------------
    def _replace_document(
        self, state: DocumentState, chunks: list[Chunk], vectors: np.ndarray, tenant: str | None
    ) -> None:
        name = self._tenant(tenant)
        unit = as_unit(vectors) if len(chunks) else np.zeros((0, self.dim or 0), dtype=np.float32)
        with self._session(f"replace_document({state.doc_id!r})") as store:
            self._apply(store.replace_document(state, chunks, unit, name))

    def _delete_documents(self, doc_ids: list[str], tenant: str | None) -> int:
        name = self._tenant(tenant)
        with self._session("delete_documents") as store:
            changes = store.delete_documents(doc_ids, name)
            self._apply(changes)
        return 0 if changes is None else len(changes.removed)

    def _delete_chunks(self, chunk_ids: list[str], tenant: str | None) -> int:
        name = self._tenant(tenant)
        with self._session("delete_chunks") as store:
            changes = store.delete_chunks(chunk_ids, name)
            self._apply(changes)
        return 0 if changes is None else len(changes.removed)

    def _write_fingerprint(self, fingerprint: Fingerprint) -> Fingerprint:
        with self._session("record fingerprint") as store:
            stored = store.put_meta_if_absent(FINGERPRINT_KEY, fingerprint.model_dump_json())
        return Fingerprint.model_validate_json(stored)

    # -- reads ------------------------------------------------------------------
    def _read_fingerprint(self) -> Fingerprint | None:
        with self._session("read fingerprint") as store:
            raw = store.read_meta(FINGERPRINT_KEY)
        return None if raw is None else Fingerprint.model_validate_json(raw)

    def _export_chunks(self, tenant: str | None) -> Iterator[tuple[Chunk, np.ndarray]]:
        name = self._tenant(tenant)
        after = -1
        while True:  # page by rowid, releasing the lock between pages so writers are not held up
            with self._session("export chunks") as store:
                page = store.chunk_page(name, after)
            if not page:
                return
            after = page[-1][0]
            for _, chunk, blob in page:
                yield chunk, np.frombuffer(blob, dtype="<f4").astype(np.float32)

    def _documents(self, tenant: str | None) -> dict[str, DocumentState]:
        name = self._tenant(tenant)
        with self._session("documents") as store:
            return store.documents(name)

    def _get_chunks(self, chunk_ids: list[str], tenant: str | None) -> list[Chunk]:
        name = self._tenant(tenant)
        with self._session("get_chunks") as store:
            return store.chunks_by_id(name, chunk_ids)

    def _stats(self, tenant: str | None) -> IndexStats:
        with self._session("stats") as store:
            counts = store.tenant_counts()
        if tenant is not None:
            name = self._tenant(tenant)
            for tenant_name, docs, chunks in counts:
                if tenant_name == name:
                    return IndexStats(documents=docs, chunks=chunks)
            return IndexStats(documents=0, chunks=0)
        holding = [(n, d, c) for n, d, c in counts if d or c]
        breakdown: dict[str, dict[str, int]] = {}
        if any(n != DEFAULT_TENANT for n, _, _ in holding):
            breakdown = {n: {"documents": d, "chunks": c} for n, d, c in holding}
        return IndexStats(
            documents=sum(d for _, d, _ in holding), chunks=sum(c for _, _, c in holding), tenants=breakdown
        )

    def _tenants(self) -> list[str]:
        with self._session("tenants") as store:
            counts = store.tenant_counts()
        return [n for n, d, c in counts if n != DEFAULT_TENANT and (d or c)]

    def _search(self, request: SearchRequest) -> list[Hit]:
        name = self._tenant(request.tenant)
        with self._session(f"{request.mode.value} search") as store:
            tenant_id = store.tenant_id(name)
            if tenant_id is None:
                return []
            shard = self._shard(tenant_id)
            if request.filters is not None:
                self._fields(tenant_id, shard)
            scored = self._rank(store, tenant_id, shard, request)
            chunks = store.chunks_by_rowid([rid for rid, _, _ in scored])
        return [Hit(chunk=chunks[rid], score=s, distance=d) for rid, s, d in scored if rid in chunks]

    def _rank(
        self, store: SqliteStore, tenant_id: int, shard: _Shard, request: SearchRequest
    ) -> list[tuple[int, float, float | None]]:
        """``(rowid, score, distance)`` of the top ``k``, best first."""
        if request.mode is SearchMode.BM25:
            keyword = self._bm25(store, tenant_id, shard, request, request.k)
            return [(rid, score, None) for rid, score in keyword]
        query = self._query_vector(tenant_id, shard, request)
        size = request.k if request.mode is SearchMode.VECTOR else request.pool_size
        vector: list[tuple[int, float]] = []
        if query is not None:
            matrix = self._matrix(tenant_id, shard)
            mask = None if request.filters is None else shard.mask(request.filters)
            rids, sims = matrix.top(query, size, mask)
            vector = [(int(r), float(s)) for r, s in zip(rids, sims, strict=True)]
        if request.mode is SearchMode.VECTOR:
            return [(rid, sim, 1.0 - sim) for rid, sim in vector]
        keyword = self._bm25(store, tenant_id, shard, request, size)
        fused = fuse(
            [(str(r), s) for r, s in vector],
            [(str(r), s) for r, s in keyword],
            alpha=request.alpha,
            fusion=request.fusion,
        )[: request.k]
        similarity = dict(vector)
        missing = [int(r) for r, _ in fused if int(r) not in similarity]
        if missing and query is not None:
            sims = self._matrix(tenant_id, shard).similarity(missing, query)
            similarity.update(zip(missing, (float(s) for s in sims), strict=True))
        return [
            (int(r), score, None if np.isnan(similarity.get(int(r), np.nan)) else 1.0 - similarity[int(r)])
            for r, score in fused
        ]

    def _query_vector(self, tenant_id: int, shard: _Shard, request: SearchRequest) -> np.ndarray | None:
        """The unit query vector; ``None`` without one or before any vector fixed the dimension."""
        if request.query_vector is None:
            return None
        matrix = self._matrix(tenant_id, shard)
        return matrix.check_query(request.query_vector) if matrix.dim else None

    def _bm25(
        self, store: SqliteStore, tenant_id: int, shard: _Shard, request: SearchRequest, n: int
    ) -> list[tuple[int, float]]:
        """``(rowid, BM25)`` of the best ``n`` keyword matches that pass the filter."""
        terms = store.analyzer.query_terms(request.query_text or "")
        term_ids = list(store.term_ids(tenant_id, terms).values()) if terms else []
        if not term_ids:
            return []
        keyword = self._keyword(tenant_id, shard)
        allowed = None if request.filters is None else shard.allowed(request.filters)
        rids, scores = keyword.top(term_ids, n, allowed)
        return [(int(r), float(s)) for r, s in zip(rids, scores, strict=True)]

    # -- lifecycle ----------------------------------------------------------------
    def close(self) -> None:
        """Close the SQLite connection and drop the in-memory vectors; safe to call twice."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._shards.clear()
                self._store.close()


__all__ = ["EmbeddedIndex"]
