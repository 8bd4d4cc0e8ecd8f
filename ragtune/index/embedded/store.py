"""The embedded store on disk: one SQLite file in WAL mode.

Tables::

    meta       (key, value)                          schema version, vector dim, analyser
    tenants    (id, name, next_term, generation)     "" is the default tenant; generation counts
                                                     writes to its chunks (triggers, see segments)
    chunks     (rid, tenant_id, chunk_id, doc_id,    a chunk's JSON plus what it is looked up
                content_hash, terms, fields, data)   by; ``terms`` holds its BM25 postings as
                                                     int32 (term id, tf) pairs, ``fields`` what
                                                     filters see
    vectors    (rid, tenant_id, vec)                 float32 little-endian, one row per chunk
    vocab      (tenant_id, term, id)                 a tenant's term ids (stemmed terms)
    documents  (tenant_id, doc_id, source,           the sync state of a document, written
                doc_hash, chunk_ids)                 last in its transaction
    bm25_segments (tenant_id, generation, ...)       stored BM25 postings (:mod:`.segments`)

Every write is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction, so a
document is either fully old or fully new after a crash. The class is not
thread-safe on its own: :class:`~ragtune.index.embedded.index.EmbeddedIndex`
holds a lock around every call.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.errors import ConfigError, IndexBackendError, TransientIndexError
from ragtune.index.embedded import segments
from ragtune.index.embedded.bm25 import Segment
from ragtune.index.embedded.keyword import ANALYZER_VERSION, Analyzer
from ragtune.index.fields import filter_fields
from ragtune.schema import Chunk, DocumentState

SCHEMA_VERSION = "1"
DB_FILE = "index.sqlite"
DEFAULT_TENANT = ""
"""How the default tenant (``tenant=None``) is stored."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    next_term INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chunks (
    rid INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    chunk_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    terms BLOB NOT NULL,
    fields TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (tenant_id, chunk_id)
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (tenant_id, doc_id);
CREATE TABLE IF NOT EXISTS vectors (rid INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, vec BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS vectors_by_tenant ON vectors (tenant_id);
CREATE TABLE IF NOT EXISTS vocab (
    tenant_id INTEGER NOT NULL,
    term TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, term)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (
    tenant_id INTEGER NOT NULL,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    doc_hash TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    PRIMARY KEY (tenant_id, doc_id)
) WITHOUT ROWID;
"""

_BATCH = 500  # ids per IN (...) clause


@dataclass
class Upsert:
    """A chunk as the in-memory indexes need it."""

    rowid: int
    vector: np.ndarray
    fields: dict[str, Any]
    term_ids: np.ndarray
    tfs: np.ndarray


@dataclass
class Changes:
    """What a committed write did, for keeping in-memory caches in step."""

    tenant_id: int
    removed: list[int] = field(default_factory=list)
    """Rowids whose chunk is gone."""
    upserted: list[Upsert] = field(default_factory=list)
    """Chunks added or rewritten."""


def _vec_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


class SqliteStore:
    """Schema, transactions and queries of the embedded store's SQLite file."""

    def __init__(self, folder: str | Path, *, dim: int | None = None, analyzer: Analyzer | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DB_FILE
        self.analyzer = analyzer or Analyzer()
        self.dim: int | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=OFF")
            with self.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                segments.create_schema(self.conn)
                self.dim = self._check_meta(dim)
        except sqlite3.Error as exc:
            msg = f"Cannot open the embedded index at {self.path}: {exc}"
            raise IndexBackendError(msg, path=str(self.path)) from exc

    # -- plumbing -----------------------------------------------------------
    def _check_meta(self, dim: int | None) -> int | None:
        meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        expected = {"schema": SCHEMA_VERSION, "analyzer": ANALYZER_VERSION}
        for key, value in expected.items():
            if key not in meta:
                self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
            elif meta[key] != value:
                msg = (
                    f"{self.path} was written with {key} {meta[key]!r} but this ragtune uses {value!r}; "
                    "delete the store folder and ingest again."
                )
                raise ConfigError(msg, path=str(self.path))
        stored = int(meta["dim"]) if "dim" in meta else None
        if dim is not None and stored is not None and dim != stored:
            msg = f"{self.path} holds {stored}-d vectors but dim={dim} was asked for; use another store folder."
            raise ConfigError(msg, path=str(self.path))
        if stored is None and dim is not None:
            self.conn.execute("INSERT INTO meta (key, value) VALUES ('dim', ?)", (str(dim),))
        return stored if stored is not None else dim

    def current_dim(self) -> int | None:
        """The stored vector dimension (another connection may have written the first vectors)."""
        if self.dim is None:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
            self.dim = None if row is None else int(row[0])
        return self.dim

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception."""
        dim = self.dim
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            self.dim = dim
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: the statements inside see a single state of the file."""
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    def data_version(self) -> int:
        """Changes when another connection commits (never for this one's own writes)."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        self.conn.close()

    # -- tenants --------------------------------------------------------------
    def tenant_id(self, name: str, *, create: bool = False) -> int | None:
        row = self.conn.execute("SELECT id FROM tenants WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            return None
        return int(self.conn.execute("INSERT INTO tenants (name) VALUES (?)", (name,)).lastrowid or 0)

    def term_ids(self, tenant_id: int, terms: Sequence[str], *, create: bool = False) -> dict[str, int]:
        """Ids of known terms (all of them, new ones numbered, with ``create``; inside a transaction)."""
        ids: dict[str, int] = {}
        unique = list(dict.fromkeys(terms))
        for start in range(0, len(unique), _BATCH):
            batch = unique[start : start + _BATCH]
            marks = ",".join("?" * len(batch))
            sql = f"SELECT term, id FROM vocab WHERE tenant_id = ? AND term IN ({marks})"
            ids.update((str(t), int(i)) for t, i in self.conn.execute(sql, (tenant_id, *batch)))
        new = [t for t in unique if t not in ids]
        if create and new:
            (first,) = self.conn.execute("SELECT next_term FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
            numbered = {t: int(first) + i for i, t in enumerate(new)}
            self.conn.executemany(
                "INSERT INTO vocab (tenant_id, term, id) VALUES (?, ?, ?)",
                [(tenant_id, t, i) for t, i in numbered.items()],
            )
            self.conn.execute("UPDATE tenants SET next_term = ? WHERE id = ?", (int(first) + len(new), tenant_id))
            ids.update(numbered)
        return ids

    def tenant_counts(self) -> list[tuple[str, int, int]]:
        """``(name, documents, chunks)`` for every tenant ever written."""
        rows = self.conn.execute(
            "SELECT t.name,"
            " (SELECT count(*) FROM documents d WHERE d.tenant_id = t.id),"
            " (SELECT count(*) FROM chunks c WHERE c.tenant_id = t.id)"
            " FROM tenants t ORDER BY t.name"
        ).fetchall()
        return [(str(n), int(d), int(c)) for n, d, c in rows]

    # -- writes ---------------------------------------------------------------
    def _check_dim(self, vectors: np.ndarray, doc_id: str) -> None:
        if vectors.ndim != 2:
            msg = f"vectors for document {doc_id!r} must be a 2-d array, got shape {vectors.shape}"
            raise ConfigError(msg, record_id=doc_id)
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
        if row is None:  # the first vectors fix the dimension (restored by a rollback)
            self.conn.execute("INSERT INTO meta (key, value) VALUES ('dim', ?)", (str(vectors.shape[1]),))
        self.dim = int(vectors.shape[1]) if row is None else int(row[0])
        if vectors.shape[1] != self.dim:
            msg = f"document {doc_id!r} has {vectors.shape[1]}-d vectors but the index holds {self.dim}-d vectors"
            raise ConfigError(msg, record_id=doc_id)

    def _delete_rows(self, tenant_id: int, rids: Sequence[int]) -> None:
        for start in range(0, len(rids), _BATCH):
            batch = list(rids[start : start + _BATCH])
            marks = ",".join("?" * len(batch))
            self.conn.execute(f"DELETE FROM vectors WHERE rid IN ({marks})", batch)
            self.conn.execute(f"DELETE FROM chunks WHERE rid IN ({marks})", batch)

    def replace_document(self, state: DocumentState, chunks: list[Chunk], vectors: np.ndarray, tenant: str) -> Changes:
        """Make ``tenant`` hold exactly ``chunks`` for the document, in one transaction."""
        ids = [c.id for c in chunks]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            msg = f"document {state.doc_id!r} has duplicate chunk ids {dupes[:5]}"
            raise ConfigError(msg, record_id=state.doc_id)
        strays = sorted({c.doc_id for c in chunks if c.doc_id != state.doc_id})
        if strays:
            msg = f"document {state.doc_id!r} was given chunks of other documents {strays[:5]}; set chunk.doc_id"
            raise ConfigError(msg, record_id=state.doc_id)
        with self.transaction() as conn:
            tid = self.tenant_id(tenant, create=True)
            assert tid is not None
            changes = Changes(tid)
            if chunks:
                self._check_dim(vectors, state.doc_id)
            old = {
                str(cid): (int(rid), str(data))
                for rid, cid, data in conn.execute(
                    "SELECT rid, chunk_id, data FROM chunks WHERE tenant_id = ? AND doc_id = ?", (tid, state.doc_id)
                )
            }
            keep = set(ids)
            changes.removed = [rid for cid, (rid, _) in old.items() if cid not in keep]
            self._delete_rows(tid, changes.removed)
            pending: list[tuple[Chunk, np.ndarray, str, int | None]] = []
            for chunk, vector in zip(chunks, vectors, strict=True):
                data = chunk.model_dump_json()
                prev = old.get(chunk.id)
                if prev is None:  # the id may belong to another document of this tenant
                    row = conn.execute(
                        "SELECT rid, data FROM chunks WHERE tenant_id = ? AND chunk_id = ?", (tid, chunk.id)
                    ).fetchone()
                    prev = None if row is None else (int(row[0]), str(row[1]))
                if prev is not None:
                    (old_vec,) = conn.execute("SELECT vec FROM vectors WHERE rid = ?", (prev[0],)).fetchone()
                    if prev[1] == data and bytes(old_vec) == _vec_bytes(vector):
                        continue  # unchanged: nothing to rewrite
                pending.append((chunk, vector, data, None if prev is None else prev[0]))
            counts = [self.analyzer.counts(chunk.text_for_embedding) for chunk, _, _, _ in pending]
            term_ids = self.term_ids(tid, [t for c in counts for t in c], create=True)
            for (chunk, vector, data, rid), tf in zip(pending, counts, strict=True):
                pairs = np.array(sorted((term_ids[t], f) for t, f in tf.items()), dtype="<i4").reshape(-1, 2)
                fields = filter_fields(chunk)
                values = (
                    chunk.doc_id,
                    chunk.content_hash,
                    pairs.tobytes(),
                    json.dumps(fields, ensure_ascii=False),
                    data,
                )
                if rid is None:
                    cur = conn.execute(
                        "INSERT INTO chunks (tenant_id, chunk_id, doc_id, content_hash, terms, fields, data)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (tid, chunk.id, *values),
                    )
                    rid = int(cur.lastrowid or 0)
                    conn.execute(
                        "INSERT INTO vectors (rid, tenant_id, vec) VALUES (?, ?, ?)", (rid, tid, _vec_bytes(vector))
                    )
                else:
                    conn.execute(
                        "UPDATE chunks SET doc_id = ?, content_hash = ?, terms = ?, fields = ?, data = ? WHERE rid = ?",
                        (*values, rid),
                    )
                    conn.execute("UPDATE vectors SET vec = ? WHERE rid = ?", (_vec_bytes(vector), rid))
                changes.upserted.append(
                    Upsert(rid, np.asarray(vector, dtype=np.float32), fields, pairs[:, 0].copy(), pairs[:, 1].copy())
                )
            self.put_document(tid, state)
        return changes

    def put_document(self, tenant_id: int, state: DocumentState) -> None:
        """Record the document's sync state: the last statement of its transaction."""
        self.conn.execute(
            "INSERT OR REPLACE INTO documents (tenant_id, doc_id, source, doc_hash, chunk_ids) VALUES (?, ?, ?, ?, ?)",
            (tenant_id, state.doc_id, state.source, state.doc_hash, json.dumps(list(state.chunk_ids))),
        )

    def delete_documents(self, doc_ids: list[str], tenant: str) -> Changes | None:
        """Delete documents and their chunks in one transaction; ``None`` for an unknown tenant."""
        tid = self.tenant_id(tenant)
        if tid is None:
            return None
        changes = Changes(tid)
        with self.transaction() as conn:
            for start in range(0, len(doc_ids), _BATCH):
                batch = doc_ids[start : start + _BATCH]
                changes.removed += _chunk_rows(conn, tid, "doc_id", batch)
                marks = ",".join("?" * len(batch))
                conn.execute(f"DELETE FROM documents WHERE tenant_id = ? AND doc_id IN ({marks})", (tid, *batch))
            self._delete_rows(tid, changes.removed)
        return changes

    def delete_chunks(self, chunk_ids: list[str], tenant: str) -> Changes | None:
        """Delete chunks by id in one transaction (document records untouched); ``None`` for an unknown tenant."""
        tid = self.tenant_id(tenant)
        if tid is None:
            return None
        changes = Changes(tid)
        with self.transaction() as conn:
            for start in range(0, len(chunk_ids), _BATCH):
                changes.removed += _chunk_rows(conn, tid, "chunk_id", chunk_ids[start : start + _BATCH])
            self._delete_rows(tid, changes.removed)
        return changes

    def read_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_meta_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless another writer did first; returns what is stored."""
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
            (stored,) = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(stored)

    # -- reads ------------------------------------------------------------------
    def chunk_page(self, tenant: str, after: int, size: int = 1000) -> list[tuple[int, Chunk, bytes]]:
        """Up to ``size`` chunks of a tenant after rowid ``after``: (rowid, chunk, vector bytes or b"")."""
        tid = self.tenant_id(tenant)
        if tid is None:
            return []
        rows = self.conn.execute(
            "SELECT c.rid, c.data, v.vec FROM chunks c LEFT JOIN vectors v ON v.rid = c.rid"
            " WHERE c.tenant_id = ? AND c.rid > ? ORDER BY c.rid LIMIT ?",
            (tid, after, size),
        ).fetchall()
        return [(int(rid), Chunk.model_validate_json(data), bytes(vec or b"")) for rid, data, vec in rows]

    def load_vectors(self, tenant_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Rowids and the ``(n, dim)`` float32 matrix of a tenant, in rowid order.

        Rows are appended to one growing buffer that the matrix then views, so
        the peak is about one copy of the vectors, not three (row list, join, array).
        """
        rows = self.conn.execute("SELECT rid, vec FROM vectors WHERE tenant_id = ? ORDER BY rid", (tenant_id,))
        dim = self.current_dim() or 0
        rids: list[int] = []
        buffer = bytearray()
        for rid, vec in rows:
            if len(vec) == 4 * dim:  # a damaged row is skipped: search what is whole, doctor reports the rest
                rids.append(rid)
                buffer += vec
        matrix = np.frombuffer(buffer, dtype="<f4").reshape(len(rids), dim).astype(np.float32, copy=False)
        return np.asarray(rids, dtype=np.int64), matrix

    def load_fields(self, tenant_id: int) -> dict[int, dict[str, Any]]:
        rows = self.conn.execute("SELECT rid, fields FROM chunks WHERE tenant_id = ?", (tenant_id,))
        return {int(rid): json.loads(fields) for rid, fields in rows}

    def load_terms(self, tenant_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rowids, offsets, term ids and tfs of a tenant's chunks (chunk ``i`` owns ``[offsets[i], offsets[i+1])``).

        Chunks come in rowid order, sorted here: ``ORDER BY rid`` made SQLite copy every blob into a
        temporary B-tree (about 1/3 slower at 100k chunks).
        """
        rows = self.conn.execute("SELECT rid, terms FROM chunks WHERE tenant_id = ?", (tenant_id,)).fetchall()
        rows.sort(key=itemgetter(0))
        rids = [rid for rid, _ in rows]
        blobs = [terms for _, terms in rows]
        sizes = np.fromiter((len(b) // 8 for b in blobs), dtype=np.int64, count=len(blobs))
        pairs = np.frombuffer(b"".join(blobs), dtype="<i4").reshape(-1, 2)
        offsets = np.zeros(len(rids) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        return np.asarray(rids, dtype=np.int64), offsets, pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.float64)

    def generation(self, tenant_id: int) -> int:
        """The tenant's write generation: bumped by every change to its chunks, by any writer."""
        return segments.generation(self.conn, tenant_id)

    def bm25_segment(self, tenant_id: int) -> Segment | None:
        """The tenant's stored BM25 segment, if it is still current."""
        return segments.read(self.conn, tenant_id)

    def put_bm25_segment(self, tenant_id: int, read_at: int, segment: Segment) -> bool:
        """Store a segment built at generation ``read_at`` (best effort, never waits for a busy store)."""
        return segments.write(self.conn, tenant_id, read_at, segment)

    def chunks_by_rowid(self, rids: list[int]) -> dict[int, Chunk]:
        out: dict[int, Chunk] = {}
        for start in range(0, len(rids), _BATCH):
            batch = rids[start : start + _BATCH]
            marks = ",".join("?" * len(batch))
            for rid, data in self.conn.execute(f"SELECT rid, data FROM chunks WHERE rid IN ({marks})", batch):
                out[int(rid)] = Chunk.model_validate_json(data)
        return out

    def chunks_by_id(self, tenant: str, chunk_ids: list[str]) -> list[Chunk]:
        tid = self.tenant_id(tenant)
        if tid is None:
            return []
        found: dict[str, Chunk] = {}
        for start in range(0, len(chunk_ids), _BATCH):
            batch = chunk_ids[start : start + _BATCH]
            marks = ",".join("?" * len(batch))
            sql = f"SELECT chunk_id, data FROM chunks WHERE tenant_id = ? AND chunk_id IN ({marks})"
            for cid, data in self.conn.execute(sql, (tid, *batch)):
                found[str(cid)] = Chunk.model_validate_json(data)
        return [found[c] for c in chunk_ids if c in found]

    def documents(self, tenant: str) -> dict[str, DocumentState]:
        tid = self.tenant_id(tenant)
        if tid is None:
            return {}
        rows = self.conn.execute(
            "SELECT doc_id, source, doc_hash, chunk_ids FROM documents WHERE tenant_id = ? ORDER BY doc_id", (tid,)
        )
        return {
            str(d): DocumentState(doc_id=d, source=s, doc_hash=h, chunk_ids=tuple(json.loads(c))) for d, s, h, c in rows
        }


def wrap_sqlite_error(exc: sqlite3.Error, action: str, path: Path) -> IndexBackendError:
    """Our typed error for a failed SQLite call; a locked database is worth retrying."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return TransientIndexError(f"{action} failed, the index at {path} is busy: {text}", path=str(path))
    return IndexBackendError(f"{action} failed on the index at {path}: {text}", path=str(path))


def _chunk_rows(conn: sqlite3.Connection, tenant_id: int, column: str, values: list[str]) -> list[int]:
    """Row ids of the tenant's chunks whose ``column`` (``doc_id`` or ``chunk_id``) is one of ``values``."""
    marks = ",".join("?" * len(values))
    sql = f"SELECT rid FROM chunks WHERE tenant_id = ? AND {column} IN ({marks})"
    return [int(r) for (r,) in conn.execute(sql, (tenant_id, *values))]


__all__ = ["DB_FILE", "DEFAULT_TENANT", "SCHEMA_VERSION", "Changes", "SqliteStore", "Upsert", "wrap_sqlite_error"]
