"""Search latency of the embedded store against LangChain's InMemoryVectorStore and a bare floor.

For each size, builds synthetic chunks (realistic text: sentences sampled from
the SciFact corpus when ``../shared/data/scifact`` exists, generated words
otherwise) with random unit 384-d vectors, then measures p50/p95 of vector,
BM25 and hybrid search with query vectors computed beforehand (query
embedding is not timed):

* ``EmbeddedIndex`` (SQLite + FTS5 + in-memory numpy), reopened from disk first;
* LangChain ``InMemoryVectorStore.similarity_search_by_vector`` (vector only);
* the floor: one numpy matrix-vector product + ``argpartition``, ``bm25s`` over
  the same analysed terms, and ``ragtune.index.fusion.fuse`` for hybrid.

Also reports the time to reopen the store and answer the first query
(loading the vectors once). Target (issue #3): hybrid p50 within 2x of the
floor at 100k chunks.

    python benchmarks/search_latency.py --sizes 10000 100000 --queries 200
"""

from __future__ import annotations

import os

# A matrix-vector product is memory-bound: BLAS threads add nothing but contention on a shared machine.
# Both the embedded store and the floor run under the same setting; export OPENBLAS_NUM_THREADS to change it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.index.base import SearchRequest
from ragtune.index.embedded import Analyzer, EmbeddedIndex
from ragtune.index.fusion import fuse
from ragtune.schema import Chunk, DocumentState, Fusion, SearchMode

SCIFACT = (
    Path(os.environ.get("RAGTUNE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "scifact"
)
DIM = 384
CHUNKS_PER_DOC = 10


def load_text(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Sentences to build chunks from, and query texts."""
    if (SCIFACT / "corpus.jsonl").is_file():
        sentences: list[str] = []
        with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                sentences += [s for s in re.split(r"(?<=[.!?])\s+", record["text"]) if len(s) > 20]
        with (SCIFACT / "queries-train.jsonl").open(encoding="utf-8") as handle:
            queries = [json.loads(line)["text"] for line in handle]
        return sentences, queries
    vocab = [f"w{i}" for i in range(20000)]
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()

    def words(n: int) -> str:
        return " ".join(rng.choice(vocab, size=n, p=weights))

    return [words(int(rng.integers(10, 30))) + "." for _ in range(20000)], [words(8) for _ in range(1000)]


def make_chunks(size: int, sentences: list[str], rng: np.random.Generator) -> list[Chunk]:
    chunks = []
    for i in range(size):
        picks = rng.integers(0, len(sentences), size=int(rng.integers(3, 7)))
        doc = i // CHUNKS_PER_DOC
        chunks.append(
            Chunk(
                id=f"c{i}",
                doc_id=f"d{doc}",
                text=" ".join(sentences[p] for p in picks),
                position=i % CHUNKS_PER_DOC,
                source=f"doc{doc}.txt",
                metadata={"group": int(doc % 10)},
            )
        )
    return chunks


def unit_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def summarise(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def latency(func: Callable[[Any], Any], inputs: list[Any]) -> tuple[float, float]:
    """p50 and p95 in milliseconds (after two warm-up calls)."""
    return interleaved({"only": func}, inputs)["only"]


def interleaved(funcs: dict[str, Callable[[Any], Any]], inputs: list[Any]) -> dict[str, tuple[float, float]]:
    """p50 and p95 (ms) of each function, taking turns on every input so load spikes hit all alike."""
    for item in inputs[:2]:
        for func in funcs.values():
            func(item)
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for item in inputs:
        for name, func in funcs.items():
            start = time.perf_counter()
            func(item)
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: summarise(values) for name, values in samples.items()}


def build_embedded(folder: Path, chunks: list[Chunk], vectors: np.ndarray) -> float:
    start = time.perf_counter()
    with EmbeddedIndex(folder, dim=DIM) as index:
        for first in range(0, len(chunks), CHUNKS_PER_DOC):
            part = chunks[first : first + CHUNKS_PER_DOC]
            state = DocumentState(
                doc_id=part[0].doc_id,
                source=part[0].source,
                doc_hash=part[0].doc_id,
                chunk_ids=tuple(c.id for c in part),
            )
            index.replace_document(state, part, vectors[first : first + CHUNKS_PER_DOC])
    return time.perf_counter() - start


class Floor:
    """The least work a hybrid search can do: numpy exact cosine, bm25s, fusion."""

    def __init__(self, chunks: list[Chunk], vectors: np.ndarray, analyzer: Analyzer) -> None:
        import bm25s

        self.matrix = np.ascontiguousarray(vectors)
        self.analyzer = analyzer
        self.bm25 = bm25s.BM25(k1=1.2, b=0.75, method="robertson")
        self.bm25.index([analyzer.terms(c.text) or ["\u2400"] for c in chunks], show_progress=False)
        self.size = len(chunks)

    def vector(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        scores = self.matrix @ query
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best])]
        return [(str(i), float(scores[i])) for i in best]

    def keyword(self, text: str, k: int) -> list[tuple[str, float]]:
        terms = list(dict.fromkeys(self.analyzer.terms(text)))
        if not terms:
            return []
        docs, scores = self.bm25.retrieve([terms], k=min(k, self.size), show_progress=False, n_threads=1)
        return [(str(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    def hybrid(self, text: str, query: np.ndarray, k: int, pool: int) -> list[tuple[str, float]]:
        fused = fuse(self.vector(query, pool), self.keyword(text, pool), alpha=0.5, fusion=Fusion.RELATIVE_SCORE)
        return fused[:k]


def run_size(size: int, args: argparse.Namespace, sentences: list[str], queries: list[str]) -> list[list[Any]]:
    rng = np.random.default_rng(size)
    chunks = make_chunks(size, sentences, rng)
    vectors = unit_rows(size, rng)
    qtexts = [queries[i % len(queries)] for i in range(args.queries)]
    qvecs = list(unit_rows(args.queries, rng))
    pairs = list(zip(qtexts, qvecs, strict=True))
    k, pool = args.k, max(args.k, 100)
    folder = Path(tempfile.mkdtemp(prefix="ragtune-latency-")) / "store"
    rows: list[list[Any]] = []
    try:
        ingest_s = build_embedded(folder, chunks, vectors)
        print(f"[{size}] embedded store built in {ingest_s:.1f}s ({size / ingest_s:.0f} chunks/s)", flush=True)

        start = time.perf_counter()
        index = EmbeddedIndex(folder)
        index.search(SearchRequest(query_vector=qvecs[0], mode=SearchMode.VECTOR, k=k))
        reopen_ms = (time.perf_counter() - start) * 1000

        def ours(mode: SearchMode) -> Callable[[Any], Any]:
            return lambda p: index.search(SearchRequest(query_text=p[0], query_vector=p[1], mode=mode, k=k))

        floor = Floor(chunks, vectors, Analyzer())
        engines: dict[str, Callable[[Any], Any]] = {f"embedded {mode.value}": ours(mode) for mode in SearchMode}
        engines["floor vector"] = lambda p: floor.vector(p[1], k)
        engines["floor bm25"] = lambda p: floor.keyword(p[0], k)
        engines["floor hybrid"] = lambda p: floor.hybrid(p[0], p[1], k, pool)
        results = interleaved(engines, pairs)
        index.close()

        if not args.skip_langchain:
            results["langchain vector"] = langchain_latency(chunks, vectors, pairs[: args.langchain_queries], k)

        for name, (p50, p95) in results.items():
            mode = name.split()[-1]
            floor_p50 = results[f"floor {mode}"][0]
            rows.append([size, name, p50, p95, p50 / floor_p50])
        rows.append([size, "embedded reopen + first query", reopen_ms, float("nan"), float("nan")])
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    return rows


def langchain_latency(chunks: list[Chunk], vectors: np.ndarray, pairs: list[Any], k: int) -> tuple[float, float]:
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import InMemoryVectorStore

    class Precomputed(Embeddings):
        """Hands back the benchmark's vectors in order: no embedding is timed."""

        def __init__(self) -> None:
            self.next = 0

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            out = vectors[self.next : self.next + len(texts)].tolist()
            self.next += len(texts)
            return out

        def embed_query(self, text: str) -> list[float]:
            raise NotImplementedError("queries are searched by vector")

    store = InMemoryVectorStore(embedding=Precomputed())
    store.add_texts([c.text for c in chunks], ids=[c.id for c in chunks])
    return latency(lambda p: store.similarity_search_by_vector(p[1].tolist(), k=k), pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--langchain-queries", type=int, default=30, help="LangChain is slow at 100k; fewer queries")
    parser.add_argument("--skip-langchain", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sentences, queries = load_text(rng)
    print(f"text: {'SciFact sentences' if (SCIFACT / 'corpus.jsonl').is_file() else 'generated words'}", flush=True)
    rows: list[list[Any]] = []
    for size in args.sizes:
        rows += run_size(size, args, sentences, queries)
    print("\n| chunks | engine / mode | p50 ms | p95 ms | p50 / floor p50 |")
    print("|---|---|---|---|---|")
    for size, name, p50, p95, ratio in rows:
        print(f"| {size} | {name} | {p50:.2f} | {p95:.2f} | {ratio:.2f} |")
    print("\nTarget: embedded hybrid p50 / floor hybrid p50 <= 2 at 100k chunks.")


if __name__ == "__main__":
    main()
