"""Retrieval: the :class:`Searcher` core and its LangChain / LlamaIndex adapters (loaded lazily)."""

from __future__ import annotations

from typing import Any

from ragtune.retrievers.search import Searcher, SearchOptions

_LAZY = {
    "RagtuneRetriever": "ragtune.retrievers.langchain",
    "RagtuneLlamaRetriever": "ragtune.retrievers.llamaindex",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ragtune.retrievers' has no attribute {name!r}")


__all__ = ["RagtuneLlamaRetriever", "RagtuneRetriever", "SearchOptions", "Searcher"]
