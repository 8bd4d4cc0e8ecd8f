"""The ids, attributes and scores a retrieved chunk carries into a framework's metadata.

Both adapters (:mod:`~ragtune.retrievers.langchain`, :mod:`~ragtune.retrievers.llamaindex`)
name them the same way; each lays them over the chunk's own metadata.
"""

from __future__ import annotations

from typing import Any

from ragtune.schema import Hit


def hit_fields(hit: Hit) -> dict[str, Any]:
    """``source``, ``doc_id``, ``chunk_id``, ``title``, ``section``, ``page``, ``position``, ``score``,
    ``distance`` and ``rank`` of a hit, in that order (``None`` where the chunk or search has none)."""
    chunk = hit.chunk
    return {
        "source": chunk.source,
        "doc_id": chunk.doc_id,
        "chunk_id": chunk.id,
        "title": chunk.title,
        "section": chunk.section,
        "page": chunk.page,
        "position": chunk.position,
        "score": hit.score,
        "distance": hit.distance,
        "rank": hit.rank,
    }


__all__ = ["hit_fields"]
