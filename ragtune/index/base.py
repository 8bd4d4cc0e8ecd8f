"""The one interface every index backend implements.

Users call the public methods (``search``, ``asearch``, ``upsert`` ...); a
backend implements the underscored hooks. The public wrappers own argument
validation, so backends only see well-formed requests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from ragtune.errors import ConfigError
from ragtune.index.request import DEFAULT_ALPHA, DEFAULT_FUSION, SearchOptions, SearchRequest
from ragtune.schema import Chunk, DocumentState, Hit, IndexStats

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ragtune.index.fingerprint import Fingerprint


class Index(ABC):
    """A store of chunks with vector, BM25 and hybrid search, filters and tenants.

    Vectors are L2-normalised float32 rows, one per chunk. ``tenant=None`` is
    the default tenant. Implementations must make ``replace_document`` atomic
    per document so an interrupted ingest never leaves half a document.
    """

    name: str = "index"
    supports_tenants: bool = True
    has_native_async: bool = False

    # -- writes ---------------------------------------------------------
    def replace_document(
        self,
        state: DocumentState,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        *,
        tenant: str | None = None,
    ) -> None:
        """Make the index hold exactly ``chunks`` for ``state.doc_id``.

        Chunks of the document that are not in ``chunks`` are deleted; the
        document state (hash, chunk ids) is recorded last, so a crash before
        it leaves the document looking changed and the next sync redoes it.
        """
        if len(chunks) != len(vectors):
            msg = f"{len(chunks)} chunks but {len(vectors)} vectors for document {state.doc_id!r}"
            raise ConfigError(msg)
        self._replace_document(state, list(chunks), np.asarray(vectors, dtype=np.float32), tenant)

    def delete_documents(self, doc_ids: Sequence[str], *, tenant: str | None = None) -> int:
        """Delete documents and all their chunks; returns the number of chunks deleted."""
        if not doc_ids:
            return 0
        return self._delete_documents(list(doc_ids), tenant)

    # -- reads ------------------------------------------------------------
    def search(self, request: SearchRequest) -> list[Hit]:
        """Run a search; the top ``k`` hits, best first with ``rank`` set, less any under ``min_score``."""
        return _top(self._search(request), request)

    async def asearch(self, request: SearchRequest) -> list[Hit]:
        """Async search: native where the backend has it, else in a worker thread."""
        if self.has_native_async:
            return _top(await self._asearch(request), request)
        import asyncio

        return await asyncio.to_thread(self.search, request)

    def documents(self, *, tenant: str | None = None) -> dict[str, DocumentState]:
        """Every document the index holds for the tenant, by id."""
        return self._documents(tenant)

    def get_chunks(self, chunk_ids: Sequence[str], *, tenant: str | None = None) -> list[Chunk]:
        """Chunks by id, in the order asked (missing ids are left out)."""
        return self._get_chunks(list(chunk_ids), tenant)

    def stats(self, *, tenant: str | None = None) -> IndexStats:
        """Document and chunk totals (for one tenant, or all with a per-tenant breakdown)."""
        return self._stats(tenant)

    def tenants(self) -> list[str]:
        """Names of the tenants that hold data."""
        return self._tenants()

    # -- integrity -----------------------------------------------------------
    def fingerprint(self) -> Fingerprint | None:
        """The embedding model that built this index (``None`` before the first is recorded)."""
        return self._read_fingerprint()

    def record_fingerprint(self, fingerprint: Fingerprint) -> Fingerprint:
        """Store ``fingerprint`` unless one is stored already; returns the one the index now holds."""
        return self._write_fingerprint(fingerprint)

    def export_chunks(self, *, tenant: str | None = None) -> Iterator[tuple[Chunk, np.ndarray]]:
        """Every chunk the index holds for the tenant with its stored vector, in batches' order.

        What ``doctor`` checks and ``migrate`` copies: the raw content, whatever the document records say.
        """
        return self._export_chunks(tenant)

    def delete_chunks(self, chunk_ids: Sequence[str], *, tenant: str | None = None) -> int:
        """Delete chunks by id (orphans, leftovers of an old version); returns how many were deleted."""
        if not chunk_ids:
            return 0
        return self._delete_chunks(list(chunk_ids), tenant)

    def put_documents(
        self, items: Sequence[tuple[DocumentState, Sequence[Chunk], np.ndarray]], *, tenant: str | None = None
    ) -> None:
        """Write many documents whose vectors are known (``migrate``); each as ``replace_document`` would.

        Backends may batch across documents; every document's state is still recorded only after
        all of its chunks were written.
        """
        for state, chunks, vectors in items:
            self.replace_document(state, chunks, vectors, tenant=tenant)

    def _read_fingerprint(self) -> Fingerprint | None:
        return None

    def _write_fingerprint(self, fingerprint: Fingerprint) -> Fingerprint:
        return fingerprint

    def _export_chunks(self, tenant: str | None) -> Iterator[tuple[Chunk, np.ndarray]]:
        msg = f"the {self.name} index cannot list its raw chunks"
        raise NotImplementedError(msg)

    def _delete_chunks(self, chunk_ids: list[str], tenant: str | None) -> int:
        msg = f"the {self.name} index cannot delete chunks by id"
        raise NotImplementedError(msg)

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        """Release connections and files; safe to call twice."""
        return None

    def __enter__(self) -> Index:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- hooks for backends ------------------------------------------------
    @abstractmethod
    def _replace_document(
        self, state: DocumentState, chunks: list[Chunk], vectors: np.ndarray, tenant: str | None
    ) -> None: ...

    @abstractmethod
    def _delete_documents(self, doc_ids: list[str], tenant: str | None) -> int: ...

    @abstractmethod
    def _search(self, request: SearchRequest) -> list[Hit]: ...

    async def _asearch(self, request: SearchRequest) -> list[Hit]:
        import asyncio

        return await asyncio.to_thread(self._search, request)

    @abstractmethod
    def _documents(self, tenant: str | None) -> dict[str, DocumentState]: ...

    @abstractmethod
    def _get_chunks(self, chunk_ids: list[str], tenant: str | None) -> list[Chunk]: ...

    @abstractmethod
    def _stats(self, tenant: str | None) -> IndexStats: ...

    @abstractmethod
    def _tenants(self) -> list[str]: ...


def _top(hits: list[Hit], request: SearchRequest) -> list[Hit]:
    """The first ``k`` hits ranked from 0, then the score floor (ranks are kept, so they stay 0, 1, ...)."""
    ranked = [h.model_copy(update={"rank": i}) for i, h in enumerate(hits[: request.k])]
    if request.min_score is None:
        return ranked
    return [h for h in ranked if h.score >= request.min_score]


def __getattr__(name: str) -> Any:
    """``run_in_thread``, kept for existing importers: :func:`asyncio.to_thread` itself, which also carries
    contextvars into the worker (use it directly). Looked up on use, so importing an index loads no asyncio."""
    if name == "run_in_thread":
        import asyncio

        return asyncio.to_thread
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [  # noqa: F822 - run_in_thread is served by __getattr__
    "DEFAULT_ALPHA",
    "DEFAULT_FUSION",
    "Index",
    "SearchOptions",
    "SearchRequest",
    "run_in_thread",
]
