"""Knowledge freshness: a fine-tuned model's snapshot vs the live index, the router hook, the retrain diff."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragtune.errors import ConfigError
from ragtune.finetune.dataset import TrainingData, load_training_data
from ragtune.finetune.freshness import corpus_snapshot, stale_checker, stale_doc_ids, stale_documents
from ragtune.finetune.generate import TemplateQAGenerator, generate_pairs, write_pairs
from ragtune.finetune.prepare import PrepareConfig, prepare
from ragtune.finetune.retrain import retrain_diff
from ragtune.index.base import Index, SearchRequest
from ragtune.index.embedded import EmbeddedIndex
from ragtune.llm.registry import ModelEntry, ModelRegistry
from ragtune.schema import Chunk, DocumentState, SearchMode, content_hash

DIM = 4
DOCS = {
    "alpha": "Alpha Station is a research base on the ice. The station opened in 1998 with twelve scientists.",
    "beta": "Beta Harbour is a fishing port in the north. Its lighthouse was rebuilt in 2004 after a storm.",
    "gamma": "Gamma Ridge is a mountain trail for hikers. The trail is closed every winter because of avalanches.",
}


def put(index: Index, doc_id: str, text: str) -> None:
    sentences = [s.strip() + "." for s in text.split(".") if s.strip()]
    digest = content_hash(text)
    chunks = [
        Chunk(
            id=f"{doc_id}#{i}-{digest[:6]}",
            doc_id=doc_id,
            text=s,
            position=i,
            source=f"/docs/{doc_id}.md",
            title=doc_id,
            doc_hash=digest,
        )
        for i, s in enumerate(sentences)
    ]
    vectors = np.random.default_rng(len(text)).standard_normal((len(chunks), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    state = DocumentState(
        doc_id=doc_id, source=f"/docs/{doc_id}.md", doc_hash=digest, chunk_ids=tuple(c.id for c in chunks)
    )
    index.replace_document(state, chunks, vectors)


@pytest.fixture
def index(tmp_path: Path):  # type: ignore[no-untyped-def]
    with EmbeddedIndex(tmp_path / "store", dim=DIM) as idx:
        for doc_id, text in DOCS.items():
            put(idx, doc_id, text)
        yield idx


@pytest.fixture
def data(index: Index, tmp_path: Path) -> TrainingData:
    pairs = list(generate_pairs(index, TemplateQAGenerator(min_words=4), per_chunk=2))
    write_pairs(pairs, tmp_path / "generated.jsonl")
    prepare([tmp_path / "generated.jsonl"], tmp_path / "prepared", PrepareConfig(val_fraction=0.0))
    return load_training_data(tmp_path / "prepared")


@pytest.fixture
def registry(data: TrainingData, tmp_path: Path) -> ModelRegistry:
    snapshot, chunks = corpus_snapshot(data.examples)
    registry = ModelRegistry(tmp_path / "models.json")
    registry.register(
        ModelEntry(
            name="ft",
            provider="local",
            model_id="smollm2-135m-instruct",
            adapter_path=str(tmp_path),
            base="base",
            snapshot=snapshot,
            snapshot_chunks=chunks,
            extra={"data": str(tmp_path / "prepared")},
        )
    )
    return registry


def test_generated_examples_carry_their_chunk_and_document(data, index):  # type: ignore[no-untyped-def]
    states = index.documents()
    assert {e.source.doc_id for e in data.examples} == set(DOCS)
    for example in data.examples:
        assert example.source.chunk_id in states[example.source.doc_id].chunk_ids
        assert example.source.doc_hash == states[example.source.doc_id].doc_hash


def test_snapshot_records_hashes_and_chunk_ids(registry, index):  # type: ignore[no-untyped-def]
    entry = registry.get("ft")
    assert entry.snapshot == {d: s.doc_hash for d, s in index.documents().items()}
    assert all(set(ids) <= set(index.documents()[d].chunk_ids) for d, ids in entry.snapshot_chunks.items())
    assert stale_documents(entry, index) == {}


def test_changed_and_removed_documents_make_the_model_stale(registry, index):  # type: ignore[no-untyped-def]
    put(index, "beta", DOCS["beta"].replace("2004", "2019"))
    index.delete_documents(["gamma"])
    put(index, "delta", "Delta Bay is a quiet beach. Swimming is allowed from June to September.")
    assert stale_documents(registry.get("ft"), index) == {"beta": "changed", "gamma": "removed"}
    assert stale_doc_ids(registry, "ft", index) == {"beta", "gamma"}
    assert stale_documents(registry.get("base"), index) == {}  # no snapshot: never stale


def test_the_stale_checker_follows_later_ingests(registry, index):  # type: ignore[no-untyped-def]
    check = stale_checker(registry, "ft", index)
    assert check() == set()
    put(index, "alpha", DOCS["alpha"] + " It now has a greenhouse.")
    assert check() == {"alpha"}


def test_unknown_model_is_a_clear_error(registry, index):  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="No model named 'nope'"):
        stale_doc_ids(registry, "nope", index)


def test_router_sends_questions_about_stale_documents_to_retrieval(registry, index):  # type: ignore[no-untyped-def]
    from ragtune.routing.router import Router
    from ragtune.routing.routes import RouteSet
    from ragtune.routing.rules import Rule, RulesStrategy

    routes = RouteSet.default()
    router = Router(
        routes,
        [RulesStrategy(routes, [Rule(route="finetuned", pattern=".*", kind="regex")])],
        retriever=lambda q: index.search(SearchRequest(query_text=q, mode=SearchMode.BM25, k=3)),
        stale_docs=stale_checker(registry, "ft", index),
    )
    question = "When was the Beta Harbour lighthouse rebuilt?"
    assert router.route(question).route == "finetuned"
    put(index, "beta", DOCS["beta"].replace("2004", "2019"))
    decision = router.route(question)
    assert decision.route == "rag" and "stale" in decision.reason
    assert router.route("Is the Gamma Ridge trail open in winter?").route == "finetuned"


def test_retrain_diff_drops_stale_examples_and_generates_new_ones(registry, index, data, tmp_path):  # type: ignore[no-untyped-def]
    put(index, "beta", DOCS["beta"].replace("2004", "2019"))
    index.delete_documents(["gamma"])
    put(index, "delta", "Delta Bay is a quiet beach for families. Swimming is allowed from June to September.")
    diff = retrain_diff(registry.get("ft"), index, data, TemplateQAGenerator(min_words=4), tmp_path / "diff")
    assert (diff.changed, diff.removed, diff.new) == (["beta"], ["gamma"], ["delta"])
    dropped = [json.loads(line) for line in Path(diff.drop_path).read_text().splitlines()]
    added = [json.loads(line) for line in Path(diff.add_path).read_text().splitlines()]
    expected_drop = [e for e in data.examples if e.source.doc_id in {"beta", "gamma"}]
    assert diff.drop == len(dropped) == len(expected_drop) > 0
    assert {r["metadata"]["reason"] for r in dropped} == {"changed", "removed"}
    assert {r["doc_id"] for r in added} == {"beta", "delta"} and diff.add == len(added)
    assert any("2019" in r["question"] + r["answer"] for r in added)
    new_hash = index.documents()["beta"].doc_hash
    assert {r["doc_hash"] for r in added if r["doc_id"] == "beta"} == {new_hash}
    # both files are ready for prepare (provenance keys are accepted)
    for path in (diff.add_path, diff.drop_path):
        report = prepare([path], tmp_path / Path(path).stem, PrepareConfig(val_fraction=0.0))
        assert report.rejected == 0 and report.train == len(Path(path).read_text().splitlines())


def test_snapshot_fills_missing_hashes_from_the_index(index, tmp_path):  # type: ignore[no-untyped-def]
    rows = [
        {"question": "Where is Alpha Station?", "answer": "On the ice.", "doc_id": "alpha"},
        {"question": "Unknown doc?", "answer": "Yes.", "doc_id": "zeta"},
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    prepare([tmp_path / "d.jsonl"], tmp_path / "p", PrepareConfig(val_fraction=0.0))
    examples = load_training_data(tmp_path / "p").examples
    assert corpus_snapshot(examples) == ({}, {})
    snapshot, _ = corpus_snapshot(examples, index=index)
    assert snapshot == {"alpha": index.documents()["alpha"].doc_hash}


def test_one_tenant_aware_check_for_chain_cli_and_router(tmp_path: Path) -> None:
    """A model that learned from tenant ``acme`` is judged against ``acme``, by every caller."""
    from ragtune.chains.build import registry_staleness
    from ragtune.llm.registry import snapshot_changes

    with EmbeddedIndex(tmp_path / "store", dim=DIM) as idx:
        texts = {"alpha": DOCS["alpha"], "beta": DOCS["beta"]}
        for doc_id, text in texts.items():
            sentences = [s.strip() + "." for s in text.split(".") if s.strip()]
            chunks = [Chunk(id=f"{doc_id}#{i}", doc_id=doc_id, text=s, position=i, source=f"/{doc_id}.md")
                      for i, s in enumerate(sentences)]  # fmt: skip
            state = DocumentState(doc_id=doc_id, source=f"/{doc_id}.md", doc_hash=content_hash(text),
                                  chunk_ids=tuple(c.id for c in chunks))  # fmt: skip
            vectors = np.eye(len(chunks), DIM, dtype=np.float32)
            idx.replace_document(state, chunks, vectors, tenant="acme")
        assert idx.documents() == {}  # the default tenant holds nothing
        snapshot = {d: content_hash(t) for d, t in texts.items()}
        entry = ModelEntry(name="ft", provider="local", model_id="m", snapshot=snapshot, extra={"tenant": "acme"})
        registry = ModelRegistry(tmp_path / "models.json")
        registry.register(entry)
        assert entry.tenant == "acme"
        assert stale_documents(entry, idx) == {}
        assert registry_staleness(_Workspace(idx), entry)() == set()  # build_chain's hook (was: everything stale)
        assert stale_checker(registry, "ft", idx)() == set()  # the router's hook
        blind = ModelEntry(name="blind", provider="local", model_id="m", snapshot=snapshot)  # no tenant recorded
        assert stale_documents(blind, idx) == {"alpha": "removed", "beta": "removed"}
        drifted = entry.model_copy(update={"snapshot": {**snapshot, "beta": "old"}})
        assert stale_documents(drifted, idx) == {"beta": "changed"}
        current = {d: s.doc_hash for d, s in idx.documents(tenant="acme").items()}
        assert drifted.stale_documents(current) == sorted(snapshot_changes(drifted.snapshot, current)) == ["beta"]


class _Workspace:
    """Just the part of a Workspace the freshness hook reads."""

    def __init__(self, index: Index) -> None:
        self.index = index
