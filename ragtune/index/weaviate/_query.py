"""Search requests as Weaviate query calls, and query results as hits (no I/O).

The sync and async search paths share :func:`plan_search` and :func:`to_hits`
and differ only in ``await``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from weaviate.classes.query import HybridFusion, MetadataQuery
from weaviate.collections.classes.filters import FilterReturn

from ragtune.index.base import SearchRequest
from ragtune.index.weaviate._filters import translate
from ragtune.index.weaviate._schema import VECTOR_NAME, chunk_from_properties
from ragtune.schema import Fusion, Hit, SearchMode

SEARCH_PROPERTIES = ["search_text"]
"""BM25 searches the text that was embedded (``embed_text`` if set, else ``text``)."""
RETURN_PROPERTIES = ["chunk_json"]
FUSIONS = {Fusion.RELATIVE_SCORE: HybridFusion.RELATIVE_SCORE, Fusion.RANKED: HybridFusion.RANKED}


@dataclass(frozen=True)
class QueryPlan:
    """Which ``collection.query`` method to call, with which keyword arguments."""

    method: str
    kwargs: dict[str, Any]


def plan_search(request: SearchRequest, query_vector: np.ndarray | None, types: Mapping[str, str]) -> QueryPlan | None:
    """The query for ``request`` on a collection whose properties have ``types``; ``None``: nothing can match."""
    where = True if request.filters is None else translate(request.filters, types)
    if where is False:
        return None
    return plan_query(request, query_vector, None if where is True else where)


def plan_query(request: SearchRequest, query_vector: np.ndarray | None, where: FilterReturn | None) -> QueryPlan:
    common: dict[str, Any] = {"limit": request.k, "filters": where, "return_properties": RETURN_PROPERTIES}
    if request.mode is SearchMode.VECTOR:
        assert query_vector is not None
        return QueryPlan(
            "near_vector",
            {
                **common,
                "near_vector": query_vector.tolist(),
                "target_vector": VECTOR_NAME,
                "return_metadata": MetadataQuery(distance=True),
            },
        )
    if request.mode is SearchMode.BM25:
        return QueryPlan(
            "bm25",
            {
                **common,
                "query": request.query_text,
                "query_properties": SEARCH_PROPERTIES,
                "return_metadata": MetadataQuery(score=True, explain_score=True),
            },
        )
    assert query_vector is not None
    return QueryPlan(
        "hybrid",
        {
            **common,
            "query": request.query_text,
            "vector": query_vector.tolist(),
            "alpha": request.alpha,
            "fusion_type": FUSIONS[request.fusion],
            "query_properties": SEARCH_PROPERTIES,
            "target_vector": VECTOR_NAME,
            "return_metadata": MetadataQuery(score=True, explain_score=True, distance=True),
            # Weaviate does not report a vector distance for hybrid results: compute it from the vector.
            "include_vector": [VECTOR_NAME],
        },
    )


def to_hits(request: SearchRequest, query_vector: np.ndarray | None, objects: Sequence[Any]) -> list[Hit]:
    hits = []
    for obj in objects:
        chunk = chunk_from_properties(obj.properties)
        meta = obj.metadata
        if request.mode is SearchMode.VECTOR:
            distance = float(meta.distance)
            hits.append(Hit(chunk=chunk, score=1.0 - distance, distance=distance))
        elif request.mode is SearchMode.BM25:
            hits.append(Hit(chunk=chunk, score=float(meta.score or 0.0)))
        else:
            raw = meta.distance
            fused_distance = (
                float(raw) if raw is not None else cosine_distance(query_vector, (obj.vector or {}).get(VECTOR_NAME))
            )
            hits.append(Hit(chunk=chunk, score=float(meta.score or 0.0), distance=fused_distance))
    return hits


def cosine_distance(query: np.ndarray | None, vector: Any) -> float | None:
    if query is None or vector is None:
        return None
    v = np.asarray(vector, dtype=np.float32)
    norms = float(np.linalg.norm(query) * np.linalg.norm(v))
    if norms == 0.0:
        return None
    return float(1.0 - np.dot(query, v) / norms)


__all__ = ["QueryPlan", "cosine_distance", "plan_query", "plan_search", "to_hits"]
