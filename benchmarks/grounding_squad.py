"""Grounding on a SQuAD v1.1 dev slice: the local model's drafts unchecked, checked (strict), and extractive.

Corpus and questions as in ``answer_quality_squad.py`` (one chunk per paragraph, hybrid search,
k=3). Each question is answered once by SmolLM2-135M with grounding ``off`` (the draft); the
``strict`` policy is then applied to that same draft with the pure post-step
(:func:`~ragtune.chains.grounding.apply_grounding`, MiniLM verifier), so both rows judge one
draft. ``extract`` answers without a model. Reported per policy: "contains gold" (a gold answer
appears in the answer), token F1, abstain rate, the share of answers whose first citation is a
block holding a gold answer, the draft claims judged supported, and the latency of the
grounding step (verify or extract) alone.

    python benchmarks/grounding_squad.py --questions 60
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentile, print_table
from answer_quality_squad import load, normalise, scores

from ragtune.chains import Answer, ChainConfig, ChainModel, RagChain
from ragtune.chains.context import ContextBlock
from ragtune.chains.grounding import EmbeddingSimilarity, EmbeddingVerifier, apply_grounding
from ragtune.embeddings.local import LocalEmbedder
from ragtune.index.embedded import EmbeddedIndex
from ragtune.retrievers.search import Searcher, SearchOptions
from ragtune.schema import Chunk, DocumentState


def shown_blocks(answer: Answer, by_id: dict[str, Chunk]) -> list[ContextBlock]:
    """The blocks the model saw (one paragraph per block in this corpus)."""
    return [
        ContextBlock(number=c.number, text=by_id[c.chunk_id].text, chunks=[by_id[c.chunk_id]], rank=i, score=1.0)
        for i, c in enumerate(answer.context)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=4)
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()
    chunks, questions = load(args.articles, args.questions)
    by_id = {c.id: c for c in chunks}
    embedder = LocalEmbedder()
    from ragtune.llm.local import LocalChatModel

    model = ChainModel.of(LocalChatModel(max_new_tokens=args.max_new_tokens))
    similarity = EmbeddingSimilarity(embedder)
    verifier = EmbeddingVerifier(similarity)
    rows: dict[str, list[tuple[float, float, float, float, float]]] = {"off": [], "strict": [], "extract": []}
    step_ms: dict[str, list[float]] = {"strict": [], "extract": []}
    drafts_supported: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        index = EmbeddedIndex(folder, dim=embedder.dim)
        vectors = embedder.embed_documents([c.text for c in chunks])
        for chunk, vector in zip(chunks, vectors, strict=True):
            state = DocumentState(doc_id=chunk.doc_id, source=chunk.source, doc_hash=chunk.content_hash,
                                  chunk_ids=(chunk.id,))  # fmt: skip
            index.replace_document(state, [chunk], vector[None])
        searcher = Searcher(index, embedder, SearchOptions(k=3))
        drafting = RagChain(
            base=model, retriever=searcher.search, config=ChainConfig(grounding="off"), embedder=embedder
        )
        extracting = RagChain(
            base=model, retriever=searcher.search, config=ChainConfig(mode="extract"), embedder=embedder
        )
        started = time.perf_counter()
        for n, item in enumerate(questions, start=1):
            golds = item["answers"]
            draft = drafting.invoke({"question": item["question"], "route": "rag"})
            t0 = time.perf_counter()
            strict = apply_grounding(draft, shown_blocks(draft, by_id), policy="strict", verifier=verifier,
                                     similarity=similarity)  # fmt: skip
            step_ms["strict"].append((time.perf_counter() - t0) * 1000)
            quoted = extracting.invoke({"question": item["question"], "route": "rag"})
            step_ms["extract"].append(
                quoted.usage.latency_ms.get("extract", 0.0) + quoted.usage.latency_ms.get("verify", 0.0)
            )
            model_claims = [c for c in strict.claims if c.origin == "model"]
            if model_claims:
                drafts_supported.append(sum(c.verdict == "supported" for c in model_claims) / len(model_claims))
            for name, answer in (("off", draft), ("strict", strict), ("extract", quoted)):
                _, f1, contains = scores(answer.text, golds)
                first = answer.citations[0].chunk_id if answer.citations else None
                right = float(first is not None and any(normalise(g) in normalise(by_id[first].text) for g in golds))
                rows[name].append((contains, f1, float(answer.abstained), right, float(bool(answer.citations))))
            if n % 20 == 0:
                print(f"{n}/{len(questions)} questions, {time.perf_counter() - started:.0f}s", flush=True)
        index.close()
    n = len(questions)
    table = []
    for name, values in rows.items():
        contains, f1, abstained, right, cited = (statistics.mean(v[i] for v in values) for i in range(5))
        latency = step_ms.get(name)
        step = f"{percentile(latency, 50):.0f} / {percentile(latency, 95):.0f}" if latency else "-"
        table.append(
            [name, n, f"{contains:.3f}", f"{f1:.3f}", f"{abstained:.3f}", f"{cited:.3f}", f"{right:.3f}", step]
        )
    print_table(
        f"Grounding on SQuAD v1.1 dev: {args.articles} articles ({len(chunks)} paragraphs), {n} questions, "
        f"SmolLM2-135M, max_new_tokens={args.max_new_tokens}",
        [
            "policy",
            "n",
            "contains gold",
            "token F1",
            "abstained",
            "cites a block",
            "first citation holds gold",
            "grounding step ms p50 / p95",
        ],
        table,
    )
    share = statistics.mean(drafts_supported) if drafts_supported else float("nan")
    print(f"\nmean share of draft claims judged supported: {share:.3f} over {len(drafts_supported)} drafts")


if __name__ == "__main__":
    main()
