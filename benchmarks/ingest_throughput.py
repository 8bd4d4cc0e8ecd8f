"""Ingest throughput on the first N SciFact documents, beside its floor and two frameworks.

Measured in one run, same MiniLM weights, same machine:

* **ragtune**: ``sync_paths`` into a fresh embedded store (load + chunk + embed + index).
* **floor**: the bare embedding time of ragtune's own chunk texts (model time only).
* **LangChain**: ``RecursiveCharacterTextSplitter`` + ``HuggingFaceEmbeddings`` + ``InMemoryVectorStore``.
* **LlamaIndex**: ``IngestionPipeline`` (``SentenceSplitter`` + the same MiniLM as a LlamaIndex embedding).
* **re-ingest**: change 1 document, ingest again; cost relative to the full ingest.

Retrieval quality (nDCG@10 on the train queries whose relevant documents are all
inside the slice) is reported for ragtune and LangChain so speed is not bought with quality.
``--arms`` also ingests the slice with other chunkings (``size/overlap/every|first``:
title on every chunk or only the first), each with its tokens, wall time and nDCG@10.

ragtune embeds documents with ONNX Runtime by default; ``--document-backend torch`` measures it
on sentence-transformers (torch) instead, the encoder LangChain and LlamaIndex use.

    python benchmarks/ingest_throughput.py --docs 1000
    python benchmarks/ingest_throughput.py --docs 1000 --skip-llamaindex --arms 200/32/first
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SCIFACT, print_table, require_shared_data, scifact_records

from ragtune.chunking import ChunkingOptions
from ragtune.config import Settings
from ragtune.embeddings.local import LocalEmbedder, minilm_path
from ragtune.evaluation.retrieval import load_qrels, load_queries, ndcg_at
from ragtune.ingest import sync_paths
from ragtune.loaders import LoadOptions
from ragtune.workspace import Workspace


def write_slice(records: list[dict[str, Any]], path: Path) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def run_ragtune(
    corpus: Path, store: Path, embedder: LocalEmbedder, chunking: ChunkingOptions | None = None
) -> tuple[float, Workspace, Any]:
    ws = Workspace(Settings(store=store), embedder=embedder)
    start = time.perf_counter()
    options = LoadOptions(text_fields=["title", "text"], id_field="_id")
    report = sync_paths(ws, [corpus], load_options=options, chunking=chunking)
    return time.perf_counter() - start, ws, report


def parse_arm(arm: str) -> ChunkingOptions:
    """``"200/0/first"`` -> chunk_size 200, no overlap, title only where the first chunk lacks it."""
    size, overlap, title = arm.split("/")
    return ChunkingOptions(chunk_size=int(size), chunk_overlap=int(overlap), title_every_chunk=title == "every")


def ragtune_chunk_texts(ws: Workspace) -> list[str]:
    ids = [cid for state in ws.index.documents().values() for cid in state.chunk_ids]
    return [c.text_for_embedding for c in ws.index.get_chunks(ids)]


def run_langchain(records: list[dict[str, Any]]) -> tuple[float, Any, list[str]]:
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    embeddings = HuggingFaceEmbeddings(model_name=minilm_path(), encode_kwargs={"normalize_embeddings": True})
    embeddings.embed_documents(["warm up"])
    start = time.perf_counter()
    docs = [Document(page_content=f"{r['title']}\n\n{r['text']}", metadata={"doc_id": r["_id"]}) for r in records]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    store = InMemoryVectorStore(embeddings)
    store.add_documents(splits)
    return time.perf_counter() - start, store, [s.page_content for s in splits]


def run_llamaindex(records: list[dict[str, Any]], model: Any) -> float:
    from llama_index.core import Document
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter

    class MiniLM(BaseEmbedding):
        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return model.encode(texts, batch_size=64, normalize_embeddings=True).tolist()  # type: ignore[no-any-return]

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embeddings([text])[0]

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._get_text_embedding(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    start = time.perf_counter()
    docs = [Document(text=f"{r['title']}\n\n{r['text']}", doc_id=r["_id"]) for r in records]
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=1024, chunk_overlap=200), MiniLM(embed_batch_size=64)]
    )
    pipeline.run(documents=docs)
    return time.perf_counter() - start


def quality(search: Any, doc_ids: set[str]) -> tuple[float, int]:
    queries, qrels = load_queries(SCIFACT / "queries-train.jsonl"), load_qrels(SCIFACT / "qrels-train.tsv")
    usable = [q for q, rel in qrels.items() if set(rel) <= doc_ids]
    scores = [ndcg_at(list(dict.fromkeys(search(queries[q]))), qrels[q], 10) for q in usable]
    return (sum(scores) / len(scores) if scores else float("nan")), len(usable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--skip-frameworks", action="store_true", help="only ragtune, floor and re-ingest")
    parser.add_argument("--skip-llamaindex", action="store_true", help="LangChain only among the frameworks")
    parser.add_argument("--arms", nargs="*", default=[], help="extra chunkings size/overlap/every|first")
    parser.add_argument("--document-backend", choices=["auto", "onnx", "torch"], default="auto")
    args = parser.parse_args()
    require_shared_data()
    records = scifact_records(args.docs)
    work = Path(tempfile.mkdtemp(prefix="ragtune-bench-"))
    corpus = work / "corpus.jsonl"
    write_slice(records, corpus)
    embedder = LocalEmbedder(document_backend=args.document_backend)
    embedder.embed_documents(["warm up"])  # loads the encoder (and exports it to ONNX the first time)
    print(f"ragtune document encoder: {embedder.document_backend}")

    t_ragtune, ws, report = run_ragtune(corpus, work / "store", embedder)
    texts = ragtune_chunk_texts(ws)
    start = time.perf_counter()
    embedder.embed_documents(texts)
    t_floor = time.perf_counter() - start

    def tokens(batch: list[str]) -> int:  # what the model reads: [CLS] + text + [SEP], truncated
        return sum(min(embedder.count_tokens(t) + 2, embedder.max_tokens) for t in batch)

    rows: list[list[Any]] = [
        ["ragtune", t_ragtune, len(texts), tokens(texts), 1.0],
        ["floor (embed ragtune's chunks)", t_floor, len(texts), tokens(texts), t_floor / t_ragtune],
    ]
    doc_ids = {r["_id"] for r in records}
    searcher = ws.searcher()
    q_ragtune, n_q = quality(lambda q: [h.doc_id for h in searcher.search(q, k=10)], doc_ids)
    quality_rows = [["ragtune hybrid (defaults)", q_ragtune, n_q]]
    for arm in args.arms:
        t_arm, arm_ws, _ = run_ragtune(corpus, work / f"store-{arm.replace('/', '-')}", embedder, parse_arm(arm))
        arm_texts = ragtune_chunk_texts(arm_ws)
        rows.append([f"ragtune {arm}", t_arm, len(arm_texts), tokens(arm_texts), t_arm / t_ragtune])
        arm_searcher = arm_ws.searcher()
        q_arm, _ = quality(lambda q, s=arm_searcher: [h.doc_id for h in s.search(q, k=10)], doc_ids)
        quality_rows.append([f"ragtune hybrid {arm}", q_arm, n_q])
        arm_ws.close()

    if not args.skip_frameworks:
        t_lc, lc_store, lc_texts = run_langchain(records)
        title_only = sum(1 for r in records for t in lc_texts if t.strip() == r["title"].strip())
        rows.append(["LangChain", t_lc, len(lc_texts), tokens(lc_texts), t_lc / t_ragtune])
        q_lc, _ = quality(lambda q: [d.metadata["doc_id"] for d in lc_store.similarity_search(q, k=10)], doc_ids)
        quality_rows.append(["LangChain InMemoryVectorStore", q_lc, n_q])
        if not args.skip_llamaindex:
            t_li = run_llamaindex(records, LocalEmbedder(document_backend="torch")._model)
            rows.append(["LlamaIndex IngestionPipeline", t_li, "", "", t_li / t_ragtune])
        print(f"LangChain title-only chunks: {title_only} of {len(records)} documents")

    changed = [dict(r) for r in records]
    changed[len(changed) // 2]["text"] += " This sentence was added to change one document."
    write_slice(changed, corpus)
    start = time.perf_counter()
    again = sync_paths(ws, [corpus], load_options=LoadOptions(text_fields=["title", "text"], id_field="_id"))
    t_re = time.perf_counter() - start
    rows.append(["re-ingest, 1 changed", t_re, again.chunks_embedded, "", t_re / t_ragtune])

    print_table(
        f"Ingest of {len(records)} SciFact documents ({report.chunks_added} chunks)",
        ["pipeline", "seconds", "chunks", "tokens", "x ragtune"],
        rows,
    )
    if not args.skip_frameworks:
        print(f"\nragtune / LangChain wall time: {t_ragtune / t_lc:.2f}x (target <= 0.8x)")
        print(f"ragtune / LangChain tokens: {tokens(texts) / tokens(lc_texts):.2f}x")
    print(f"ragtune / its embedding floor: {t_ragtune / t_floor:.2f}x")
    print(f"re-ingest / full ingest: {t_re / t_ragtune:.1%} (target < 2%)")
    print_table(
        "Retrieval quality on the slice (nDCG@10, train queries)", ["system", "nDCG@10", "queries"], quality_rows
    )
    ws.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
