"""Fitting the semantic strategy from labelled queries: prototypes, score mix and thresholds.

Everything here is numpy over vectors computed once: the route examples and the labelled
queries are embedded a single time, then every setting is tried on the cached similarities.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict

from ragtune.errors import ConfigError

if TYPE_CHECKING:
    from ragtune.routing.semantic import SemanticStrategy

log = logging.getLogger(__name__)


class FitReport(BaseModel):
    """What :meth:`SemanticStrategy.fit` chose, and how the fitted strategy scores on the labelled set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float
    """The global threshold."""
    thresholds: dict[str, float]
    """Per-route thresholds (only routes whose own threshold differs from the global one)."""
    knn_weight: float
    k: int
    lexical_weight: float = 0.0
    """Weight of the lexical route score (0 when fitting found it did not help)."""
    learned_prototypes: bool
    """Whether learned prototypes beat the plain centroids."""
    objective: float
    """``in_scope_accuracy + oos_weight * oos_recall`` (just the accuracy without out-of-scope labels)."""
    in_scope_accuracy: float
    """Share of in-scope queries sent, confidently, to their route (or to the fallback, when it is theirs)."""
    oos_recall: float | None
    """Share of out-of-scope queries left without a confident route; ``None`` without such labels."""
    n: int


class _Labelled:
    """Labels as route indices (``-1``: out of scope) plus the objective, vectorised over thresholds."""

    def __init__(self, names: list[str], labels: Sequence[str | None], fallback: str | None, oos_weight: float):
        index = {n: i for i, n in enumerate(names)}
        self.y = np.array([index.get(label, -1) if label is not None else -1 for label in labels], dtype=np.int64)
        self.inscope = self.y >= 0
        self.has_oos = bool((~self.inscope).any())
        self.fallback = index.get(fallback, -2) if fallback is not None else -2
        self.oos_weight = oos_weight

    def objective(self, best: np.ndarray, confident: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Objective, in-scope accuracy and OOS recall for ``confident`` of shape ``(t, m)``."""
        hit = confident & (best == self.y)[None]
        if self.fallback >= 0:
            hit |= ~confident & (self.y == self.fallback)[None]
        n_in = max(int(self.inscope.sum()), 1)
        acc = (hit & self.inscope[None]).sum(axis=1) / n_in
        if not self.has_oos:
            return acc, acc, np.full_like(acc, np.nan)
        rec = (~confident & ~self.inscope[None]).sum(axis=1) / int((~self.inscope).sum())
        return acc + self.oos_weight * rec, acc, rec


def _search_threshold(scores: np.ndarray, data: _Labelled, margin: float) -> tuple[float, float, float, float]:
    """Best global threshold for a score matrix: (threshold, objective, accuracy, recall)."""
    order = np.argsort(-scores, axis=1)
    rows = np.arange(len(scores))
    best = order[:, 0]
    top = scores[rows, best]
    lead = top - scores[rows, order[:, 1]] if scores.shape[1] > 1 else np.full_like(top, np.inf)
    candidates = np.unique(np.concatenate([[-np.inf], np.quantile(top, np.linspace(0.0, 1.0, 241))]))
    confident = (top[None] >= candidates[:, None]) & (lead >= margin)[None]
    objective, acc, rec = data.objective(best, confident)
    i = int(np.argmax(objective))
    j = i
    while j + 1 < len(candidates) and objective[j + 1] >= objective[i] - 1e-12:
        j += 1  # the run of equally good thresholds: take its middle, the most robust choice
    low = float(candidates[i]) if np.isfinite(candidates[i]) else -1.0
    threshold = (low + float(candidates[j])) / 2 if j > i else low
    return threshold, float(objective[i]), float(acc[i]), float(rec[i])


def _per_route(
    scores: np.ndarray, data: _Labelled, margin: float, threshold: float, sweeps: int = 2
) -> tuple[np.ndarray, float, float, float]:
    """Coordinate ascent on per-route thresholds, starting from the global one."""
    order = np.argsort(-scores, axis=1)
    rows = np.arange(len(scores))
    best = order[:, 0]
    top = scores[rows, best]
    lead = top - scores[rows, order[:, 1]] if scores.shape[1] > 1 else np.full_like(top, np.inf)
    thresholds = np.full(scores.shape[1], threshold, dtype=np.float64)

    def evaluate(th: np.ndarray) -> tuple[float, float, float]:
        confident = ((top >= th[best]) & (lead >= margin))[None]
        o, a, r = data.objective(best, confident)
        return float(o[0]), float(a[0]), float(r[0])

    current = evaluate(thresholds)
    for _ in range(sweeps):
        for route in range(scores.shape[1]):
            mine = top[best == route]
            if len(mine) == 0:
                continue
            options = np.unique(np.concatenate([[threshold], mine, mine + 1e-6]))
            for value in options:
                trial = thresholds.copy()
                trial[route] = value
                result = evaluate(trial)
                if result[0] > current[0] + 1e-12:
                    thresholds, current = trial, result
    return thresholds, *current


def learn_prototypes(
    vectors: np.ndarray,
    owner: np.ndarray,
    n_routes: int,
    *,
    scale: float = 24.0,
    steps: int = 150,
    batch: int = 2048,
    lr: float = 0.02,
    seed: int = 0,
) -> np.ndarray:
    """Prototypes such that each example is nearest its own route's (cosine-softmax, Adam, from centroids)."""
    x = np.asarray(vectors, dtype=np.float32)
    w = np.stack([x[owner == i].mean(axis=0) for i in range(n_routes)]).astype(np.float32)
    bias = np.zeros(n_routes, dtype=np.float32)
    moments = [np.zeros_like(w), np.zeros_like(bias)]
    squares = [np.zeros_like(w), np.zeros_like(bias)]
    rng = np.random.default_rng(seed)
    size = min(batch, len(x))
    for t in range(1, steps + 1):
        idx = rng.choice(len(x), size=size, replace=False) if size < len(x) else np.arange(len(x))
        xb, yb = x[idx], owner[idx]
        norms = np.linalg.norm(w, axis=1, keepdims=True)
        unit = w / norms
        logits = scale * xb @ unit.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        probs[np.arange(size), yb] -= 1.0
        grad_logits = probs / size
        grad_unit = scale * grad_logits.T @ xb
        grad_w = (grad_unit - unit * (grad_unit * unit).sum(axis=1, keepdims=True)) / norms
        for i, (param, grad) in enumerate(((w, grad_w), (bias, grad_logits.sum(axis=0)))):
            moments[i] = 0.9 * moments[i] + 0.1 * grad
            squares[i] = 0.999 * squares[i] + 0.001 * grad * grad
            param -= lr * (moments[i] / (1 - 0.9**t)) / (np.sqrt(squares[i] / (1 - 0.999**t)) + 1e-8)
    return w / np.linalg.norm(w, axis=1, keepdims=True)


def fit_semantic(
    strategy: SemanticStrategy,
    queries: Sequence[str],
    labels: Sequence[str | None],
    *,
    oos_weight: float = 0.1,
    fallback: str | None = None,
    learn: bool = True,
    knn_weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    ks: Sequence[int] = (1, 3, 5),
    lexical_weights: Sequence[float] = (0.0, 0.2, 0.4),
    per_route: bool = False,
    query_vectors: np.ndarray | None = None,
) -> FitReport:
    """Fit ``strategy`` in place and report what was chosen.

    Args:
        strategy: the semantic strategy to fit.
        queries: labelled queries (different from the route examples).
        labels: the route of each query; a label naming no route marks an out-of-scope query.
        oos_weight: weight of out-of-scope recall against in-scope accuracy in the objective.
        fallback: the route non-confident queries go to (counted as right when it is theirs).
        learn: also try prototypes learned from the route examples, keeping them if they score better.
        knn_weights: candidate weights of the kNN similarity.
        ks: candidate numbers of nearest examples.
        lexical_weights: candidate weights of the lexical score.
        per_route: after the global threshold, tune one threshold per route (needs enough labels per route).
        query_vectors: the queries' vectors when already computed.

    Raises:
        ConfigError: no queries, or labels and queries of different lengths.
    """
    if not queries or len(queries) != len(labels):
        msg = f"fit needs labelled queries: got {len(queries)} queries and {len(labels)} labels"
        raise ConfigError(msg)
    data = _Labelled(strategy.names, labels, fallback, oos_weight)
    vectors = strategy.embed(queries) if query_vectors is None else np.asarray(query_vectors, dtype=np.float32)
    examples, owner = strategy.example_vectors
    centroids = np.stack([examples[owner == i].mean(axis=0) for i in range(len(strategy.names))])
    prototype_sets = {False: centroids / np.linalg.norm(centroids, axis=1, keepdims=True)}
    if learn:
        prototype_sets[True] = learn_prototypes(examples, owner, len(strategy.names))
    knn = strategy.knn_scores(vectors, ks) if any(w > 0 for w in knn_weights) else {}
    lexical = strategy.lexical_scores(queries) if any(w > 0 for w in lexical_weights) else None
    best: tuple[float, ...] | None = None
    chosen: tuple[bool, float, int, float] = (False, strategy.knn_weight, strategy.k, strategy.lexical_weight)
    for learned, prototypes in prototype_sets.items():
        proto = vectors @ prototypes.T
        for weight in knn_weights:
            for k in ks if weight > 0 else ks[:1]:
                similarity = weight * knn[k] + (1 - weight) * proto if weight > 0 else proto
                for lexical_weight in lexical_weights:
                    scores = similarity + lexical_weight * lexical if lexical is not None else similarity
                    result = _search_threshold(scores, data, strategy.margin)
                    if best is None or result[1] > best[1] + 1e-9:
                        best, chosen = result, (learned, weight, k, lexical_weight)
    assert best is not None
    learned, strategy.knn_weight, strategy.k, strategy.lexical_weight = chosen
    strategy.prototypes = prototype_sets[learned]
    strategy.threshold, objective, accuracy, recall = best
    strategy.route_thresholds = {}
    if per_route:
        scores = strategy.score(queries, vectors)
        per, objective, accuracy, recall = _per_route(scores, data, strategy.margin, strategy.threshold)
        strategy.route_thresholds = {
            n: float(t) for n, t in zip(strategy.names, per, strict=True) if abs(t - strategy.threshold) > 1e-9
        }
    log.info(
        "semantic fit: knn_weight=%s k=%s lexical_weight=%s learned=%s threshold=%.3f objective=%.4f",
        strategy.knn_weight,
        strategy.k,
        strategy.lexical_weight,
        learned,
        strategy.threshold,
        objective,
    )
    return FitReport(
        threshold=strategy.threshold,
        thresholds=dict(strategy.route_thresholds),
        knn_weight=strategy.knn_weight,
        lexical_weight=strategy.lexical_weight,
        k=strategy.k,
        learned_prototypes=learned,
        objective=objective,
        in_scope_accuracy=accuracy,
        oos_recall=None if np.isnan(recall) else recall,
        n=len(queries),
    )


__all__ = ["FitReport", "fit_semantic", "learn_prototypes"]
