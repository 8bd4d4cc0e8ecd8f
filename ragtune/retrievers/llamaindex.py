"""ragtune search as a LlamaIndex ``BaseRetriever`` (sync and async).

Example:
    >>> from ragtune.retrievers.llamaindex import RagtuneLlamaRetriever
    >>> nodes = RagtuneLlamaRetriever(workspace.searcher(), k=5).retrieve("refund policy")
"""

from __future__ import annotations

from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ragtune.retrievers.search import Searcher
from ragtune.schema import Hit


def hit_to_llamaindex(hit: Hit) -> NodeWithScore:
    """A LlamaIndex node with the chunk's id, text and metadata, scored by the hit."""
    chunk = hit.chunk
    metadata: dict[str, Any] = {
        **{k: v for k, v in chunk.metadata.items() if v is not None},
        "source": chunk.source,
        "doc_id": chunk.doc_id,
        "chunk_id": chunk.id,
        "title": chunk.title or "",
        "section": chunk.section or "",
        "page": chunk.page if chunk.page is not None else "",
        "distance": hit.distance if hit.distance is not None else "",
    }
    node = TextNode(id_=chunk.id, text=chunk.text, metadata=metadata)
    node.excluded_embed_metadata_keys = list(metadata)
    node.excluded_llm_metadata_keys = [k for k in metadata if k not in ("source", "title", "section", "page")]
    return NodeWithScore(node=node, score=hit.score)


class RagtuneLlamaRetriever(BaseRetriever):
    """Vector, BM25 or hybrid search over a ragtune index for LlamaIndex query engines and agents."""

    def __init__(self, searcher: Searcher, **options: Any) -> None:
        """``options`` are :class:`~ragtune.retrievers.search.SearchOptions` fields (mode, k, alpha, ...)."""
        super().__init__()
        self._searcher = searcher
        self._options = options
        searcher.resolve(**options)  # validate now, not at the first query

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [hit_to_llamaindex(h) for h in self._searcher.search(query_bundle.query_str, **self._options)]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await self._searcher.asearch(query_bundle.query_str, **self._options)
        return [hit_to_llamaindex(h) for h in hits]


__all__ = ["RagtuneLlamaRetriever", "hit_to_llamaindex"]
