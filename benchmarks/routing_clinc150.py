"""Semantic routing at scale on CLINC150: 150 routes from the train split, out-of-scope detection.

Protocol (Larson et al., 2019): each of the 150 intents becomes a route whose examples are its
100 train utterances; thresholds (and the other fitted settings) are chosen on ``val`` +
``oos_val``; in-scope accuracy (a non-confident decision counts as wrong) and out-of-scope
recall (share of ``oos_test`` left without a confident route) are measured on ``test`` +
``oos_test``. The data is read from ``../shared/data/clinc150`` and never copied.

Rows:

* ``centroid + threshold``: the orientation baseline (nearest centroid, one fitted threshold);
* ``centroid + lexical + threshold``: the same plus the lexical route score, its weight fitted;
* ``kNN/centroid mix``: fit chooses k, the kNN weight and the threshold (centroid prototypes);
* ``fitted (default)``: ``SemanticStrategy.fit`` with its defaults: also tries prototypes
  learned from the route examples (cosine-softmax), keeping them when they score better on val;
* ``fitted + per-route thresholds``: the same plus one threshold per route.

Also measures router overhead per query (ms, median) with 3 and with 150 routes: the whole
``Router.route`` call, the query embedding alone (``embed_queries``, the one embedding the
router shares with the retriever), and routing beyond that embedding
(``Router.route(query, query_vector=...)``: scoring, decision, bookkeeping).

    python benchmarks/routing_clinc150.py [--oos-weight 0.1]
    python benchmarks/routing_clinc150.py --overhead-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, print_table

from ragtune.embeddings.local import LocalEmbedder
from ragtune.routing import Route, Router, RouteSet, SemanticStrategy
from ragtune.routing.fitting import fit_semantic

CLINC = SHARED_DATA / "clinc150" / "data_full.json"


def load() -> dict[str, list[list[str]]]:
    if not CLINC.is_file():
        raise SystemExit(f"CLINC150 not found at {CLINC}; set RAGTUNE_SHARED_DATA")
    return json.loads(CLINC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def routes_from(train: list[list[str]]) -> RouteSet:
    by_intent: dict[str, list[str]] = {}
    for text, label in train:
        by_intent.setdefault(label, []).append(text)
    return RouteSet.of(*(Route(name=n, examples=tuple(ex)) for n, ex in sorted(by_intent.items())))


def score(
    strategy: SemanticStrategy, queries: list[str], vectors: np.ndarray, labels: list[str]
) -> tuple[float, float]:
    decisions = strategy.decide(strategy.score(queries, vectors))
    inscope = [(d, y) for d, y in zip(decisions, labels, strict=True) if y != "oos"]
    oos = [d for d, y in zip(decisions, labels, strict=True) if y == "oos"]
    accuracy = sum(d.confident and d.route == y for d, y in inscope) / len(inscope)
    recall = sum(not d.confident for d in oos) / len(oos)
    return accuracy, recall


def _median_ms(call: Any, items: list[Any]) -> float:
    times = []
    for item in items:
        start = time.perf_counter()
        call(item)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def overhead(router: Router, embedder: Any, queries: list[str]) -> tuple[float, float, float]:
    """Medians: whole ``route()``, the query embedding alone, and ``route()`` given that embedding."""
    router.route(queries[0])
    total = _median_ms(router.route, queries)
    embedding = _median_ms(lambda q: embedder.embed_queries([q]), queries)
    vectors = list(embedder.embed_queries(queries))
    pairs = list(zip(queries, vectors, strict=True))
    beyond = _median_ms(lambda pair: router.route(pair[0], query_vector=pair[1]), pairs)
    return total, embedding, beyond


def measure_overhead(
    data: dict[str, list[list[str]]], routes: RouteSet, strategy: SemanticStrategy, embedder: Any, n: int
) -> None:
    """Router overhead per query: the 150-route router vs the packaged chain routes without ``direct``."""
    queries = [t for t, _ in data["test"][:n]]
    big = Router(routes, [strategy])
    three_routes = RouteSet.of(*(r for r in RouteSet.default() if r.name != "direct"))
    small_strategy = SemanticStrategy(three_routes, embedder)
    small = Router(three_routes, [small_strategy])
    small_strategy.prepare()
    over = []
    for label, router in (("3 routes", small), ("150 routes", big)):
        total, embedding, beyond = overhead(router, embedder, queries)
        over.append([label, f"{total:.2f}", f"{embedding:.2f}", f"{beyond:.3f}"])
    print_table(
        f"Router overhead per query (median over {len(queries)} queries, MiniLM on CPU)",
        ["routes", "route() ms (embedding included)", "embedding ms (shared with retrieval)", "routing ms beyond it"],
        over,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oos-weight", type=float, default=0.1, help="weight of OOS recall in the fit objective")
    parser.add_argument("--overhead-queries", type=int, default=200)
    parser.add_argument("--overhead-only", action="store_true", help="skip fitting and accuracy (default settings)")
    args = parser.parse_args()
    data = load()
    embedder = LocalEmbedder()
    routes = routes_from(data["train"])
    started = time.perf_counter()
    strategy = SemanticStrategy(routes, embedder, include_description=False)
    strategy.prepare()
    if args.overhead_only:
        measure_overhead(data, routes, strategy, embedder, args.overhead_queries)
        return
    fit_rows = data["val"] + data["oos_val"]
    test_rows = data["test"] + data["oos_test"]
    val_queries = [t for t, _ in fit_rows]
    test_queries = [t for t, _ in test_rows]
    val_vectors = strategy.embed(val_queries)
    test_vectors = strategy.embed(test_queries)
    val_labels = [y for _, y in fit_rows]
    test_labels = [y for _, y in test_rows]
    print(f"embedded {len(data['train'])} route examples + {len(fit_rows) + len(test_rows)} queries "
          f"in {time.perf_counter() - started:.1f}s")  # fmt: skip

    configs: list[tuple[str, dict[str, Any]]] = [
        ("centroid + threshold (baseline)", {"knn_weights": (0.0,), "learn": False, "lexical_weights": (0.0,)}),
        ("centroid + lexical + threshold", {"knn_weights": (0.0,), "learn": False}),
        ("kNN/centroid mix", {"learn": False}),
        ("fitted (default)", {}),
        ("fitted + per-route thresholds", {"per_route": True}),
    ]
    rows = []
    results = {}
    for name, options in configs:
        started = time.perf_counter()
        report = fit_semantic(
            strategy,
            val_queries,
            val_labels,
            query_vectors=val_vectors,
            oos_weight=args.oos_weight,
            **options,
        )
        seconds = time.perf_counter() - started
        accuracy, recall = score(strategy, test_queries, test_vectors, test_labels)
        results[name] = {"in_scope_accuracy": accuracy, "oos_recall": recall, "fit": report.model_dump()}
        rows.append([
            name, f"{accuracy:.3f}", f"{recall:.3f}", f"{report.in_scope_accuracy:.3f}", f"{report.oos_recall:.3f}",
            f"k={report.k} w={report.knn_weight} lex={report.lexical_weight} "
            f"learned={report.learned_prototypes} thr={report.threshold:.3f}",
            f"{seconds:.1f}",
        ])  # fmt: skip
    print_table(
        f"CLINC150 test ({len(data['test'])} in-scope, {len(data['oos_test'])} OOS), oos_weight={args.oos_weight}",
        ["router", "in-scope acc", "OOS recall", "val acc", "val OOS recall", "chosen", "fit s"],
        rows,
    )

    measure_overhead(data, routes, strategy, embedder, args.overhead_queries)
    print(
        "\n"
        + json.dumps({k: {m: round(v[m], 4) for m in ("in_scope_accuracy", "oos_recall")} for k, v in results.items()})
    )


if __name__ == "__main__":
    main()
