"""Lexical route scores: how much of a query's wording a route's examples use.

Embeddings hear what a query is *about*; routes often differ in what it *asks for*. "What does the
guide say about X?" and "Write a friendly note about X" sit close in embedding space because X
dominates, yet the words around X ("what", "say", "write", "our tone") are what the route examples
share. So each route also scores the query's words by how many of the route's texts use them,
weighted by how few routes do (a word every route uses tells them apart less).

On the labelled chain-route set and an independent dev set written apart from it, adding this
score to the centroid similarity (weight 0.4, chosen on the dev set) lifted accuracy from 0.794 to
0.873 on dev and from 0.889 to 0.922 on the labelled set (``benchmarks/routing_accuracy.py``).
Function words stay in: "what" and "write" carry the route.

Each route's word weights are then scaled to one common length (``normalise``, the default since
issue 22): a route whose texts mix two kinds of wording (``hybrid``: document words *and* tone
words) otherwise collects credit from either kind and outscores the route that uses only one; a
"write ... in our tone" query with no document in it went to ``hybrid``. Scaled, a query scores
by how much of the route's wording it covers, as a cosine does (``benchmarks/routing_heldout.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def route_words(text: str) -> set[str]:
    """The distinct lower-cased words of ``text`` (letters, with an inner apostrophe)."""
    return set(_WORD.findall(text.lower()))


class RouteVocabulary:
    """Per-word route weights learned from the texts of each route (examples and description).

    ``weight[word][r] = share of route r's texts using word x log(1 + routes / routes using word)``;
    with ``normalise`` each route's weights are divided by their L2 norm (over all words) and
    multiplied by the mean norm of the routes, so every route's profile has the same length and
    the scale of the scores stays that of the plain weights. A query's score for route ``r`` is the
    sum over its distinct words, divided by the square root of their number so that long queries
    do not outscore short ones.
    """

    def __init__(self, texts: Sequence[str], owner: Sequence[int], routes: int, *, normalise: bool = True) -> None:
        counts = np.bincount(np.asarray(owner, dtype=np.int64), minlength=routes).astype(np.float32)
        uses: dict[str, np.ndarray] = {}
        for text, route in zip(texts, owner, strict=True):
            for word in route_words(text):
                uses.setdefault(word, np.zeros(routes, dtype=np.float32))[route] += 1.0
        self.routes = routes
        self.weights: dict[str, np.ndarray] = {}
        for word, used in uses.items():
            spread = int(np.count_nonzero(used))
            self.weights[word] = (used / np.maximum(counts, 1.0)) * math.log(1 + routes / spread)
        if normalise and self.weights:
            norms = np.sqrt(sum(w * w for w in self.weights.values()))
            used_routes = norms > 0
            if used_routes.any():
                scale = np.where(used_routes, norms[used_routes].mean() / np.where(used_routes, norms, 1.0), 0.0)
                self.weights = {word: (w * scale).astype(np.float32) for word, w in self.weights.items()}

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Lexical route scores ``(len(queries), routes)``."""
        out = np.zeros((len(queries), self.routes), dtype=np.float32)
        for row, query in enumerate(queries):
            words = route_words(query)
            for word in words:
                weight = self.weights.get(word)
                if weight is not None:
                    out[row] += weight
            if words:
                out[row] /= math.sqrt(len(words))
        return out


__all__ = ["RouteVocabulary", "route_words"]
