"""Incremental sync: make the index match the sources, touching only what changed.

For every loaded document the index's recorded content hash decides:
unchanged documents are skipped, new and changed ones are chunked, embedded
(through the content-hash cache) and written with one atomic
``replace_document``; documents that the ingested paths used to hold and no
longer do are deleted at the end. Each document is written atomically and its
state last, so an ingest killed half-way and run again ends with exactly the
index a clean run gives.

Loading and chunking run in a background thread, feeding the embedder in
large batches, and each embedded batch is written to the index by a writer
thread while the next one embeds, so file I/O, parsing and index writes all
overlap with model time.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragtune.chunking import Chunker, ChunkingOptions
from ragtune.embeddings.cache import CachedEmbedder
from ragtune.errors import BatchWriteError
from ragtune.index.base import Index
from ragtune.ingest.lock import write_lock
from ragtune.ingest.report import IngestError, IngestReport
from ragtune.loaders import LoadFailure, LoadOptions, iter_documents, source_in_scope, source_scope
from ragtune.progress import ProgressCallback, report
from ragtune.schema import Chunk, Document, DocumentState

if TYPE_CHECKING:
    from ragtune.workspace import Workspace

log = logging.getLogger(__name__)

EMBED_BATCH_CHUNKS = 512
"""Chunks embedded per model call: large enough for length-sorted batching to cut padding."""


@dataclass
class _Pending:
    document: Document
    chunks: list[Chunk]


_DONE = object()


class _Producer(threading.Thread):
    """Loads and chunks in the background; puts ``_Pending``/``LoadFailure``/unchanged ids on a queue."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        options: LoadOptions,
        chunker: Chunker,
        existing: dict[str, DocumentState],
        out: queue.Queue[object],
        force: frozenset[str] = frozenset(),
        only: frozenset[str] | None = None,
    ) -> None:
        super().__init__(daemon=True, name="ragtune-ingest-loader")
        self.paths, self.options, self.chunker, self.existing, self.out = paths, options, chunker, existing, out
        self.force, self.only = force, only
        self.error: BaseException | None = None
        self.stop_flag = threading.Event()

    def run(self) -> None:
        try:
            for item in iter_documents(self.paths, self.options):
                if self.stop_flag.is_set():
                    return
                if isinstance(item, LoadFailure):
                    self.out.put(item)
                    continue
                if self.only is not None and item.id not in self.only:
                    continue
                old = self.existing.get(item.id)
                if old is not None and old.doc_hash == item.content_hash and item.id not in self.force:
                    self.out.put(("unchanged", item))
                    continue
                self.out.put(_Pending(item, self.chunker.split(item)))
        except BaseException as exc:  # surfaced in the consumer thread
            self.error = exc
        finally:
            self.out.put(_DONE)


class Syncer:
    """Runs one incremental sync of ``paths`` into ``index`` for a tenant."""

    def __init__(
        self,
        index: Index,
        embedder: CachedEmbedder,
        chunker: Chunker,
        *,
        tenant: str | None = None,
        load_options: LoadOptions | None = None,
        progress: ProgressCallback | None = None,
        delete_missing: bool = True,
        force: frozenset[str] = frozenset(),
        only: frozenset[str] | None = None,
    ) -> None:
        """``force``: ids rewritten even when unchanged; ``only``: ids to touch, the rest ignored (repair)."""
        self.force, self.only = force, only
        self.written: set[str] = set()
        """Ids of the documents this run wrote (for ``doctor --repair``)."""
        self.index = index
        self.embedder = embedder
        self.chunker = chunker
        self.tenant = tenant
        self.load_options = load_options or LoadOptions()
        self.progress = progress
        self.delete_missing = delete_missing

    def run(self, paths: Sequence[str | Path]) -> IngestReport:
        started = time.perf_counter()
        result = IngestReport(tenant=self.tenant)
        existing = self.index.documents(tenant=self.tenant)
        seen: set[str] = set()
        failed_sources: set[str] = set()
        misses_before = self.embedder.misses
        processed = 0
        writing: Future[IngestReport] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragtune-ingest-writer") as writer:
            for batch in self._batches(paths, existing, result, seen, failed_sources):
                vectors = self._embed_batch(batch)
                if writing is not None:  # at most one batch written while the next one embeds
                    _merge_counts(result, writing.result())
                writing = writer.submit(self._write_batch, batch, vectors, existing)
                processed += len(batch)
                report(self.progress, "ingest", processed + result.unchanged, message="documents")
            if writing is not None:
                _merge_counts(result, writing.result())
        if self.delete_missing:
            self._delete_missing(paths, existing, seen, failed_sources, result)
        result.chunks_embedded = self.embedder.misses - misses_before
        result.seconds = time.perf_counter() - started
        return result

    def _batches(
        self,
        paths: Sequence[str | Path],
        existing: dict[str, DocumentState],
        result: IngestReport,
        seen: set[str],
        failed_sources: set[str],
    ) -> Iterator[list[_Pending]]:
        out: queue.Queue[object] = queue.Queue(maxsize=4096)
        producer = _Producer(paths, self.load_options, self.chunker, existing, out, self.force, self.only)
        producer.start()
        batch: list[_Pending] = []
        batch_chunks = 0
        try:
            while True:
                item = out.get()
                if item is _DONE:
                    break
                if isinstance(item, LoadFailure):
                    result.errors.append(IngestError(path=item.path, reason=item.reason, line=item.line))
                    failed_sources.add(item.path)
                    continue
                if isinstance(item, tuple):
                    _, document = item
                    if self._first_sight(document, seen, result):
                        result.unchanged += 1
                        result.chunks_unchanged += len(existing[document.id].chunk_ids)
                    continue
                assert isinstance(item, _Pending)
                if not self._first_sight(item.document, seen, result):
                    continue
                if not item.chunks:
                    result.errors.append(
                        IngestError(path=item.document.source, reason="no text to index after chunking")
                    )
                    continue
                batch.append(item)
                batch_chunks += len(item.chunks)
                if batch_chunks >= EMBED_BATCH_CHUNKS:
                    yield batch
                    batch, batch_chunks = [], 0
            if batch:
                yield batch
        finally:
            producer.stop_flag.set()
            while producer.is_alive():
                with contextlib.suppress(queue.Empty):
                    out.get(timeout=0.05)
            producer.join()
        if producer.error is not None:
            raise producer.error

    @staticmethod
    def _first_sight(document: Document, seen: set[str], result: IngestReport) -> bool:
        if document.id in seen:
            result.errors.append(
                IngestError(
                    path=document.source,
                    reason=f"duplicate document id {document.id!r}: an earlier record already used it; "
                    "make the id field unique",
                )
            )
            return False
        seen.add(document.id)
        return True

    def _embed_batch(self, batch: list[_Pending]) -> np.ndarray:
        chunks = [c for p in batch for c in p.chunks]
        return self.embedder.embed([c.text_for_embedding for c in chunks], [c.content_hash for c in chunks])

    def _write_batch(
        self, batch: list[_Pending], vectors: np.ndarray, existing: dict[str, DocumentState]
    ) -> IngestReport:
        """Write one embedded batch (in the writer thread); its counts come back to be merged by the caller."""
        counts = IngestReport(tenant=self.tenant)
        offset = 0
        for pending in batch:
            count = len(pending.chunks)
            doc_vectors = vectors[offset : offset + count]
            offset += count
            self._write_document(pending, doc_vectors, existing.get(pending.document.id), counts)
        return counts

    def _write_document(
        self, pending: _Pending, vectors: np.ndarray, old: DocumentState | None, result: IngestReport
    ) -> None:
        document = pending.document
        state = DocumentState(
            doc_id=document.id,
            source=document.source,
            doc_hash=document.content_hash,
            chunk_ids=tuple(c.id for c in pending.chunks),
        )
        try:
            self.index.replace_document(state, pending.chunks, vectors, tenant=self.tenant)
        except BatchWriteError as exc:  # the document keeps its old version; the next sync retries it
            result.errors.append(IngestError(path=document.source, reason=f"document {document.id!r}: {exc}"))
            return
        self.written.add(document.id)
        new_ids = set(state.chunk_ids)
        old_ids = set(old.chunk_ids) if old else set()
        result.chunks_added += len(new_ids - old_ids)
        result.chunks_deleted += len(old_ids - new_ids)
        result.chunks_unchanged += len(new_ids & old_ids)
        if old is None:
            result.added += 1
        else:
            result.updated += 1

    def _delete_missing(
        self,
        paths: Sequence[str | Path],
        existing: dict[str, DocumentState],
        seen: set[str],
        failed_sources: set[str],
        result: IngestReport,
    ) -> None:
        scopes = [source_scope(p) for p in paths]
        gone = [
            doc_id
            for doc_id, state in existing.items()
            if doc_id not in seen
            and state.source not in failed_sources
            and any(source_in_scope(state.source, scope) for scope in scopes)
        ]
        if gone:
            result.chunks_deleted += self.index.delete_documents(gone, tenant=self.tenant)
            result.deleted += len(gone)


def _merge_counts(result: IngestReport, counts: IngestReport) -> None:
    """Add a writer-thread batch report to the run's: its counts and its errors (none may be lost)."""
    for name in ("added", "updated", "chunks_added", "chunks_deleted", "chunks_unchanged"):
        setattr(result, name, getattr(result, name) + getattr(counts, name))
    result.errors.extend(counts.errors)


def sync_paths(
    workspace: Workspace,
    paths: Sequence[str | Path],
    *,
    tenant: str | None = None,
    load_options: LoadOptions | None = None,
    chunking: ChunkingOptions | None = None,
    progress: ProgressCallback | None = None,
    delete_missing: bool = True,
    lock_timeout: float | None = None,
    force: frozenset[str] = frozenset(),
) -> IngestReport:
    """Ingest ``paths`` into a workspace's index incrementally and report the counts.

    Holds the store's write lock (:mod:`ragtune.ingest.lock`) for the whole run, waiting up to
    ``lock_timeout`` seconds (forever when ``None``) for another ingest into the same store.

    Example:
        >>> with Workspace.open(store="my-store") as ws:
        ...     report = sync_paths(ws, ["docs/"])
        ...     print(report.added, report.updated, report.unchanged, report.deleted)
    """
    settings = workspace.settings
    options = chunking or ChunkingOptions(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    chunker = Chunker(workspace.embedder.count_tokens, options)
    syncer = Syncer(
        workspace.index,
        workspace.cached_embedder,
        chunker,
        tenant=tenant,
        load_options=load_options,
        progress=progress,
        delete_missing=delete_missing,
        force=force,
    )
    with write_lock(workspace, timeout=lock_timeout):
        return syncer.run(paths)


__all__ = ["Syncer", "sync_paths"]
