"""Embedders (local MiniLM by default, OpenAI by configuration) and the embedding cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ragtune.embeddings' has no attribute {name!r}")


__all__ = ["CachedEmbedder", "Embedder", "EmbeddingCache", "LocalEmbedder", "OpenAIEmbedder"]
