"""Retrieval: the :class:`Searcher` core and its LangChain / LlamaIndex adapters (loaded lazily)."""

from __future__ import annotations

from ragtune._lazy import lazy_getattr
from ragtune.retrievers.search import Searcher, SearchOptions

_LAZY = {
    "RagtuneRetriever": "ragtune.retrievers.langchain",
    "RagtuneLlamaRetriever": "ragtune.retrievers.llamaindex",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__all__ = ["RagtuneLlamaRetriever", "RagtuneRetriever", "SearchOptions", "Searcher"]
