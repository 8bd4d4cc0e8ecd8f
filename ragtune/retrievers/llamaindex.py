"""ragtune search as a LlamaIndex ``BaseRetriever`` (sync and async).

Example:
    >>> from ragtune.retrievers.llamaindex import RagtuneLlamaRetriever
    >>> nodes = RagtuneLlamaRetriever(workspace.searcher(), k=5).retrieve("refund policy")
"""

from __future__ import annotations

from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ragtune.retrievers.metadata import hit_fields
from ragtune.retrievers.search import Searcher
from ragtune.schema import Hit

_ON_THE_NODE = ("position", "score", "rank")
"""Hit fields left out of a node's metadata: the score is ``NodeWithScore.score``, the order that of the list."""


def hit_to_llamaindex(hit: Hit) -> NodeWithScore:
    """A LlamaIndex node with the chunk's id, text and metadata, scored by the hit.

    LlamaIndex metadata holds no ``None``: a missing title, section, page or distance reads ``""``,
    and metadata keys without a value are left out.
    """
    chunk = hit.chunk
    fields = {k: "" if v is None else v for k, v in hit_fields(hit).items() if k not in _ON_THE_NODE}
    metadata: dict[str, Any] = {**{k: v for k, v in chunk.metadata.items() if v is not None}, **fields}
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
