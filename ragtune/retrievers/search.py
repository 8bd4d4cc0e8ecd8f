"""The retrieval core every adapter wraps: embed the query, search the index.

LangChain and LlamaIndex retrievers, chains and agent tools all go through
:class:`Searcher`, so search behaviour is defined once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ragtune.embeddings.base import Embedder
from ragtune.filters import FilterExpr
from ragtune.index.base import DEFAULT_ALPHA, DEFAULT_FUSION, Index, SearchRequest
from ragtune.schema import Fusion, Hit, SearchMode


class SearchOptions(BaseModel):
    """How to search: mode, k, alpha, fusion, filters, tenant and an optional score floor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: SearchMode = SearchMode.HYBRID
    """``vector``, ``bm25`` or ``hybrid`` (default)."""
    k: int = Field(default=4, ge=1)
    """How many hits to return."""
    alpha: float = Field(default=DEFAULT_ALPHA, ge=0.0, le=1.0)
    """Hybrid weight of the vector side: 1 = vector only, 0 = BM25 only."""
    fusion: Fusion = DEFAULT_FUSION
    """Hybrid fusion: ``relativeScore`` (default) or ``ranked``."""
    filters: FilterExpr | None = None
    """Metadata filter applied on both sides of the search."""
    tenant: str | None = None
    """Tenant to search; ``None`` is the default tenant."""
    min_score: float | None = None
    """Drop hits scoring below this; ``None`` keeps the top k whatever their score."""
    candidates: int | None = Field(default=None, ge=1)
    """Candidates per side of a hybrid search before fusion (default max(k, 100))."""


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

    def _request(self, query: str, options: SearchOptions, vector: Any) -> SearchRequest:
        return SearchRequest(
            query_text=query,
            query_vector=vector,
            mode=options.mode,
            k=options.k,
            alpha=options.alpha,
            fusion=options.fusion,
            filters=options.filters,
            tenant=options.tenant,
            candidates=options.candidates,
        )

    @staticmethod
    def _floor(hits: list[Hit], options: SearchOptions) -> list[Hit]:
        if options.min_score is None:
            return hits
        return [h for h in hits if h.score >= options.min_score]

    def search(self, query: str, *, query_vector: Any = None, **overrides: Any) -> list[Hit]:
        """Search with the default options, overridden per call (``mode=``, ``k=``, ``filters=`` ...).

        ``query_vector`` skips embedding the query (pass one from :meth:`Embedder.embed_queries`).
        """
        options = self.resolve(**overrides)
        vector = query_vector
        if vector is None and options.mode is not SearchMode.BM25:
            vector = self.embedder.embed_query(query)
        return self._floor(self.index.search(self._request(query, options, vector)), options)

    async def asearch(self, query: str, *, query_vector: Any = None, **overrides: Any) -> list[Hit]:
        """Async twin of :meth:`search` (same signature, same options, same results)."""
        options = self.resolve(**overrides)
        vector = query_vector
        if vector is None and options.mode is not SearchMode.BM25:
            vector = await self.embedder.aembed_query(query)
        return self._floor(await self.index.asearch(self._request(query, options, vector)), options)


__all__ = ["SearchOptions", "Searcher"]
