"""A deterministic embedder for tests: no model, no download, same vectors in every process."""

from __future__ import annotations

import functools
import hashlib
import re

import numpy as np

from ragtune.embeddings.base import Embedder

_WORD = re.compile(r"\w+")


class FakeEmbedder(Embedder):
    """Embeds a text as the normalised sum of one fixed random direction per word.

    Each lower-cased word hashes (blake2b, so not salted per process) to the
    seed of a standard-normal vector; texts sharing words point the same way,
    which is enough for tests of ranking, filters and fusion. An empty text
    gets the direction of the empty word.

    Example:
        >>> embedder = FakeEmbedder(dim=8)
        >>> embedder.embed_documents(["red apple", "green apple"]).shape
        (2, 8)
    """

    max_tokens = 10_000

    def __init__(self, dim: int = 8, *, model_id: str | None = None) -> None:
        self.dim = dim
        self.model_id = model_id or f"ragtune-fake-{dim}"

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - embedders live as long as the test session
    def _word(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        return np.random.default_rng(seed).standard_normal(self.dim)

    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        rows = np.zeros((len(texts), self.dim), dtype=np.float64)
        for i, text in enumerate(texts):
            words = _WORD.findall(text.lower()) or [""]
            rows[i] = np.sum([self._word(w) for w in words], axis=0)
        return rows.astype(np.float32)

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))


__all__ = ["FakeEmbedder"]
