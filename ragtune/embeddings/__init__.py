"""Embedders (local MiniLM by default, OpenAI by configuration) and the embedding cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragtune._lazy import lazy_getattr

if TYPE_CHECKING:
    from ragtune.embeddings.base import Embedder
    from ragtune.embeddings.cache import CachedEmbedder, EmbeddingCache
    from ragtune.embeddings.local import LocalEmbedder
    from ragtune.embeddings.openai import OpenAIEmbedder

_LAZY = {
    "Embedder": "ragtune.embeddings.base",
    "CachedEmbedder": "ragtune.embeddings.cache",
    "EmbeddingCache": "ragtune.embeddings.cache",
    "LocalEmbedder": "ragtune.embeddings.local",
    "OpenAIEmbedder": "ragtune.embeddings.openai",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__all__ = ["CachedEmbedder", "Embedder", "EmbeddingCache", "LocalEmbedder", "OpenAIEmbedder"]
