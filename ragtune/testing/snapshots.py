"""Search results as plain tuples, to check that an index answers as another does.

Reopened, lazily loaded or rebuilt, an index must give the same hits as the
one it stands for; ragtune's own tests compare :func:`snapshot` lists with
``==`` (exactly) or :func:`assert_same_snapshots` (within float tolerance).

Example:
    >>> before = snapshot(index, [("light energy", None)])  # doctest: +SKIP
    >>> assert_same_snapshots(before, snapshot(reopened, [("light energy", None)]))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ragtune.filters import FilterExpr
from ragtune.index.base import Index, SearchRequest
from ragtune.schema import SearchMode
from ragtune.testing.index_contract import EMBEDDER

Snapshot = list[list[tuple[str, float, float | None]]]
"""Per query and mode, the hits' ``(chunk id, score, distance)``, best first."""


def snapshot(
    index: Index,
    queries: Sequence[tuple[str, FilterExpr | None]],
    modes: Sequence[SearchMode] = tuple(SearchMode),
    *,
    tenant: str | None = None,
    k: int = 20,
) -> Snapshot:
    """Every ``(text, filter)`` query in every mode, queries outermost; vectors from the contract's embedder."""
    out = []
    for text, expr in queries:
        vector = EMBEDDER.embed_query(text)
        for mode in modes:
            request = SearchRequest(query_text=text, query_vector=vector, mode=mode, k=k, filters=expr, tenant=tenant)
            out.append([(h.chunk_id, h.score, h.distance) for h in index.search(request)])
    return out


def assert_same_snapshots(a: Snapshot, b: Snapshot, *, score_abs: float = 1e-6, distance_abs: float = 1e-6) -> None:
    """The same chunks in the same order, scores and distances equal within the tolerances (``None`` on both sides)."""
    assert [[h[0] for h in hits] for hits in a] == [[h[0] for h in hits] for hits in b]
    for hits_a, hits_b in zip(a, b, strict=True):
        for (_, score_a, dist_a), (_, score_b, dist_b) in zip(hits_a, hits_b, strict=True):
            assert score_a == pytest.approx(score_b, abs=score_abs)
            assert (dist_a is None) == (dist_b is None)
            if dist_a is not None and dist_b is not None:
                assert dist_a == pytest.approx(dist_b, abs=distance_abs)


__all__ = ["Snapshot", "assert_same_snapshots", "snapshot"]
