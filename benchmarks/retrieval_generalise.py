"""Retrieval settings chosen by cross-validation over two data sets, never on the figure reported.

Data: SciFact train (809 claims, 5,183 abstracts) and SQuAD v1.1 dev as passage retrieval (all
2,067 paragraphs, 1,000 questions drawn with a fixed seed; see ``_retrieval_sets.py``). Each corpus
is ingested twice with the shipped chunker (200 tokens, no overlap): the title on the first chunk
only (today's default) and the title on every chunk. The second ingest shares the first's embedding
cache, so only re-titled continuation chunks are embedded again. Stores live under ``--work`` and
are reused, and so are a finished data set's scores (``scores-*.json``).

Search-time settings need no re-ingest: each query's BM25 and vector top 100 chunks are fetched once
(per corpus variant, and once more for a pseudo-relevance-feedback query), and every hybrid setting
is the shipped fusion (:func:`ragtune.index.fusion.fuse`) over those lists, exactly what the store's
hybrid search computes (checked on the first queries).

Procedure: each data set's queries are cut into 5 folds (fixed seed), 10 folds in all. For every
fold, the setting with the best mean nDCG@10 on the other 9 folds (the two data sets weighted
equally) is chosen and scored on the held-out fold; the cross-validated figure per data set is the
mean over its queries of the score of the setting chosen without them. Each idea's effect is also
reported as a paired difference against today's default with a 95% bootstrap interval.

Pseudo-relevance feedback (RM3-like, on the BM25 side only): the ``fb_docs`` best BM25 chunks give
``fb_terms`` expansion terms (stemmed terms weighted by in-chunk share x idf, query terms excluded)
that are added to the BM25 query; the vector side keeps the original query.

    python benchmarks/retrieval_generalise.py [--work /tmp/ragtune-generalise] [--squad-questions 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, require_shared_data
from _retrieval_sets import RetrievalSet, scifact_train, squad_dev

from ragtune.evaluation.bootstrap import interval
from ragtune.evaluation.retrieval import ndcg_at
from ragtune.index.fusion import fuse
from ragtune.index.request import DEFAULT_ALPHA
from ragtune.schema import Fusion, SearchMode

VARIANTS = {"first": False, "every": True}
"""Corpus variant -> ``ChunkingOptions.title_every_chunk``."""
ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7)
PRF = ((5, 10),)
"""(feedback chunks, expansion terms) tried."""
FOLDS = 5
POOL = 100

Ranked = list[tuple[str, float]]


def ingest(data: RetrievalSet, work: Path, variants: list[str]) -> dict[str, Path]:
    """The data set's stores, one per chunk variant (ingested once; the cache is shared)."""
    from ragtune.chunking.options import ChunkingOptions
    from ragtune.config import Settings
    from ragtune.ingest.sync import sync_paths
    from ragtune.loaders.options import LoadOptions
    from ragtune.workspace import Workspace

    stores = {}
    for variant, every in VARIANTS.items():
        if variant not in variants:
            continue
        store = work / f"{data.name}-{variant}"
        first = work / f"{data.name}-first"
        if variant != "first" and not store.exists():
            store.mkdir(parents=True)
            for part in first.glob("embeddings.sqlite*"):
                shutil.copy2(part, store / part.name)
        started = time.perf_counter()
        with Workspace(Settings(store=str(store))) as ws:
            report = sync_paths(
                ws, [data.corpus], load_options=LoadOptions(text_fields=["title", "text"], id_field="_id"),
                chunking=ChunkingOptions(title_every_chunk=every),
            )  # fmt: skip
            took = time.perf_counter() - started
            print(f"{data.name}/{variant}: {report.added} added, {report.chunks_added} chunks added, "
                  f"{ws.cached_embedder.misses} embedded, {took:.0f} s", flush=True)  # fmt: skip
        stores[variant] = store
    return stores


class Feedback:
    """Expansion terms from the top BM25 chunks (stemmed like the index, idf from the corpus)."""

    def __init__(self, corpus: Path) -> None:
        from ragtune.index.embedded.keyword import Analyzer

        self.analyzer = Analyzer()
        df: Counter[str] = Counter()
        n = 0
        with corpus.open(encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                df.update(set(self.analyzer.terms(f"{record.get('title', '')} {record['text']}")))
                n += 1
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def expand(self, query: str, texts: list[str], terms: int) -> str:
        """``query`` plus the best ``terms`` feedback words not already in it."""
        from ragtune.index.embedded.keyword import STOP_WORDS

        own = set(self.analyzer.query_terms(query))
        weight: Counter[str] = Counter()
        surface: dict[str, str] = {}
        for text in texts:
            words = [w for w in re.findall(r"[^\W\d_]+", text.lower()) if w not in STOP_WORDS]
            stems = self.analyzer._stemmer().stemWords(words) if words else []
            for word, stem in zip(words, stems, strict=True):
                surface.setdefault(stem, word)
            for term, tf in Counter(stems).items():
                if term not in own:
                    weight[term] += tf / len(stems) * self.idf.get(term, 0.0)
        chosen = [surface[t] for t, _ in weight.most_common(terms)]
        return " ".join([query, *chosen])


def fetch(data: RetrievalSet, store: Path, vectors: dict[str, Any], feedback: Feedback) -> dict[str, Any]:
    """Per query: vector and BM25 top-100 chunk lists (and BM25 after feedback), with chunk -> doc."""
    from ragtune.config import Settings
    from ragtune.workspace import Workspace

    out: dict[str, Any] = {"vector": {}, "bm25": {}, "doc": {}, "text": {}, "ms": Counter()}
    for fb_docs, fb_terms in PRF:
        out[f"prf{fb_docs}x{fb_terms}"] = {}
    with Workspace(Settings(store=str(store))) as ws:
        searcher = ws.searcher()

        def run(kind: str, query: str, **kw: Any) -> list[Any]:
            started = time.perf_counter()
            hits = searcher.search(query, k=POOL, **kw)
            out["ms"][kind] += (time.perf_counter() - started) * 1000
            return hits

        for qid, text in data.queries.items():
            vec = run("vector", text, mode=SearchMode.VECTOR, query_vector=vectors[qid])
            bm = run("bm25", text, mode=SearchMode.BM25)
            out["vector"][qid] = [(h.chunk.id, h.score) for h in vec]
            out["bm25"][qid] = [(h.chunk.id, h.score) for h in bm]
            for h in (*vec, *bm):
                out["doc"][h.chunk.id] = h.chunk.doc_id
                out["text"].setdefault(h.chunk.id, h.chunk.text_for_embedding)
            for fb_docs, fb_terms in PRF:
                started = time.perf_counter()
                expanded = feedback.expand(text, [h.chunk.text_for_embedding for h in bm[:fb_docs]], fb_terms)
                out["ms"]["prf-expand"] += (time.perf_counter() - started) * 1000
                hits = run("prf-bm25", expanded, mode=SearchMode.BM25)
                out[f"prf{fb_docs}x{fb_terms}"][qid] = [(h.chunk.id, h.score) for h in hits]
                for h in hits:
                    out["doc"][h.chunk.id] = h.chunk.doc_id
        # the local fusion is the store's hybrid search, ranked the same way
        for qid in list(data.queries)[:20]:
            shipped = list(dict.fromkeys(h.chunk.doc_id for h in searcher.search(
                data.queries[qid], k=10, mode=SearchMode.HYBRID, query_vector=vectors[qid])))  # fmt: skip
            local = doc_ranking(fuse(out["vector"][qid], out["bm25"][qid], alpha=DEFAULT_ALPHA,
                                     fusion=Fusion.RELATIVE_SCORE), out["doc"])[: len(shipped)]  # fmt: skip
            if shipped != local:
                print(f"warning: local fusion differs from the store's hybrid on {qid}: {shipped} vs {local}")
    return out


def rerank(data: RetrievalSet, fetched: dict[str, Any], n: int, depth: int = 10) -> list[list[Any]]:
    """Re-rank the default hybrid's top ``depth`` documents of ``n`` queries by question likelihood.

    The packaged SmolLM2-135M scores each document's best chunk (its embedded text); the re-ranked
    order is by likelihood alone (Sachan et al., 2022). Slow on CPU, hence a bounded sample.
    """
    from ragtune.chains.grounding.likelihood import LocalQuestionLikelihood

    scorer = LocalQuestionLikelihood()
    qids = random.Random(3).sample(list(data.queries), min(n, len(data.queries)))
    base, ranked, seconds, passages = [], [], 0.0, 0
    for qid in qids:
        fused = fuse(fetched["vector"][qid], fetched["bm25"][qid], alpha=DEFAULT_ALPHA, fusion=Fusion.RELATIVE_SCORE)
        best: dict[str, str] = {}
        for cid, _ in fused:
            best.setdefault(fetched["doc"][cid], cid)
        docs = list(best)
        top = docs[:depth]
        started = time.perf_counter()
        likelihood = scorer.score(data.queries[qid], [fetched["text"][best[d]] for d in top]) or [0.0] * len(top)
        seconds += time.perf_counter() - started
        passages += len(top)
        order = [d for _, d in sorted(zip(likelihood, top, strict=True), key=lambda x: -x[0])]
        base.append(ndcg_at(docs, data.qrels[qid]))
        ranked.append(ndcg_at(order + docs[depth:], data.qrels[qid]))
    diff = [a - b for a, b in zip(ranked, base, strict=True)]
    return [[data.name, len(qids), interval(base).describe("{:.4f}"), interval(ranked).describe("{:.4f}"),
             interval(diff).describe("{:+.4f}"), seconds / max(passages, 1)]]  # fmt: skip


def doc_ranking(ranked: Ranked, doc: dict[str, str]) -> list[str]:
    """Document ids in rank order, each once, at its best chunk."""
    return list(dict.fromkeys(doc[cid] for cid, _ in ranked))


def settings() -> dict[str, Callable[[dict[str, Any], str], Ranked]]:
    """Setting name -> ranked chunk list of one query from the fetched lists."""
    table: dict[str, Callable[[dict[str, Any], str], Ranked]] = {
        "bm25": lambda f, q: f["bm25"][q],
        "vector": lambda f, q: f["vector"][q],
    }
    keywords = ["bm25", *(f"prf{d}x{t}" for d, t in PRF)]
    for kw in keywords:
        if kw != "bm25":
            table[kw] = lambda f, q, kw=kw: f[kw][q]
        for alpha in ALPHAS:
            for fusion in (Fusion.RELATIVE_SCORE, Fusion.RANKED):
                name = f"hybrid {fusion.value} {alpha}" + ("" if kw == "bm25" else f" + {kw}")
                table[name] = lambda f, q, kw=kw, a=alpha, fu=fusion: fuse(f["vector"][q], f[kw][q], alpha=a, fusion=fu)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/ragtune-generalise"), help="stores and cached lists")
    parser.add_argument("--squad-questions", type=int, default=1000)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="chunk variants to ingest")
    parser.add_argument("--scifact-queries", type=int, default=None, help="a random sample of the 809 claims")
    parser.add_argument("--rerank", type=int, default=0, help="queries per set to re-rank with SmolLM2 (slow)")
    parser.add_argument("--scifact-docs", type=int, default=None,
                        help="corpus: the first N abstracts plus every relevant one (default: all 5,183)")  # fmt: skip
    parser.add_argument("--sets", nargs="*", default=["scifact", "squad"], help="data sets to use")
    args = parser.parse_args()
    require_shared_data()
    args.work.mkdir(parents=True, exist_ok=True)
    scifact = scifact_train(args.work, args.scifact_docs)
    if args.scifact_queries is not None:
        keep = random.Random(0).sample(sorted(scifact.queries), min(args.scifact_queries, len(scifact.queries)))
        scifact = RetrievalSet(scifact.name, scifact.corpus, {q: scifact.queries[q] for q in keep}, scifact.qrels)
    candidates = (scifact, squad_dev(args.work, args.squad_questions))
    sets = [d for d in candidates if d.name.split("-")[0] in args.sets]
    default = f"first | hybrid {Fusion.RELATIVE_SCORE.value} {DEFAULT_ALPHA}"
    scores: dict[str, dict[str, list[float]]] = {}  # set -> "variant | setting" -> per-query nDCG@10
    latency: dict[str, dict[str, float]] = {}
    reranked: list[list[Any]] = []
    from ragtune.config import Settings
    from ragtune.embeddings.factory import make_embedder

    embedder = make_embedder(Settings())
    for data in sets:
        cached = (
            args.work / f"scores-{data.name}-{len(data.queries)}-{'-'.join(args.variants)}-rerank{args.rerank}.json"
        )
        earlier = sorted(args.work.glob(f"scores-{data.name}-{len(data.queries)}-*-rerank{args.rerank}.json"))
        if earlier:  # a finished data set is not searched again (whichever variants it had)
            done = json.loads(earlier[0].read_text())
            scores[data.name], reranked = done["scores"], reranked + done["reranked"]
            latency.update(done["latency"])
            continue
        stores = ingest(data, args.work, args.variants)
        qids = list(data.queries)
        vectors = dict(zip(qids, embedder.embed_queries([data.queries[q] for q in qids]), strict=True))
        feedback = Feedback(data.corpus)
        scores[data.name], mine = {}, []
        for variant, store in stores.items():
            fetched = fetch(data, store, vectors, feedback)
            latency[f"{data.name}/{variant}"] = {k: v / len(qids) for k, v in fetched["ms"].items()}
            if args.rerank and variant == "first":
                mine += rerank(data, fetched, args.rerank)
            for name, rank in settings().items():
                scores[data.name][f"{variant} | {name}"] = [
                    ndcg_at(doc_ranking(rank(fetched, q), fetched["doc"]), data.qrels[q]) for q in qids
                ]
        reranked += mine
        mine_latency = {k: v for k, v in latency.items() if k.startswith(data.name)}
        cached.write_text(json.dumps({"scores": scores[data.name], "reranked": mine, "latency": mine_latency}))
    report(scores, latency, default)
    if reranked:
        print_table("Re-ranking the default hybrid's top 10 by SmolLM2 question likelihood (random queries)",
                    ["set", "queries", "nDCG@10 before", "after", "difference", "s per passage"], reranked)  # fmt: skip


def report(scores: dict[str, dict[str, list[float]]], latency: dict[str, dict[str, float]], default: str) -> None:
    """Cross-validated choice, per-setting means and paired effects against the default."""
    names = [n for n in next(iter(scores.values())) if all(n in table for table in scores.values())]
    folds = {s: [i % FOLDS for i in random.Random(7).sample(range(len(v[default])), len(v[default]))]
             for s, v in scores.items()}  # fmt: skip
    cv: dict[str, list[float]] = {s: [0.0] * len(scores[s][default]) for s in scores}
    chosen: Counter[str] = Counter()
    for held_set in scores:
        for fold in range(FOLDS):

            def train_mean(name: str, held_set: str = held_set, fold: int = fold) -> float:
                means = []
                for s, table in scores.items():
                    keep = [v for v, f in zip(table[name], folds[s], strict=True) if not (s == held_set and f == fold)]
                    means.append(sum(keep) / len(keep))
                return sum(means) / len(means)

            best = max(names, key=train_mean)
            chosen[best] += 1
            for i, f in enumerate(folds[held_set]):
                if f == fold:
                    cv[held_set][i] = scores[held_set][best][i]
    print_table("Setting chosen on the other 9 folds (times chosen of 10)", ["setting", "chosen"],
                [[n, c] for n, c in chosen.most_common()])  # fmt: skip
    rows = [["cross-validated choice", *(interval(cv[s]).describe("{:.4f}") for s in scores)]]
    overall = {n: sum(sum(t[n]) / len(t[n]) for t in scores.values()) / len(scores) for n in names}
    shown = [default, *sorted((n for n in names if n != default), key=lambda n: -overall[n])[:8]]
    shown += [n for n in names if n.split(" | ")[1] in ("bm25", "vector", *(f"prf{d}x{t}" for d, t in PRF))]
    shown += [
        f"{v} | hybrid {Fusion.RELATIVE_SCORE.value} {DEFAULT_ALPHA}{p}"
        for v in VARIANTS
        for p in ("", *(f" + prf{d}x{t}" for d, t in PRF))
    ]
    shown = [n for n in dict.fromkeys(shown) if n in names]
    for name in shown:
        row = [name]
        for table in scores.values():
            diff = [a - b for a, b in zip(table[name], table[default], strict=True)]
            row.append(f"{interval(table[name]).describe('{:.4f}')} ({interval(diff).describe('{:+.4f}')})")
        rows.append(row)
    print_table("nDCG@10 [95% CI] (paired difference against today's default); all queries, in-sample",
                ["setting", *scores], rows)  # fmt: skip
    print("\nMean ms per query (loaded machine; compare within a row only):")
    for key, ms in latency.items():
        print(f"  {key}: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(ms.items())))


if __name__ == "__main__":
    main()
