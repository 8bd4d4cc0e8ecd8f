"""Stored BM25 segments: a tenant's term-sorted postings, saved so that a new process need not rebuild them.

Rebuilding a tenant's postings reads every chunk's ``terms`` blob: about
0.8 s at 100k chunks, most of a cold keyword search. A stored segment is
four blobs read in a few tens of milliseconds.

Validity rests on a per-tenant write generation, ``tenants.generation``,
that SQLite triggers bump on every insert, update or delete of a chunk row,
whoever writes the file (this version, an older one, a hand edit). The
triggers also delete the tenant's segment, so a stale one never lingers on
disk. A segment is stored with the generation its postings were read at and
used only while the tenant's generation still equals it; one read at an older
generation is refused when it is stored.

Tables::

    bm25_segments (tenant_id, generation,   rowids int64, indptr int64,
                   rowids, indptr,          docs int32 and tfs int32, all
                   docs, tfs)               little-endian (see bm25.Segment)
"""

from __future__ import annotations

import sqlite3

import numpy as np

from ragtune.index.embedded.bm25 import Segment

SCHEMA = """
CREATE TABLE IF NOT EXISTS bm25_segments (
    tenant_id INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL,
    rowids BLOB NOT NULL,
    indptr BLOB NOT NULL,
    docs BLOB NOT NULL,
    tfs BLOB NOT NULL
)
"""

_KINDS = ("<i8", "<i8", "<i4", "<i4")  # rowids, indptr, docs, tfs

_BUMP = (
    "UPDATE tenants SET generation = generation + 1 WHERE id = {row}.tenant_id;"
    " DELETE FROM bm25_segments WHERE tenant_id = {row}.tenant_id;"
)
TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS chunks_generation_insert AFTER INSERT ON chunks BEGIN {_BUMP.format(row='NEW')} END",
    f"CREATE TRIGGER IF NOT EXISTS chunks_generation_delete AFTER DELETE ON chunks BEGIN {_BUMP.format(row='OLD')} END",
    "CREATE TRIGGER IF NOT EXISTS chunks_generation_update AFTER UPDATE ON chunks BEGIN "
    f"{_BUMP.format(row='OLD')} {_BUMP.format(row='NEW')} END",
]


def create_schema(conn: sqlite3.Connection) -> None:
    """Add the generation column (stores written before it), the segment table and the triggers; idempotent."""
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(tenants)")}
    if "generation" not in columns:
        conn.execute("ALTER TABLE tenants ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")
    conn.execute(SCHEMA)
    for statement in TRIGGERS:
        conn.execute(statement)


def generation(conn: sqlite3.Connection, tenant_id: int) -> int:
    row = conn.execute("SELECT generation FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
    return 0 if row is None else int(row[0])


def read(conn: sqlite3.Connection, tenant_id: int) -> Segment | None:
    """The tenant's stored segment if it is of the current generation and whole, else ``None``."""
    row = conn.execute(
        "SELECT s.rowids, s.indptr, s.docs, s.tfs FROM bm25_segments s"
        " JOIN tenants t ON t.id = s.tenant_id AND t.generation = s.generation WHERE s.tenant_id = ?",
        (tenant_id,),
    ).fetchone()
    pairs = [] if row is None else list(zip(row, _KINDS, strict=True))
    if not pairs or any(not isinstance(blob, bytes) or len(blob) % np.dtype(kind).itemsize for blob, kind in pairs):
        return None  # none stored, or a damaged row: rebuilding from the chunks is always right
    rowids, indptr, docs, tfs = (np.frombuffer(blob, dtype=kind) for blob, kind in pairs)
    whole = (
        len(indptr) >= 1
        and indptr[0] == 0
        and indptr[-1] == len(docs) == len(tfs)
        and bool(np.all(np.diff(indptr) >= 0))
        and (len(docs) == 0 or (int(docs.min()) >= 0 and int(docs.max()) < len(rowids)))
    )
    if not whole:
        return None
    # Read-only views of the blobs where the dtype already matches (any little-endian host); tfs become float64.
    return Segment(
        rowids.astype(np.int64, copy=False),
        indptr.astype(np.int64, copy=False),
        docs.astype(np.int32, copy=False),
        tfs.astype(np.float64),
    )


def write(conn: sqlite3.Connection, tenant_id: int, read_at: int, segment: Segment) -> bool:
    """Store a segment built from the postings of generation ``read_at``, without waiting for a busy store.

    Best effort: False (nothing stored) when the tenant was written since, when
    another process holds the write lock, or when the file cannot be written.
    The caller must not be inside a transaction.
    """
    tfs = segment.tfs.astype("<i4")
    if not np.array_equal(tfs, segment.tfs):
        return False  # the store's term frequencies are int32 counts; anything else is not ours to store
    blobs = (segment.rowids.astype("<i8"), segment.indptr.astype("<i8"), segment.docs.astype("<i4"), tfs)
    (busy_ms,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute("PRAGMA busy_timeout = 0")  # a search must not queue behind an ingest to save a cache
    try:
        conn.execute("BEGIN IMMEDIATE")
        if generation(conn, tenant_id) != read_at:
            conn.execute("ROLLBACK")
            return False
        conn.execute(
            "INSERT OR REPLACE INTO bm25_segments (tenant_id, generation, rowids, indptr, docs, tfs)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (tenant_id, read_at, *(b.tobytes() for b in blobs)),
        )
        conn.execute("COMMIT")
        return True
    except sqlite3.Error:  # busy, read-only, disk full: the next cold search rebuilds again
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")


__all__ = ["SCHEMA", "TRIGGERS", "create_schema", "generation", "read", "write"]
