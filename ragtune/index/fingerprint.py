"""What built an index: embedding model id, dimension and canary vectors.

The fingerprint lives in the index itself (the embedded store's ``meta``
table, a reserved Weaviate tenant), so every client that opens the same
store or collection sees it. Two checks guard against mixing vector spaces:

* the cheap one (:func:`check_identity`, model id and dimension) runs when a
  workspace opens the index and needs no model;
* the canary one (:meth:`FingerprintGuard.verify`) re-embeds a few fixed
  texts on the first embedding call and compares them with the stored
  vectors, catching a changed model published under the same name. A BM25
  search never embeds, so it never loads the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from ragtune.embeddings.base import Embedder
from ragtune.errors import ConfigError

if TYPE_CHECKING:
    from ragtune.index.base import Index

CANARY_TEXTS: tuple[str, ...] = (
    "ragtune canary: the quick brown fox jumps over the lazy dog.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Return policy: items can be returned within 30 days with a receipt.",
)
MIN_CANARY_SIMILARITY = 0.999
"""Cosine below which a re-embedded canary counts as another model (float noise stays far above)."""


class Fingerprint(BaseModel):
    """The embedding model an index was built with, and its vectors for the canary texts."""

    model_config = ConfigDict(frozen=True)

    model_id: str
    dim: int
    canaries: tuple[str, ...] = ()
    vectors: tuple[tuple[float, ...], ...] = ()

    @classmethod
    def of(cls, embedder: Embedder) -> Fingerprint:
        """Embed the canary texts with ``embedder``'s query path (the one every search takes)."""
        rows = embedder.embed_queries(list(CANARY_TEXTS))
        return cls(
            model_id=embedder.model_id,
            dim=int(rows.shape[1]),
            canaries=CANARY_TEXTS,
            vectors=tuple(tuple(float(x) for x in row) for row in rows),
        )


def check_identity(stored: Fingerprint | None, model_id: str, dim: int | None, where: str) -> None:
    """Refuse a client whose model id or dimension differs from the one that built the index."""
    if stored is None:
        return
    if stored.model_id != model_id or (dim is not None and stored.dim != dim):
        msg = (
            f"{where} was built with embedding model {stored.model_id!r} ({stored.dim}-d) but this client uses "
            f"{model_id!r}" + (f" ({dim}-d)" if dim is not None else "") + ". Use the same --embedding, or "
            "another store/collection for the new model."
        )
        raise ConfigError(msg)


def check_canaries(stored: Fingerprint, embedder: Embedder, where: str) -> None:
    """Refuse an embedder whose canary vectors no longer match the stored ones (same name, other model)."""
    if not stored.canaries:
        return
    now = embedder.embed_queries(list(stored.canaries))  # the query path: no torch for the local model
    then = np.asarray(stored.vectors, dtype=np.float32)
    similarity = 0.0 if now.shape != then.shape else float(np.min(np.sum(now * then, axis=1)))
    if similarity < MIN_CANARY_SIMILARITY:
        msg = (
            f"{where} was built with embedding model {stored.model_id!r}, and this client's {embedder.model_id!r} "
            f"gives other vectors for the index's canary texts (cosine {similarity:.4f} < {MIN_CANARY_SIMILARITY}): "
            "the model changed under the same name. Re-ingest into a new store/collection, or restore the old model."
        )
        raise ConfigError(msg)


class FingerprintGuard:
    """Checks one index against one embedder: identity at creation, canaries once on first use."""

    def __init__(self, index: Index, model_id: str, dim: int | None) -> None:
        self.index = index
        self.where = repr(index)
        self._lock = threading.Lock()
        self._verified = False
        check_identity(index.fingerprint(), model_id, dim, self.where)

    def verify(self, embedder: Embedder) -> None:
        """Compare canaries (or record the fingerprint of a fresh index); runs the model once."""
        if self._verified:
            return
        with self._lock:
            if self._verified:
                return
            stored = self.index.fingerprint()
            if stored is None:
                mine = Fingerprint.of(embedder)
                stored = self.index.record_fingerprint(mine)
                if stored == mine:
                    self._verified = True
                    return
            check_identity(stored, embedder.model_id, embedder.dim, self.where)
            check_canaries(stored, embedder, self.where)
            self._verified = True


class VerifiedEmbedder(Embedder):
    """An embedder that runs :meth:`FingerprintGuard.verify` before its first embedding.

    ``guard`` may be a callable returning the guard, so the index opens only when the
    first text is embedded. Every public method delegates to the wrapped embedder.
    """

    def __init__(self, inner: Embedder, guard: FingerprintGuard | Callable[[], FingerprintGuard]) -> None:
        self.inner = inner
        self.guard = guard
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens

    def _verify(self) -> None:
        guard = self.guard if isinstance(self.guard, FingerprintGuard) else self.guard()
        guard.verify(self.inner)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self._verify()
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self._verify()
        return self.inner.embed_query(text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self._verify()
        return self.inner.embed_queries(texts)

    async def aembed_query(self, text: str) -> np.ndarray:
        import asyncio

        await asyncio.to_thread(self._verify)
        return await self.inner.aembed_query(text)

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        import asyncio

        await asyncio.to_thread(self._verify)
        return await self.inner.aembed_documents(texts)

    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        self._verify()
        return self.inner._embed(texts, is_query=is_query)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


__all__ = [
    "CANARY_TEXTS",
    "MIN_CANARY_SIMILARITY",
    "Fingerprint",
    "FingerprintGuard",
    "VerifiedEmbedder",
    "check_canaries",
    "check_identity",
]
