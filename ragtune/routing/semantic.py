"""Semantic routing: the query goes to the route whose description and examples it is closest to.

A route's score mixes two similarities (cosine, over the embedder's normalised vectors):

* **kNN**: the mean of the ``k`` highest similarities to the route's examples (``k=1`` is the
  nearest example);
* **prototype**: the similarity to the route's prototype vector: the centroid of its examples,
  or, after :meth:`SemanticStrategy.fit`, a prototype learned from the examples so that each
  example is closer to its own route's prototype than to any other (a cosine-softmax head).

``score = knn_weight * knn + (1 - knn_weight) * prototype + lexical_weight * lexical``, where
**lexical** scores the query's words by how many of the route's texts use them
(:mod:`ragtune.routing.lexical`): routes often differ in what a query asks for ("what does the
guide say", "write ... in our tone") more than in its topic, which dominates the embedding.
Zero-shot (straight from a routes file) the default is the plain centroid (``knn_weight=0``) plus
the lexical score at 0.7, each route's lexical profile scaled to one length: on the routing
tuning sets the centroid ties or beats every kNN mix, and it scores 150 routes with one small
matrix product. The best route is confident when
its score reaches its threshold (the route's own ``threshold``, else the strategy's) and leads
the runner-up by at least ``margin``. :meth:`fit` chooses ``knn_weight``, ``k``, ``lexical_weight``, the threshold
(and optionally per-route thresholds) from labelled queries.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from ragtune.embeddings.base import Embedder
from ragtune.embeddings.blas import single_threaded_blas
from ragtune.errors import ConfigError
from ragtune.routing.base import RoutingStrategy
from ragtune.routing.decision import RouteDecision
from ragtune.routing.fitting import FitReport, fit_semantic
from ragtune.routing.lexical import RouteVocabulary
from ragtune.routing.routes import RouteSet

log = logging.getLogger(__name__)

_BATCH = 256
_FEW = 16
DEFAULT_THRESHOLD = 0.12
"""Zero-shot threshold on the route score: in-scope MiniLM queries score at least ~0.17 against the
packaged routes with the lexical score (~0.14 on the centroid alone; labelled and dev sets of
``benchmarks/routing_accuracy.py``); lower scores mean nothing in the routes file is close."""
DEFAULT_LEXICAL_WEIGHT = 0.7
"""Weight of the lexical route score (with route profiles scaled to one length, issue 22): chosen
among 0.4-0.8 on the dev, labelled and former held-out routing sets, choosing on two and checking
on the third (``python benchmarks/routing_heldout.py --grid``); 0.5-0.7 are within 2 of 320 queries.
Reported on ``routing_unseen.jsonl``, which chose nothing. 0.4 before the scaling."""


class SemanticOptions(BaseModel):
    """The options of :class:`SemanticStrategy`, as one typed value (``build_router(semantic=...)``).

    Only the fields you set reach the strategy (:meth:`strategy_kwargs`), so its own defaults and
    checks (``k >= 1``, ``0 <= knn_weight <= 1``: a :class:`~ragtune.errors.ConfigError`) apply.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = DEFAULT_THRESHOLD
    """Minimum score of the best route for a confident decision."""
    margin: float = 0.0
    """Minimum lead of the best route over the runner-up."""
    k: int = 3
    """How many nearest examples of a route the kNN similarity averages."""
    knn_weight: float = 0.0
    """Weight of the kNN similarity against the prototype similarity."""
    lexical_weight: float = DEFAULT_LEXICAL_WEIGHT
    """Weight of the lexical score (shared wording with the route's texts) added to the similarity."""
    normalise_lexical: bool = True
    """Scale each route's lexical word weights to one length (``False``: the score before issue 22)."""
    include_description: bool = True
    """Embed each route's description as one more example."""

    def strategy_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :class:`SemanticStrategy` that were set."""
        return self.model_dump(exclude_unset=True)


class SemanticStrategy(RoutingStrategy):
    """Nearest route by embedding similarity, with thresholds and a margin.

    Args:
        routes: the routes; each needs a description or at least one example.
        embedder: embeds route examples and queries (the same one for both).
        threshold: minimum score of the best route for a confident decision.
        margin: minimum lead of the best route over the runner-up.
        k: how many nearest examples of a route the kNN similarity averages.
        knn_weight: weight of the kNN similarity against the prototype similarity.
        lexical_weight: weight of the lexical score (the query's words used by the route's texts),
            added to the similarity; 0 turns it off.
        include_description: embed each route's description as one more example.
        normalise_lexical: scale each route's lexical word weights to one length, so a route
            whose texts mix two kinds of wording does not outscore one that uses only one kind.

    Example:
        >>> semantic = SemanticStrategy(RouteSet.from_file("routes.json"), LocalEmbedder(), threshold=0.35)
        >>> semantic.propose("what does clause 4.2 of our contract say?").route
        'rag'
    """

    name = "semantic"
    uses_query_vectors = True

    def __init__(
        self,
        routes: RouteSet,
        embedder: Embedder,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = 0.0,
        k: int = 3,
        knn_weight: float = 0.0,
        lexical_weight: float = DEFAULT_LEXICAL_WEIGHT,
        include_description: bool = True,
        normalise_lexical: bool = True,
    ) -> None:
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        if not 0.0 <= knn_weight <= 1.0:
            raise ConfigError(f"knn_weight must be within [0, 1], got {knn_weight}")
        if lexical_weight < 0:
            raise ConfigError(f"lexical_weight must be at least 0, got {lexical_weight}")
        self.routes = routes
        self.embedder = embedder
        self.threshold = threshold
        self.margin = margin
        self.k = k
        self.knn_weight = knn_weight
        self.lexical_weight = lexical_weight
        self.include_description = include_description
        self.normalise_lexical = normalise_lexical
        self.names = routes.names
        self.route_thresholds: dict[str, float] = {r.name: r.threshold for r in routes if r.threshold is not None}
        """Per-route thresholds overriding ``threshold`` (from the routes file, or set by :meth:`fit`)."""
        self._examples: np.ndarray | None = None
        self._owner: np.ndarray | None = None
        self._slots: np.ndarray | None = None
        self.prototypes: np.ndarray | None = None
        """``(routes, dim)`` prototype vectors: centroids, or learned by :meth:`fit`."""
        self._vocabulary: RouteVocabulary | None = None

    # -- route vectors ----------------------------------------------------------------------------
    def route_texts(self) -> tuple[list[str], list[int]]:
        """Every text embedded for the routes, and the index of the route each belongs to."""
        texts: list[str] = []
        owner: list[int] = []
        for i, route in enumerate(self.routes):
            items = list(route.examples)
            if self.include_description and route.description:
                items.append(route.description)
            if not items:
                msg = f"Route {route.name!r} has neither description nor examples; semantic routing needs one"
                raise ConfigError(msg)
            texts.extend(items)
            owner.extend([i] * len(items))
        return texts, owner

    def prepare(self) -> None:
        """Embed the routes now (otherwise done on first use)."""
        if self._examples is not None:
            return
        texts, owner = self.route_texts()
        vectors = self.embed(texts)
        self.set_route_vectors(vectors, np.asarray(owner))

    def set_route_vectors(self, vectors: np.ndarray, owner: np.ndarray, prototypes: np.ndarray | None = None) -> None:
        """Use precomputed example vectors (rows of ``vectors``, route index per row in ``owner``)."""
        self._examples = np.asarray(vectors, dtype=np.float32)
        self._owner = np.asarray(owner, dtype=np.int64)
        counts = np.bincount(self._owner, minlength=len(self.names))
        slots = np.full((len(self.names), int(counts.max())), -1, dtype=np.int64)
        fill = np.zeros(len(self.names), dtype=np.int64)
        for row, route in enumerate(self._owner):
            slots[route, fill[route]] = row
            fill[route] += 1
        self._slots = slots
        if prototypes is None:
            prototypes = np.stack([self._examples[self._owner == i].mean(axis=0) for i in range(len(self.names))])
        self.prototypes = _unit(prototypes)

    @property
    def example_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        self.prepare()
        assert self._examples is not None and self._owner is not None
        return self._examples, self._owner

    # -- scoring ----------------------------------------------------------------------------------
    def knn_scores(self, queries: np.ndarray, ks: Sequence[int]) -> dict[int, np.ndarray]:
        """Mean of the top-``k`` example similarities per route, for each ``k`` in ``ks``: ``(m, routes)``."""
        examples, _ = self.example_vectors
        assert self._slots is not None
        kmax = min(max(ks), self._slots.shape[1])
        out = {k: np.empty((len(queries), len(self.names)), dtype=np.float32) for k in ks}
        valid = self._slots >= 0
        for start in range(0, len(queries), _BATCH):
            sims = queries[start : start + _BATCH] @ examples.T
            grouped = np.where(valid[None], sims[:, self._slots], -np.inf)
            top = -np.sort(-grouped, axis=2)[:, :, :kmax] if kmax < grouped.shape[2] else -np.sort(-grouped, axis=2)
            for k in ks:
                kk = min(k, top.shape[2])
                part = top[:, :, :kk]
                finite = np.isfinite(part)
                out[k][start : start + _BATCH] = np.where(finite, part, 0.0).sum(axis=2) / np.maximum(
                    finite.sum(axis=2), 1
                )
        return out

    def prototype_scores(self, queries: np.ndarray) -> np.ndarray:
        self.prepare()
        assert self.prototypes is not None
        return np.asarray(queries @ self.prototypes.T, dtype=np.float32)

    def score_vectors(self, queries: np.ndarray) -> np.ndarray:
        """Route scores ``(m, routes)`` for query vectors ``(m, dim)``."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        scores = np.zeros((len(queries), len(self.names)), dtype=np.float32)
        limit = single_threaded_blas() if len(queries) <= _FEW else contextlib.nullcontext()
        with limit:
            if self.knn_weight > 0:
                scores += self.knn_weight * self.knn_scores(queries, [self.k])[self.k]
            if self.knn_weight < 1:
                scores += (1 - self.knn_weight) * self.prototype_scores(queries)
        return scores

    def lexical_scores(self, queries: Sequence[str]) -> np.ndarray:
        """Lexical route scores ``(m, routes)``: the queries' words as used by each route's texts."""
        if self._vocabulary is None:
            texts, owner = self.route_texts()
            self._vocabulary = RouteVocabulary(texts, owner, len(self.names), normalise=self.normalise_lexical)
        return self._vocabulary.scores(queries)

    def score(self, queries: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Route scores ``(m, routes)``: similarity of the query vectors plus the weighted lexical score."""
        scores = self.score_vectors(vectors)
        if self.lexical_weight > 0:
            scores += self.lexical_weight * self.lexical_scores(queries)
        return scores

    def thresholds(self) -> np.ndarray:
        """The threshold in force for each route (its own, else the strategy's)."""
        return np.array([self.route_thresholds.get(n, self.threshold) for n in self.names], dtype=np.float32)

    def decide(self, scores: np.ndarray) -> list[RouteDecision]:
        """Decisions from a ``(m, routes)`` score matrix."""
        thresholds = self.thresholds()
        decisions = []
        for row in np.atleast_2d(scores):
            order = np.argsort(-row)
            best = int(order[0])
            top = float(row[best])
            second = float(row[order[1]]) if len(order) > 1 else -1.0
            needed = float(thresholds[best])
            confident = top >= needed and top - second >= self.margin
            name = self.names[best]
            if confident:
                reason = f"semantic: closest to route {name!r} (score {top:.3f} >= {needed:.3f})"
            elif top < needed:
                reason = f"semantic: best route {name!r} scored {top:.3f}, below its threshold {needed:.3f}"
            else:
                reason = f"semantic: {name!r} leads by {top - second:.3f}, less than the margin {self.margin:.3f}"
            decisions.append(
                RouteDecision(
                    route=name,
                    confidence=float(np.clip(top, 0.0, 1.0)),
                    scores={n: round(float(s), 4) for n, s in zip(self.names, row, strict=True)},
                    reason=reason,
                    strategy=self.name,
                    confident=bool(confident),
                )
            )
        return decisions

    def _propose(self, query: str) -> RouteDecision | None:
        return self._propose_many([query])[0]

    def _propose_many(self, queries: list[str], vectors: Any = None) -> list[RouteDecision | None]:
        if not queries:
            return []
        if vectors is None:
            vectors = self.embed(queries)
        return list(self.decide(self.score(queries, vectors)))

    def embed(self, queries: Sequence[str]) -> np.ndarray:
        """Embed queries as the retriever does (``embed_queries``), so one vector serves routing and search.

        Route examples are queries too, so they are embedded the same way.
        """
        return self.embedder.embed_queries(list(queries))

    # -- fitting ----------------------------------------------------------------------------------
    def fit(
        self,
        queries: Sequence[str],
        labels: Sequence[str | None],
        **options: object,
    ) -> FitReport:
        """Choose ``knn_weight``, ``k``, ``lexical_weight``, prototypes and thresholds from labelled queries.

        Labels that name no route (``None``, ``"oos"``) mark out-of-scope queries: the fitted
        strategy should not be confident on them. Options are those of :func:`fit_semantic`.
        """
        return fit_semantic(self, queries, labels, **options)  # type: ignore[arg-type]


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(matrix / norms, dtype=np.float32)


__all__ = ["FitReport", "SemanticOptions", "SemanticStrategy"]
