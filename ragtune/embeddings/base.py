"""The embedder interface: texts in, L2-normalised float32 rows out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows as contiguous float32 of unit length, so a dot product is a cosine similarity (zero rows stay zero).

    The one L2 normalisation of the package: embedders and the embedded index's vector matrix both use it.
    """
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


class Embedder(ABC):
    """Embeds documents and queries.

    ``model_id`` names the model exactly (it keys the embedding cache, so two
    embedders with the same id must give the same vectors).
    """

    model_id: str
    dim: int
    max_tokens: int = 256
    """Longest input (in the model's own tokens) the model reads; longer input is truncated."""

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts for indexing; returns ``(len(texts), dim)`` normalised float32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalise(self._embed(list(texts), is_query=False))

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query; returns a ``(dim,)`` normalised float32 vector."""
        return normalise(self._embed([text], is_query=True))[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed many queries in one model call (evaluation runs); rows match :meth:`embed_query`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalise(self._embed(list(texts), is_query=True))

    async def aembed_query(self, text: str) -> np.ndarray:
        import asyncio

        return await asyncio.to_thread(self.embed_query, text)

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        import asyncio

        return await asyncio.to_thread(self.embed_documents, texts)

    @abstractmethod
    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray: ...

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Length of ``text`` in the model's own tokens (for token-aware chunking)."""


__all__ = ["Embedder", "normalise"]
