"""The retrieval core every adapter wraps: embed the query, search the index.

LangChain and LlamaIndex retrievers, chains and agent tools all go through
:class:`Searcher`, so search behaviour is defined once.
"""

from __future__ import annotations

from typing import Any

from ragtune.embeddings.base import Embedder
from ragtune.index.base import Index
from ragtune.index.request import SearchOptions, SearchRequest
from ragtune.schema import Hit, SearchMode


class Searcher:
    """Embeds a query with the index's embedder and runs one search.

    Example:
        >>> searcher = Searcher(index, embedder, SearchOptions(k=5))
        >>> hits = searcher.search("how do I reset my password?", mode="bm25")
    """

    def __init__(self, index: Index, embedder: Embedder, options: SearchOptions | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.options = options or SearchOptions()

    def resolve(self, **overrides: Any) -> SearchOptions:
        """The default options with non-``None`` overrides applied (and validated)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        if not changes:
            return self.options
        return SearchOptions.model_validate({**self.options.model_dump(), **changes})

    @staticmethod
    def _request(query: str, options: SearchOptions, vector: Any) -> SearchRequest:
        """The options with the query added (``Index.search`` applies every option, the score floor too)."""
        fields = {name: getattr(options, name) for name in SearchOptions.model_fields}
        return SearchRequest(query_text=query, query_vector=vector, **fields)

    def search(self, query: str, *, query_vector: Any = None, **overrides: Any) -> list[Hit]:
        """Search with the default options, overridden per call (``mode=``, ``k=``, ``filters=`` ...).

        ``query_vector`` skips embedding the query (pass one from :meth:`Embedder.embed_queries`).
        """
        options = self.resolve(**overrides)
        vector = query_vector
        if vector is None and options.mode is not SearchMode.BM25:
            vector = self.embedder.embed_query(query)
        return self.index.search(self._request(query, options, vector))

    async def asearch(self, query: str, *, query_vector: Any = None, **overrides: Any) -> list[Hit]:
        """Async twin of :meth:`search` (same signature, same options, same results)."""
        options = self.resolve(**overrides)
        vector = query_vector
        if vector is None and options.mode is not SearchMode.BM25:
            vector = await self.embedder.aembed_query(query)
        return await self.index.asearch(self._request(query, options, vector))


__all__ = ["SearchOptions", "Searcher"]
