"""ragtune search as a LangChain ``BaseRetriever`` (sync and native async).

Example:
    >>> from ragtune.retrievers.langchain import RagtuneRetriever
    >>> retriever = RagtuneRetriever(searcher=workspace.searcher(), k=5, mode="hybrid")
    >>> docs = retriever.invoke("how do refunds work?", k=3)
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from ragtune.filters import FilterExpr
from ragtune.retrievers.metadata import hit_fields
from ragtune.retrievers.search import Searcher
from ragtune.schema import Fusion, Hit, SearchMode


def hit_to_langchain(hit: Hit) -> LCDocument:
    """A LangChain document whose metadata carries ids, scores and the chunk's fields."""
    chunk = hit.chunk
    metadata: dict[str, Any] = {**chunk.metadata, **hit_fields(hit)}
    return LCDocument(page_content=chunk.text, metadata=metadata, id=chunk.id)


class RagtuneRetriever(BaseRetriever):
    """Vector, BM25 or hybrid search over a ragtune index.

    Every search option can be set on the retriever and overridden per call:
    ``retriever.invoke(query, k=2, mode="bm25", filters=F("page") >= 2)``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: Searcher
    """The index and embedder to search (``Workspace.searcher()``)."""
    mode: SearchMode = SearchMode.HYBRID
    k: int = 4
    alpha: float | None = None
    """Hybrid weight of the vector side; ``None`` keeps the searcher's default."""
    fusion: Fusion | None = None
    filters: FilterExpr | None = None
    tenant: str | None = None
    min_score: float | None = None

    def _options(self, overrides: dict[str, Any]) -> dict[str, Any]:
        base = {
            "mode": self.mode,
            "k": self.k,
            "alpha": self.alpha,
            "fusion": self.fusion,
            "filters": self.filters,
            "tenant": self.tenant,
            "min_score": self.min_score,
        }
        return {**base, **{k: v for k, v in overrides.items() if v is not None}}

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[LCDocument]:
        return [hit_to_langchain(h) for h in self.searcher.search(query, **self._options(kwargs))]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[LCDocument]:
        hits = await self.searcher.asearch(query, **self._options(kwargs))
        return [hit_to_langchain(h) for h in hits]


__all__ = ["RagtuneRetriever", "hit_to_langchain"]
