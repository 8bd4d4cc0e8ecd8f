"""Weaviate's two hybrid fusions, as pure functions over scored id lists.

Both backends of ragtune rank hybrid results the same way Weaviate does:

* ``relativeScore``: each list's scores are min-max normalised to [0, 1]
  (a list whose scores are all equal normalises to 1), then
  ``alpha * vector + (1 - alpha) * keyword``; an id missing from a list gets 0
  from it.
* ``ranked``: reciprocal rank fusion, ``alpha / (60 + rank_v) +
  (1 - alpha) / (60 + rank_k)`` with 0-based ranks.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragtune.schema import Fusion

RRF_K = 60


def _normalise(scores: Sequence[tuple[str, float]]) -> dict[str, float]:
    if not scores:
        return {}
    values = [s for _, s in scores]
    low, high = min(values), max(values)
    span = high - low
    if span <= 0:
        return {cid: 1.0 for cid, _ in scores}
    return {cid: (s - low) / span for cid, s in scores}


def fuse(
    vector: Sequence[tuple[str, float]],
    keyword: Sequence[tuple[str, float]],
    *,
    alpha: float,
    fusion: Fusion,
) -> list[tuple[str, float]]:
    """Fuse two ranked ``(id, score)`` lists (best first) into one, best first.

    Ties break by the vector list's order, then the keyword list's, so the
    result is deterministic.
    """
    fused: dict[str, float] = {}
    if fusion is Fusion.RANKED:
        for rank, (cid, _) in enumerate(vector):
            fused[cid] = fused.get(cid, 0.0) + alpha / (RRF_K + rank)
        for rank, (cid, _) in enumerate(keyword):
            fused[cid] = fused.get(cid, 0.0) + (1 - alpha) / (RRF_K + rank)
    else:
        for cid, s in _normalise(vector).items():
            fused[cid] = fused.get(cid, 0.0) + alpha * s
        for cid, s in _normalise(keyword).items():
            fused[cid] = fused.get(cid, 0.0) + (1 - alpha) * s
    first_seen: dict[str, int] = {}
    for i, (cid, _) in enumerate([*vector, *keyword]):
        first_seen.setdefault(cid, i)
    return sorted(fused.items(), key=lambda item: (-item[1], first_seen[item[0]]))


__all__ = ["RRF_K", "fuse"]
