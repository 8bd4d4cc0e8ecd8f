"""Routing accuracy and confusion matrix on a labelled set written for ragtune's chain routes.

``benchmarks/data/routing_labelled.jsonl`` holds 90 queries (25 rag, 25 finetuned, 25 hybrid,
15 direct) about a typical product knowledge base, none of them a route example. Rows:

* the packaged routes (``RouteSet.default()``), zero-shot, with the default semantic strategy
  (nearest centroid of each route's examples + description, plus the lexical route score at
  weight 0.7 with route profiles scaled to one length, 0.4 unscaled before issue 22; threshold
  0.12): strict accuracy (a non-confident decision counts as wrong) and the accuracy of the route
  actually taken under the fallback policy;
* the same routes without a threshold (nearest route always taken), and without the lexical score
  (the centroid alone, the default before it);
* 2-fold cross-validated ``Router.fit`` (fit on one half, scored on the other, both ways);
* the three routes rag/finetuned/hybrid alone, on their 75 queries;
* optionally (``--llm``) the llm strategy on the local SmolLM2-135M (slow: one call per query).

Two last rows score the default router with and without the lexical score on
``benchmarks/data/routing_dev.jsonl`` (102 queries: 30 rag, 30 finetuned, 30 hybrid, 12 direct),
written apart from the labelled set without reading it: the lexical weight was chosen on this dev
set, so the labelled set stays held out.

    python benchmarks/routing_accuracy.py [--llm]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, print_table

from ragtune.embeddings.local import LocalEmbedder
from ragtune.routing import LLMStrategy, Router, RouteSet, RoutingReport, SemanticStrategy, build_router, load_labelled
from ragtune.routing.semantic import DEFAULT_LEXICAL_WEIGHT, DEFAULT_THRESHOLD

LABELLED = REPO / "benchmarks" / "data" / "routing_labelled.jsonl"
DEV = REPO / "benchmarks" / "data" / "routing_dev.jsonl"


def confusion_table(title: str, report: RoutingReport) -> None:
    labels = sorted({*report.confusion, *(p for row in report.confusion.values() for p in row)})
    rows = [[t, *(report.confusion.get(t, {}).get(p, 0) for p in labels)] for t in labels if t in report.confusion]
    print_table(title, ["true \\ predicted", *labels], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", action="store_true", help="also score the llm strategy on the local model")
    args = parser.parse_args()
    data = load_labelled(LABELLED)
    embedder = LocalEmbedder()
    rows = []

    default = build_router(embedder=embedder)
    zero = default.evaluate(data)
    label = f"default routes, centroid + lexical {DEFAULT_LEXICAL_WEIGHT}, threshold {DEFAULT_THRESHOLD}"
    rows.append([label, zero.n, zero.accuracy, zero.taken_accuracy, zero.mean_latency_ms])
    confusion_table("Confusion, packaged routes, zero-shot (none = not confident -> fallback rag)", zero)

    closed = build_router(embedder=embedder, semantic={"threshold": -1.0}).evaluate(data)
    rows.append(["default routes, no threshold", closed.n, closed.accuracy, closed.taken_accuracy, None])
    confusion_table("Confusion, packaged routes, nearest route always taken", closed)

    centroid = build_router(embedder=embedder, semantic={"lexical_weight": 0.0}).evaluate(data)
    rows.append(["default routes, centroid alone (no lexical score)", centroid.n, centroid.accuracy,
                 centroid.taken_accuracy, None])  # fmt: skip

    mix = build_router(embedder=embedder, semantic={"knn_weight": 0.5, "threshold": 0.2}).evaluate(data)
    rows.append(["default routes, old kNN/centroid 0.5 mix, 0.2", mix.n, mix.accuracy, mix.taken_accuracy, None])

    shuffled = list(data)
    random.Random(0).shuffle(shuffled)
    half = len(shuffled) // 2
    correct = taken = 0
    for train, test in ((shuffled[:half], shuffled[half:]), (shuffled[half:], shuffled[:half])):
        router = build_router(embedder=embedder)
        router.fit(train)
        report = router.evaluate(test)
        correct += round(report.accuracy * report.n)
        taken += round(report.taken_accuracy * report.n)
    rows.append(["default routes, fit (2-fold CV)", len(data), correct / len(data), taken / len(data), None])

    three = RouteSet.of(*(r for r in RouteSet.default() if r.name != "direct"))
    subset = [q for q in data if q.route in three]
    three_report = Router(three, [SemanticStrategy(three, embedder)]).evaluate(subset)
    rows.append(["rag/finetuned/hybrid only", three_report.n, three_report.accuracy, three_report.taken_accuracy, None])
    confusion_table("Confusion, three routes only", three_report)
    for route, stats in sorted(three_report.per_route.items()):
        print(f"{route}: precision {stats['precision']:.2f} recall {stats['recall']:.2f} (n={int(stats['support'])})")

    if args.llm:
        from ragtune.llm.local import LocalChatModel

        routes = RouteSet.default()
        llm = Router(routes, [LLMStrategy(routes, LocalChatModel(max_new_tokens=40))])
        started = time.perf_counter()
        report = llm.evaluate(data)
        rows.append(["llm strategy, SmolLM2-135M", report.n, report.accuracy, report.taken_accuracy,
                     (time.perf_counter() - started) * 1000 / report.n])  # fmt: skip
        confusion_table("Confusion, llm strategy on SmolLM2-135M", report)

    dev_data = load_labelled(DEV)
    for label, semantic in (("default router", {}), ("centroid alone", {"lexical_weight": 0.0})):
        dev = build_router(embedder=embedder, semantic=semantic).evaluate(dev_data)
        rows.append([f"{DEV.name} (dev set): {label}", dev.n, dev.accuracy, dev.taken_accuracy, None])

    print_table(
        f"Routing accuracy on {LABELLED.name} (last two rows: {DEV.name})",
        ["router", "n", "accuracy (strict)", "accuracy (route taken)", "ms/query"],
        [[r[0], r[1], r[2], r[3], "" if r[4] is None else r[4]] for r in rows],
    )


if __name__ == "__main__":
    main()
