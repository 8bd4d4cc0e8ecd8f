"""Copy an index to another backend without re-embedding: every tenant, chunk, vector and record.

Documents are copied whole and recorded last on the target (``put_documents``),
so an interrupted migration leaves the target with complete documents only
and running it again copies just what is not there yet (a document already on
the target with the same record is skipped). The embedding fingerprint is
copied first, so the target refuses another model from the start.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, Field

from ragtune.errors import BatchWriteError
from ragtune.index.base import Index
from ragtune.index.fingerprint import check_identity
from ragtune.schema import Chunk, DocumentState

WRITE_BATCH_CHUNKS = 1000
"""Chunks handed to the target per ``put_documents`` call (the backend splits them further)."""


class MigrateReport(BaseModel):
    """What a migration copied, skipped and could not copy: the contract of ``ragtune migrate --json``."""

    tenants: int = 0
    documents: int = 0
    """Documents the source records."""
    copied_documents: int = 0
    skipped_documents: int = 0
    """Already on the target with the same record (a resumed migration)."""
    copied_chunks: int = 0
    seconds: float = 0.0
    chunks_per_second: float = 0.0
    errors: list[str] = Field(default_factory=list)
    """Documents left on the source only, with why (e.g. missing chunks: run ``doctor --repair`` there)."""


def migrate_index(
    source: Index,
    target: Index,
    *,
    batch_chunks: int = WRITE_BATCH_CHUNKS,
    on_batch: Callable[[int], None] | None = None,
) -> MigrateReport:
    """Copy every tenant of ``source`` into ``target``; ``on_batch`` gets the chunks copied so far."""
    started = time.perf_counter()
    report = MigrateReport()
    fingerprint = source.fingerprint()
    if fingerprint is not None:
        check_identity(target.fingerprint(), fingerprint.model_id, fingerprint.dim, repr(target))
        target.record_fingerprint(fingerprint)
    for tenant in [None, *source.tenants()]:
        states = source.documents(tenant=tenant)
        if not states:
            continue
        report.tenants += 1
        report.documents += len(states)
        there = target.documents(tenant=tenant)
        todo = {d: s for d, s in states.items() if there.get(d) != s}
        report.skipped_documents += len(states) - len(todo)
        if todo:
            _copy_tenant(source, target, tenant, todo, report, batch_chunks, on_batch)
    report.seconds = time.perf_counter() - started
    report.chunks_per_second = report.copied_chunks / report.seconds if report.seconds else 0.0
    return report


def _copy_tenant(
    source: Index,
    target: Index,
    tenant: str | None,
    todo: dict[str, DocumentState],
    report: MigrateReport,
    batch_chunks: int,
    on_batch: Callable[[int], None] | None,
) -> None:
    """Stream the tenant's chunks, writing each document once all its chunks have been read."""
    gathered: dict[str, dict[str, tuple[Chunk, np.ndarray]]] = {}
    ready: list[tuple[DocumentState, list[Chunk], np.ndarray]] = []
    ready_chunks = 0
    written: set[str] = set()
    refused_docs: set[str] = set()

    def flush() -> None:
        nonlocal ready, ready_chunks
        if ready:
            refused: dict[str, str] = {}
            try:
                target.put_documents(ready, tenant=tenant)
            except BatchWriteError as exc:  # the other documents of the batch were written and recorded
                owner = {c.id: state.doc_id for state, chunks, _ in ready for c in chunks}
                for chunk_id, message in exc.failed.items():
                    refused.setdefault(owner.get(chunk_id, chunk_id), message)
            for state, chunks, _ in ready:
                if state.doc_id in refused:
                    refused_docs.add(state.doc_id)
                    report.errors.append(
                        f"tenant {tenant or 'default'}: document {state.doc_id!r} was refused by the target: "
                        f"{refused[state.doc_id]}; run migrate again to retry it"
                    )
                    continue
                written.add(state.doc_id)
                report.copied_documents += 1
                report.copied_chunks += len(chunks)
            if on_batch is not None:
                on_batch(report.copied_chunks)
        ready, ready_chunks = [], 0

    for state in todo.values():
        if not state.chunk_ids:  # a document that chunked to nothing still has a record
            ready.append((state, [], np.zeros((0, 0), dtype=np.float32)))
    for chunk, vector in source.export_chunks(tenant=tenant):
        record = todo.get(chunk.doc_id)
        if record is None or chunk.id not in record.chunk_ids:
            continue  # a stray or a chunk of an old version: not part of any recorded document
        parts = gathered.setdefault(chunk.doc_id, {})
        parts[chunk.id] = (chunk, vector)
        if len(parts) == len(set(record.chunk_ids)):
            del gathered[chunk.doc_id]
            ordered = [parts[c] for c in record.chunk_ids]
            if len({len(v) for _, v in ordered}) != 1:
                gathered[chunk.doc_id] = {}
                continue  # a damaged vector: reported below, doctor --repair on the source fixes it
            ready.append((record, [c for c, _ in ordered], np.stack([v for _, v in ordered])))
            ready_chunks += len(ordered)
            if ready_chunks >= batch_chunks:
                flush()
    flush()
    for doc_id, state in todo.items():
        if doc_id not in written and doc_id not in refused_docs:
            have = len(gathered.get(doc_id, {}))
            report.errors.append(
                f"tenant {tenant or 'default'}: document {doc_id!r} has {have} of its {len(state.chunk_ids)} chunks "
                "on the source, so it was not copied; run `ragtune doctor --repair` on the source, then migrate again"
            )


__all__ = ["MigrateReport", "migrate_index"]
