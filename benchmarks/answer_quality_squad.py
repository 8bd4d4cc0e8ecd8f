"""Answer quality of ``rag`` against ``direct`` on a SQuAD v1.1 dev slice, on the local model.

Corpus: every paragraph of the first ``--articles`` dev articles (one chunk per paragraph, MiniLM
vectors, the embedded index). Questions: ``--questions`` spread evenly over those articles. Each
question is answered twice with SmolLM2-135M (greedy, ``--max-new-tokens``): route ``rag``
(hybrid search, k=3, stuff) and route ``direct`` (no documents). Reported:

* exact match and token F1 (SQuAD's normalisation, max over the gold answers), and "contains"
  (a gold answer appears in the reply: fairer to a generative model's full sentences);
* retrieval recall@3 (the gold paragraph among the hits);
* citation validity: share of rag answers citing anything, share of written citation numbers
  that point at a shown block, share of cited blocks that contain a gold answer;
* end-to-end latency of each route (``finetuned`` and ``hybrid`` run on the base model here,
  as no fine-tuned model is registered in this benchmark);
* routing regret: the packaged router scored against an oracle picking, per question, the
  cheaper route (direct < rag) whose F1 meets ``--quality-bar``.

The data is read from ``../shared/data/squad`` and never copied.

    python benchmarks/answer_quality_squad.py --questions 200
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import string
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, percentile, print_table

from ragtune.chains import Answer, ChainModel, RagChain
from ragtune.embeddings.local import LocalEmbedder
from ragtune.index.embedded import EmbeddedIndex
from ragtune.retrievers.search import Searcher, SearchOptions
from ragtune.routing import build_router
from ragtune.schema import Chunk, DocumentState

SQUAD = SHARED_DATA / "squad" / "dev-v1.1.json.gz"


def normalise(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1(prediction: str, gold: str) -> float:
    pred, ref = normalise(prediction).split(), normalise(gold).split()
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if not pred or not ref or same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def scores(prediction: str, golds: list[str]) -> tuple[float, float, float]:
    clean = re.sub(r"\[\d+(?:,\s*\d+)*\]", "", prediction)
    em = max(float(normalise(clean) == normalise(g)) for g in golds)
    best = max(f1(clean, g) for g in golds)
    contains = max(float(normalise(g) in normalise(clean)) for g in golds)
    return em, best, contains


def load(articles: int, questions: int) -> tuple[list[Chunk], list[dict[str, Any]]]:
    if not SQUAD.is_file():
        raise SystemExit(f"SQuAD not found at {SQUAD}; set RAGTUNE_SHARED_DATA")
    with gzip.open(SQUAD, "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"][:articles]
    chunks, per_article = [], []
    for article in data:
        pool = []
        for i, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{article['title']}#{i}"
            chunks.append(Chunk(id=doc_id, doc_id=doc_id, text=paragraph["context"], source=doc_id,
                                title=article["title"].replace("_", " ")))  # fmt: skip
            for qa in paragraph["qas"]:
                pool.append({"question": qa["question"], "answers": [a["text"] for a in qa["answers"]], "doc": doc_id})
        per_article.append(pool)
    share = questions // len(per_article)
    picked = []
    for pool in per_article:
        step = max(1, len(pool) // share)
        picked.extend(pool[::step][:share])
    return chunks, picked[:questions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=4)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--latency-questions", type=int, default=8, help="questions timed on every route")
    parser.add_argument("--quality-bar", type=float, default=0.5)
    args = parser.parse_args()
    chunks, questions = load(args.articles, args.questions)
    embedder = LocalEmbedder()
    from ragtune.llm.local import LocalChatModel

    model = ChainModel.of(LocalChatModel(max_new_tokens=args.max_new_tokens))
    with tempfile.TemporaryDirectory() as folder:
        index = EmbeddedIndex(folder, dim=embedder.dim)
        vectors = embedder.embed_documents([c.text for c in chunks])
        for chunk, vector in zip(chunks, vectors, strict=True):
            state = DocumentState(doc_id=chunk.doc_id, source=chunk.source, doc_hash=chunk.content_hash,
                                  chunk_ids=(chunk.id,))  # fmt: skip
            index.replace_document(state, [chunk], vector[None])
        searcher = Searcher(index, embedder, SearchOptions(k=3))
        chain = RagChain(base=model, retriever=searcher.search)
        router = build_router(embedder=embedder)
        results: dict[str, list[tuple[float, float, float]]] = {"rag": [], "direct": []}
        latency: dict[str, list[float]] = {"rag": [], "direct": [], "finetuned": [], "hybrid": []}
        recall = cited_any = written = valid = grounded = cited_blocks = 0
        labelled = []
        started = time.perf_counter()
        for n, item in enumerate(questions, start=1):
            golds = item["answers"]
            per_route: dict[str, float] = {}
            for route in ("rag", "direct"):
                answer: Answer = chain.invoke({"question": item["question"], "route": route})
                results[route].append(scores(answer.text, golds))
                per_route[route] = results[route][-1][1]
                latency[route].append(answer.usage.latency_ms["total"])
                if route == "rag":
                    recall += any(c.doc_id == item["doc"] for c in answer.context)
                    cited_any += bool(answer.citations)
                    written += len(answer.citations) + len(answer.invalid_citations)
                    valid += len(answer.citations)
                    texts = {c.number: next(ch.text for ch in chunks if ch.id == c.chunk_id) for c in answer.citations}
                    cited_blocks += len(texts)
                    grounded += sum(any(normalise(g) in normalise(t) for g in golds) for t in texts.values())
            labelled.append({"query": item["question"], "route": "rag", "quality": per_route})
            if n % 20 == 0:
                print(f"{n}/{len(questions)} questions, {time.perf_counter() - started:.0f}s", flush=True)
        for item in questions[: args.latency_questions]:
            for route in ("finetuned", "hybrid"):
                latency[route].append(
                    chain.invoke({"question": item["question"], "route": route}).usage.latency_ms["total"]
                )
        costs = {"direct": statistics.mean(latency["direct"]), "rag": statistics.mean(latency["rag"])}
        routing = router.evaluate(labelled, costs=costs, quality_bar=args.quality_bar)
        index.close()

    n = len(questions)
    rows = []
    for route in ("rag", "direct"):
        em, f, contains = (statistics.mean(x[i] for x in results[route]) for i in range(3))
        rows.append([route, n, f"{em:.3f}", f"{f:.3f}", f"{contains:.3f}"])
    print_table(
        f"SQuAD v1.1 dev slice: {args.articles} articles ({len(chunks)} paragraphs), {n} questions, "
        f"SmolLM2-135M, max_new_tokens={args.max_new_tokens}",
        ["route", "n", "exact match", "token F1", "contains gold"],
        rows,
    )
    print_table(
        "Retrieval and citations (rag route)",
        ["recall@3", "answers citing", "valid citation numbers", "cited blocks holding a gold answer"],
        [
            [
                f"{recall / n:.3f}",
                f"{cited_any / n:.3f}",
                f"{valid / written:.3f}" if written else "n/a (none written)",
                f"{grounded / cited_blocks:.3f}" if cited_blocks else "n/a",
            ]
        ],
    )
    print_table(
        "End-to-end latency per route (ms; finetuned and hybrid run on the base model here)",
        ["route", "n", "p50", "p95", "mean"],
        [
            [r, len(v), f"{statistics.median(v):.0f}", f"{percentile(v, 95):.0f}", f"{statistics.mean(v):.0f}"]
            for r, v in latency.items()
            if v
        ],
    )
    regret = routing.regret
    print_table(
        f"Packaged router on these questions (truth: rag), regret vs oracle (F1 >= {args.quality_bar}, cost = ms)",
        ["routed to rag", "oracle agreement", "quality regret (F1)", "cost regret (ms)", "bar met"],
        [
            [
                f"{routing.taken_accuracy:.3f}",
                f"{regret.oracle_agreement:.3f}" if regret else "",
                f"{regret.quality_regret:.3f}" if regret else "",
                f"{regret.cost_regret:.0f}" if regret else "",
                f"{regret.bar_met:.3f}" if regret else "",
            ]
        ],
    )


if __name__ == "__main__":
    main()
