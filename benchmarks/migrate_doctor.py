"""Migrate throughput against a re-embed, and doctor time per 10k chunks.

* **re-embed**: MiniLM ``embed_documents`` over the chunk texts of the first N SciFact
  documents (what copying a store would cost if vectors were not carried over).
* **migrate**: ``migrate_index`` of that store, and of a synthetic 10k-chunk store with three
  tenants (384-d random vectors), embedded -> Weaviate and Weaviate -> embedded. Weaviate is the
  in-process test server (``tests/fakes/weaviate_server``), so its figures measure ragtune's
  side plus gRPC on localhost, not a real Weaviate's write path.
* **doctor**: ``check_index`` over the 10k-chunk store on each backend, scaled to seconds per 10k chunks.

    RAGTUNE_SHARED_DATA=/work/shared/data python benchmarks/migrate_doctor.py --docs 100 --chunks 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import SCIFACT, print_table, require_shared_data

from ragtune.config import Settings
from ragtune.embeddings.local import LocalEmbedder
from ragtune.index.base import Index
from ragtune.index.embedded import EmbeddedIndex
from ragtune.index.migrate import migrate_index
from ragtune.index.weaviate import WeaviateIndex
from ragtune.ingest import sync_paths
from ragtune.ingest.doctor import check_index
from ragtune.loaders import LoadOptions
from ragtune.schema import Chunk, DocumentState
from ragtune.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes.weaviate_server import WeaviateTestServer

DIM = 384


def synthetic_store(path: Path, chunks: int, seed: int = 0) -> EmbeddedIndex:
    """Three tenants of 10-chunk documents with random unit vectors."""
    rng = np.random.default_rng(seed)
    index = EmbeddedIndex(path)
    words = [f"w{i}" for i in range(2000)]
    per_tenant = chunks // 3 // 10
    for tenant in (None, "acme", "globex"):
        items = []
        for d in range(per_tenant):
            doc_id = f"{tenant or 'default'}-{d}"
            doc_chunks = [
                Chunk(
                    id=f"{doc_id}#{i}", doc_id=doc_id, text=" ".join(rng.choice(words, 60)), position=i, source=doc_id
                )
                for i in range(10)
            ]
            vectors = rng.normal(size=(10, DIM)).astype(np.float32)
            ids = tuple(c.id for c in doc_chunks)
            state = DocumentState(doc_id=doc_id, source=doc_id, doc_hash=doc_id, chunk_ids=ids)
            items.append((state, doc_chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)))
        index.put_documents(items, tenant=tenant)
    return index


def timed_migrate(source: Index, target: Index) -> tuple[float, int]:
    report = migrate_index(source, target)
    assert not report.errors, report.errors
    return report.seconds, report.copied_chunks


def timed_doctor(index: Index) -> tuple[float, int]:
    start = time.perf_counter()
    findings = check_index(index)
    seconds = time.perf_counter() - start
    report = findings.report()
    assert report.ok, report.problems
    return seconds, report.chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100, help="SciFact documents for the re-embed comparison")
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks of the synthetic store")
    args = parser.parse_args()
    require_shared_data()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp, WeaviateTestServer() as server:
        root = Path(tmp)
        corpus = root / "scifact.jsonl"
        with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
            corpus.write_text("".join(line for _, line in zip(range(args.docs), handle, strict=False)))
        embedder = LocalEmbedder()
        with Workspace(Settings(store=root / "scifact"), embedder=embedder) as ws:
            sync_paths(ws, [corpus], load_options=LoadOptions(text_fields=["title", "text"], id_field="_id"))
            texts = [c.text_for_embedding for c, _ in ws.index.export_chunks()]
        start = time.perf_counter()
        embedder.embed_documents(texts)
        embed_s = time.perf_counter() - start
        rows.append([f"re-embed (MiniLM, {args.docs} SciFact docs)", len(texts), embed_s, len(texts) / embed_s])

        def weaviate(collection: str) -> WeaviateIndex:
            return WeaviateIndex(url=server.url, grpc_port=server.grpc_port, collection=collection)

        with EmbeddedIndex(root / "scifact") as source, weaviate("Scifact") as target:
            seconds, n = timed_migrate(source, target)
            rows.append(["migrate SciFact store embedded -> Weaviate", n, seconds, n / seconds])
        doctor_rows: list[list[object]] = []
        with synthetic_store(root / "synthetic", args.chunks) as source, weaviate("Synthetic") as target:
            seconds, n = timed_migrate(source, target)
            rows.append([f"migrate {n} chunks, 3 tenants, embedded -> Weaviate", n, seconds, n / seconds])
            with EmbeddedIndex(root / "back") as back:
                seconds, n = timed_migrate(target, back)
                rows.append([f"migrate {n} chunks, 3 tenants, Weaviate -> embedded", n, seconds, n / seconds])
            for name, index in (("embedded", source), ("Weaviate (test server)", target)):
                seconds, n = timed_doctor(index)
                doctor_rows.append([name, n, seconds, seconds * 10_000 / n])
    print_table("Migrate vs re-embed", ["what", "chunks", "seconds", "chunks/s"], rows)
    print_table("doctor check", ["backend", "chunks", "seconds", "seconds per 10k chunks"], doctor_rows)


if __name__ == "__main__":
    main()
