"""Retrieval data sets for cross-validated choices: SciFact train and SQuAD dev as passage retrieval.

SQuAD dev becomes a passage retrieval task the same way BEIR builds its QA sets: every paragraph is
a document (its article's title as title), every question's one relevant document is the paragraph
it was asked of. The JSONL corpus is written to a scratch folder, never into the package.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path

from _common import SCIFACT, SHARED_DATA

SQUAD = SHARED_DATA / "squad" / "dev-v1.1.json.gz"


@dataclass(frozen=True)
class RetrievalSet:
    """A corpus file to ingest and the queries with their relevant document ids."""

    name: str
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def scifact_train(scratch: Path | None = None, first: int | None = None) -> RetrievalSet:
    """The 809 train claims; ``first``: a smaller corpus (for a loaded machine), written under ``scratch``.

    The smaller corpus is the first ``first`` abstracts of the corpus file plus every abstract relevant
    to a train claim, so every query keeps its evidence and meets a few hundred distractors fewer.
    """
    from ragtune.evaluation.retrieval import load_qrels, load_queries

    queries, qrels = load_queries(SCIFACT / "queries-train.jsonl"), load_qrels(SCIFACT / "qrels-train.tsv")
    if first is None or scratch is None:
        return RetrievalSet("scifact-train", SCIFACT / "corpus.jsonl", queries, qrels)
    relevant = {doc for docs in qrels.values() for doc in docs}
    corpus = scratch / f"scifact-first{first}-plus-relevant.jsonl"
    if not corpus.is_file():
        scratch.mkdir(parents=True, exist_ok=True)
        with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
            lines = [line for i, line in enumerate(handle) if i < first or json.loads(line)["_id"] in relevant]
        corpus.write_text("".join(lines), encoding="utf-8")
    return RetrievalSet(f"scifact-train-{first}", corpus, queries, qrels)


def squad_dev(scratch: Path, n_queries: int = 1000, seed: int = 0) -> RetrievalSet:
    """All 2,067 dev paragraphs as the corpus; ``n_queries`` questions drawn at random (fixed seed)."""
    data = json.loads(gzip.decompress(SQUAD.read_bytes()))
    corpus = scratch / "squad-dev-paragraphs.jsonl"
    questions: list[tuple[str, str, str]] = []
    lines = []
    for article in data["data"]:
        title = article["title"].replace("_", " ")
        for p, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{article['title']}#{p}"
            lines.append(json.dumps({"_id": doc_id, "title": title, "text": paragraph["context"]}))
            questions += [(qa["id"], qa["question"], doc_id) for qa in paragraph["qas"]]
    if not corpus.is_file():
        scratch.mkdir(parents=True, exist_ok=True)
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chosen = random.Random(seed).sample(questions, min(n_queries, len(questions)))
    return RetrievalSet(
        "squad-dev",
        corpus,
        {qid: text for qid, text, _ in chosen},
        {qid: {doc: 1} for qid, _, doc in chosen},
    )
