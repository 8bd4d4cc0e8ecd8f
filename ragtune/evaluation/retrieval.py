"""Retrieval metrics on BEIR-format data: nDCG@10, recall@10/100, MRR@10.

Definitions follow trec_eval as BEIR uses it: binary or graded gains with a
log2 discount, the ideal DCG built from all judged-relevant documents of the
query, averaged over every query that has qrels. Hits are matched on their
*document* id; several chunks of one document count once, at the best rank.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel

from ragtune.errors import InputError
from ragtune.progress import ProgressCallback, report
from ragtune.schema import Hit


class RetrievalMetrics(BaseModel):
    """Averages over ``n`` queries (the ``ragtune eval retrieval --json`` document)."""

    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    n: int
    mode: str | None = None
    alpha: float | None = None


def load_queries(path: str | Path) -> dict[str, str]:
    """BEIR queries JSONL: one ``{"_id", "text"}`` object per line."""
    queries: dict[str, str] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                queries[str(record["_id"])] = str(record["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                msg = f"{path} line {number}: expected a JSON object with _id and text ({exc})"
                raise InputError(msg, path=str(path), line=number) from exc
    return queries


def load_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV with a header ``query-id corpus-id score``; score 0 rows are kept as non-relevant."""
    qrels: dict[str, dict[str, int]] = {}
    with Path(path).open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        header = next(rows, None)
        if header is None or [h.strip() for h in header[:3]] != ["query-id", "corpus-id", "score"]:
            msg = f"{path}: expected a header 'query-id<TAB>corpus-id<TAB>score', got {header!r}"
            raise InputError(msg, path=str(path), line=1)
        for number, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
            except (IndexError, ValueError) as exc:
                msg = f"{path} line {number}: expected query-id, corpus-id, score ({exc})"
                raise InputError(msg, path=str(path), line=number) from exc
    return qrels


def ranked_doc_ids(hits: Sequence[Hit]) -> list[str]:
    """Document ids in rank order, each once (a document ranks where its best chunk does)."""
    return list(dict.fromkeys(h.doc_id for h in hits))


def ndcg_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(
        (relevant.get(doc, 0)) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]) if relevant.get(doc, 0) > 0
    )
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    positives = {d for d, g in relevant.items() if g > 0}
    if not positives:
        return 0.0
    return len(positives.intersection(ranked[:k])) / len(positives)


def mrr_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (rank + 1)
    return 0.0


def evaluate_retrieval(
    search: Callable[[str], Sequence[Hit]],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    *,
    progress: ProgressCallback | None = None,
) -> RetrievalMetrics:
    """Run ``search`` for every query that has qrels with at least one relevant document, and average."""
    judged = [qid for qid, rel in qrels.items() if any(g > 0 for g in rel.values())]
    missing = [qid for qid in judged if qid not in queries]
    if missing:
        msg = f"{len(missing)} query ids in the qrels have no text in the queries file (first: {missing[0]!r})"
        raise InputError(msg)
    totals = {"ndcg": 0.0, "r10": 0.0, "r100": 0.0, "mrr": 0.0}
    for done, qid in enumerate(judged, start=1):
        ranked = ranked_doc_ids(search(queries[qid]))
        relevant = qrels[qid]
        totals["ndcg"] += ndcg_at(ranked, relevant, 10)
        totals["r10"] += recall_at(ranked, relevant, 10)
        totals["r100"] += recall_at(ranked, relevant, 100)
        totals["mrr"] += mrr_at(ranked, relevant, 10)
        report(progress, "eval", done, len(judged), "queries")
    n = len(judged)
    scale = 1.0 / n if n else 0.0
    return RetrievalMetrics(
        ndcg_at_10=totals["ndcg"] * scale,
        recall_at_10=totals["r10"] * scale,
        recall_at_100=totals["r100"] * scale,
        mrr_at_10=totals["mrr"] * scale,
        n=n,
    )


__all__ = [
    "RetrievalMetrics",
    "evaluate_retrieval",
    "load_qrels",
    "load_queries",
    "mrr_at",
    "ndcg_at",
    "ranked_doc_ids",
    "recall_at",
]
