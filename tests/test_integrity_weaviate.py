"""Index integrity on Weaviate (the in-process test server): fingerprint, doctor, partial batches,
interrupted updates, and migrate between the embedded store and Weaviate."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import Filter

from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.index.base import Index, SearchRequest
from ragtune.index.embedded import EmbeddedIndex
from ragtune.index.fingerprint import Fingerprint
from ragtune.index.migrate import migrate_index
from ragtune.index.weaviate import RetryPolicy, WeaviateIndex
from ragtune.index.weaviate import _schema as layout
from ragtune.ingest import sync_paths
from ragtune.ingest.doctor import check_index, repair
from ragtune.schema import Chunk, DocumentState, SearchMode
from ragtune.testing.embeddings import FakeEmbedder
from ragtune.workspace import Workspace

DIM = 16
FAST_RETRY = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02)


def weaviate_settings(server: Any, store: Path, collection: str = "Integrity") -> Settings:
    return Settings(
        store=store,
        backend="weaviate",
        weaviate_url=server.url,
        weaviate_grpc_port=server.grpc_port,
        collection=collection,
    )


def make_index(server: Any, collection: str = "Integrity") -> WeaviateIndex:
    return WeaviateIndex(url=server.url, grpc_port=server.grpc_port, collection=collection, retry=FAST_RETRY)


@pytest.fixture
def corpus(tmp_path: Path, sample_corpus: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(sample_corpus, target)
    return target


@pytest.fixture
def ws(weaviate_server: Any, tmp_path: Path) -> Iterator[Workspace]:
    with Workspace(weaviate_settings(weaviate_server, tmp_path / "store"), embedder=FakeEmbedder(DIM)) as workspace:
        yield workspace


def client_for(server: Any) -> weaviate.WeaviateClient:
    return weaviate.connect_to_custom("127.0.0.1", server.http_port, False, "127.0.0.1", server.grpc_port, False)


# -- fingerprint ------------------------------------------------------------------------------
def test_fingerprint_lives_in_the_collection_and_is_not_a_tenant(
    ws: Workspace, corpus: Path, weaviate_server: Any
) -> None:
    sync_paths(ws, [corpus])
    with make_index(weaviate_server) as other:
        fingerprint = other.fingerprint()
        assert fingerprint is not None and fingerprint.model_id == f"ragtune-fake-{DIM}" and fingerprint.dim == DIM
        assert other.tenants() == []
        assert other.stats().documents == 5 and other.stats().tenants == {}
        assert other.record_fingerprint(Fingerprint.of(FakeEmbedder(DIM, model_id="x"))) == fingerprint


def test_another_embedder_on_the_same_collection_is_refused(
    ws: Workspace, corpus: Path, weaviate_server: Any, tmp_path: Path
) -> None:
    sync_paths(ws, [corpus])
    settings = weaviate_settings(weaviate_server, tmp_path / "elsewhere")  # no store.json there: only the index knows
    other = Workspace(settings, embedder=FakeEmbedder(DIM, model_id="another"))
    with other, pytest.raises(ConfigError) as err:
        _ = other.index
    assert "another" in str(err.value) and f"ragtune-fake-{DIM}" in str(err.value)


def test_a_collection_made_by_another_tool_is_refused_and_left_alone(weaviate_server: Any) -> None:
    with client_for(weaviate_server) as client:
        client.collections.create(
            "Foreign",
            properties=[Property(name="body", data_type=DataType.TEXT)],
            multi_tenancy_config=Configure.multi_tenancy(enabled=True, auto_tenant_creation=True),
            vector_config=Configure.Vectors.self_provided(name="default"),
        )
        with pytest.raises(ConfigError, match="not created by ragtune"):
            make_index(weaviate_server, "Foreign")
        props = {p.name for p in client.collections.use("Foreign").config.get().properties}
    assert props == {"body"}


# -- doctor -----------------------------------------------------------------------------------
def test_doctor_finds_and_repairs_out_of_band_deletions_and_edits(
    ws: Workspace, corpus: Path, weaviate_server: Any
) -> None:
    sync_paths(ws, [corpus])
    states = ws.index.documents()
    pricing = next(s for d, s in states.items() if d.endswith("pricing.md"))
    api = next(s for d, s in states.items() if d.endswith("api.md"))
    with client_for(weaviate_server) as client:
        chunks = client.collections.use("Integrity").with_tenant(layout.DEFAULT_TENANT)
        chunks.data.delete_many(where=Filter.by_property("chunk_id").equal(pricing.chunk_ids[0]))
    with weaviate_server.store.lock:
        shard = weaviate_server.store.get_class("Integrity").shards[layout.DEFAULT_TENANT]
        shard.objects[layout.chunk_uuid(api.chunk_ids[0])].properties["text"] = "edited by hand"
    findings = check_index(ws.index)
    assert findings.problems == {"missing_chunks": 1, "hash_mismatch": 1}, findings.examples
    assert {e["doc_id"] for e in findings.examples} == {pricing.doc_id, api.doc_id}
    repaired, left = repair(ws, findings)
    assert left == [] and repaired == {"missing_chunks": 1, "hash_mismatch": 1}
    assert check_index(ws.index).ok
    hits = ws.searcher().search("edited by hand", mode=SearchMode.BM25, k=3)
    assert all("edited by hand" not in h.text for h in hits)


def test_a_batch_that_failed_part_way_is_reported_recorded_only_when_whole_and_retried(
    ws: Workspace, corpus: Path, weaviate_server: Any
) -> None:
    sync_paths(ws, [corpus])
    page = corpus / "new-page.md"
    paragraphs = [f"Paragraph {i} about widgets and gadgets. " * 20 for i in range(8)]
    page.write_text("# New page\n\n" + "\n\n".join(paragraphs))
    # find the new document's chunk ids by chunking it the way ingest does, then refuse one of them
    from ragtune.chunking import Chunker, ChunkingOptions
    from ragtune.loaders import load_documents

    (doc,), _ = load_documents([page])
    settings = ws.settings
    options = ChunkingOptions(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    split = Chunker(ws.embedder.count_tokens, options).split(doc)
    assert len(split) >= 2
    weaviate_server.fail_uuids[layout.chunk_uuid(split[-1].id)] = "disk full"
    report = sync_paths(ws, [corpus])
    assert report.added == 0 and report.unchanged == 5
    assert len(report.errors) == 1 and "disk full" in report.errors[0].reason
    assert report.errors[0].path == str(page.resolve())
    assert doc.id not in ws.index.documents()
    findings = check_index(ws.index)
    assert findings.problems == {"orphan_chunks": len(split) - 1}
    weaviate_server.fail_uuids.clear()
    again = sync_paths(ws, [corpus])
    assert again.added == 1 and again.errors == []
    assert check_index(ws.index).ok


# -- interrupted updates ----------------------------------------------------------------------
class Interrupted(Exception):
    pass


def _whole(index: Index, before: dict[str, DocumentState], after: dict[str, DocumentState]) -> None:
    """Every document is fully there in its old or its new version."""
    for doc_id, old in before.items():
        held = {c.id for c in index.get_chunks(list(old.chunk_ids) + list(after[doc_id].chunk_ids))}
        assert set(old.chunk_ids) <= held or set(after[doc_id].chunk_ids) <= held, doc_id


def _inject(monkeypatch: pytest.MonkeyPatch, points: list[tuple[type, str]], at: int) -> list[int]:
    """Raise :class:`Interrupted` on the ``at``-th call to any of ``points``; returns the live call count."""
    calls = [0]
    for owner, name in points:
        original = getattr(owner, name)

        def wrapper(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls[0] += 1
            if calls[0] == at:
                raise Interrupted(f"killed at write call {at}")
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)
    return calls


@pytest.mark.parametrize("backend", ["weaviate", "embedded"])
def test_an_update_interrupted_at_every_write_leaves_documents_whole(
    backend: str, weaviate_server: Any, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragtune.index.embedded.store import SqliteStore

    if backend == "weaviate":
        settings = weaviate_settings(weaviate_server, tmp_path / "store")
        points: list[tuple[type, str]] = [(WeaviateIndex, "_insert"), (WeaviateIndex, "_delete_where")]
    else:
        settings = Settings(store=tmp_path / "store")
        points = [(SqliteStore, "put_document"), (SqliteStore, "_delete_rows"), (SqliteStore, "term_ids")]
    old_text = {p: p.read_text() for p in sorted(corpus.iterdir())}
    new_text = {p: t.replace("the ", "THE ") + "\n\nA new closing paragraph.\n" for p, t in old_text.items()}

    def write(texts: dict[Path, str]) -> None:
        for path, text in texts.items():
            path.write_text(text)

    with Workspace(settings, embedder=FakeEmbedder(DIM)) as ws:
        write(new_text)
        sync_paths(ws, [corpus])
        after = ws.index.documents()
        write(old_text)
        sync_paths(ws, [corpus])
        before = ws.index.documents()
    assert all(set(before[d].chunk_ids) != set(after[d].chunk_ids) for d in before)
    kill_points = 0
    for at in range(1, 200):
        write(new_text)
        with monkeypatch.context() as patch:
            calls = _inject(patch, points, at)
            with Workspace(settings, embedder=FakeEmbedder(DIM)) as ws:
                try:
                    sync_paths(ws, [corpus])
                    finished = True
                except Interrupted:
                    finished = False
        if finished:
            assert calls[0] < at
            break
        kill_points += 1
        with Workspace(settings, embedder=FakeEmbedder(DIM)) as ws:
            _whole(ws.index, before, after)
            sync_paths(ws, [corpus])  # the next sync completes the update
            assert ws.index.documents() == after
            assert check_index(ws.index).ok
            write(old_text)
            sync_paths(ws, [corpus])
            assert ws.index.documents() == before
    assert kill_points >= 5


# -- migrate ----------------------------------------------------------------------------------
TENANTS = [None, "acme", "globex"]
WORDS = [f"w{i}" for i in range(300)]


def fill(index: Index, docs_per_tenant: int = 100, chunks_per_doc: int = 10, seed: int = 0) -> int:
    """Random documents with random unit vectors in three tenants; returns the chunk total."""
    rng = np.random.default_rng(seed)
    total = 0
    for tenant in TENANTS:
        items = []
        for d in range(docs_per_tenant):
            doc_id = f"{tenant or 'default'}-doc-{d}"
            chunks = [
                Chunk(
                    id=f"{doc_id}#{i}",
                    doc_id=doc_id,
                    text=" ".join(rng.choice(WORDS, size=12)),
                    position=i,
                    source=f"/data/{doc_id}.txt",
                    metadata={"year": int(2000 + d % 20)},
                )
                for i in range(chunks_per_doc)
            ]
            vectors = rng.normal(size=(len(chunks), DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            state = DocumentState(
                doc_id=doc_id, source=f"/data/{doc_id}.txt", doc_hash=f"h{d}", chunk_ids=tuple(c.id for c in chunks)
            )
            items.append((state, chunks, vectors))
            total += len(chunks)
        index.put_documents(items, tenant=tenant)
    index.record_fingerprint(Fingerprint.of(FakeEmbedder(DIM)))
    return total


def results(index: Index, queries: np.ndarray, *, bm25_scores: bool = True) -> list[list[Any]]:
    """Per tenant: vector hits by id in order; BM25 scores where asked (ids tie, so their order is arbitrary).

    BM25 scores are compared only between two embedded stores: the test server's BM25 differs
    from Weaviate's in the third digit, and so from the embedded store's.
    """
    out: list[list[Any]] = []
    for tenant in TENANTS:
        for q in queries:
            request = SearchRequest(query_vector=q, mode=SearchMode.VECTOR, k=5, tenant=tenant)
            out.append([h.chunk_id for h in index.search(request)])
        hits = index.search(SearchRequest(query_text="w7 w42", mode=SearchMode.BM25, k=5, tenant=tenant))
        assert hits
        if bm25_scores:
            out.append([round(h.score, 4) for h in hits])
    return out


def test_migrate_round_trip_keeps_every_tenant_chunk_vector_and_search_result(
    weaviate_server: Any, tmp_path: Path
) -> None:
    queries = np.random.default_rng(9).normal(size=(4, DIM)).astype(np.float32)
    with EmbeddedIndex(tmp_path / "src") as source:
        total = fill(source)
        assert total == 3000
        expected = results(source, queries)
        with make_index(weaviate_server, "Migrated") as target:
            report = migrate_index(source, target, batch_chunks=700)
            assert (report.tenants, report.documents, report.copied_chunks) == (3, 300, 3000)
            assert report.errors == [] and report.chunks_per_second > 0
            assert check_index(target).ok
            assert target.fingerprint() == source.fingerprint()
            assert sorted(target.tenants()) == ["acme", "globex"]
            assert results(target, queries, bm25_scores=False) == results(source, queries, bm25_scores=False)
            with EmbeddedIndex(tmp_path / "back") as back:
                migrate_index(target, back)
                assert results(back, queries) == expected
                assert back.stats() == source.stats()
            again = migrate_index(source, target)
            assert (again.copied_documents, again.skipped_documents) == (0, 300)


def test_migrate_survives_a_weaviate_that_refuses_writes_and_resumes(weaviate_server: Any, tmp_path: Path) -> None:
    with EmbeddedIndex(tmp_path / "src") as source:
        fill(source, docs_per_tenant=20, chunks_per_doc=5)
        refused = "acme-doc-7#2"
        weaviate_server.fail_uuids[layout.chunk_uuid(refused)] = "no space left on device"
        with make_index(weaviate_server, "Resumed") as target:
            first = migrate_index(source, target)
            assert len(first.errors) == 1 and "acme-doc-7" in first.errors[0]
            assert "no space left on device" in first.errors[0]
            assert "acme-doc-7" not in target.documents(tenant="acme")
            assert first.copied_documents == 59
            weaviate_server.fail_uuids.clear()
            weaviate_server.fail_next("BatchObjects", times=1000)  # a Weaviate that stops answering
            with pytest.raises(Exception, match=r"(?i)unavailable|write"):
                migrate_index(source, target)
            weaviate_server.clear_faults()
            second = migrate_index(source, target)
            assert second.errors == [] and second.copied_documents == 1 and second.skipped_documents == 59
            assert check_index(target).ok
        assert source.stats().chunks == 300  # nothing lost on the source


def test_cli_migrate_both_ways_prints_flags_and_refuses_a_non_store(weaviate_server: Any, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from ragtune.cli.main import app

    with EmbeddedIndex(tmp_path / "src") as source:
        fill(source, docs_per_tenant=10, chunks_per_doc=4)
        stats = source.stats()
    server = ["--weaviate-url", weaviate_server.url, "--weaviate-grpc-port", str(weaviate_server.grpc_port)]

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(app, ["migrate", *args, *server, "--json"], terminal_width=300)
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {"stderr": result.stderr}

    code, out = run("--to", "weaviate", "--store", str(tmp_path / "src"), "--collection", "CliCopy")
    assert code == 0, out
    assert out["ok"] and out["copied_chunks"] == 120 and out["verified"]["ok"] and out["tenants"] == 3
    assert "--backend weaviate" in out["flags"] and "--collection CliCopy" in out["flags"]
    code, out = run("--to", "embedded", "--store", str(tmp_path / "back"), "--collection", "CliCopy")
    assert code == 0, out
    assert "--backend embedded" in out["flags"]
    with EmbeddedIndex(tmp_path / "back") as back:
        assert back.stats() == stats
    (tmp_path / "plain").mkdir()
    code, out = run("--to", "weaviate", "--store", str(tmp_path / "plain"), "--collection", "Nothing")
    assert code == 2 and "not a ragtune store" in " ".join(out["error"]["message"].split())


def test_two_concurrent_ingests_wait_for_each_other(weaviate_server: Any, tmp_path: Path, corpus: Path) -> None:
    """Two writers of one collection: the second waits, so it finds everything written by the first."""
    import threading

    for i in range(30):
        (corpus / f"extra-{i}.md").write_text(f"# Extra {i}\n\n" + f"Page {i} talks about subject {i}. " * 50)
    settings = weaviate_settings(weaviate_server, tmp_path / "store")
    reports: list[Any] = []
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            with Workspace(settings, embedder=FakeEmbedder(DIM)) as ws:
                reports.append(sync_paths(ws, [corpus]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted((r.added, r.unchanged) for r in reports) == [(0, 35), (35, 0)]
    with Workspace(settings, embedder=FakeEmbedder(DIM)) as ws:
        assert check_index(ws.index).ok and ws.index.stats().documents == 35


_KILLED_INGEST = """
import os, signal, sys
from pathlib import Path
from ragtune.config import Settings
from ragtune.index.embedded.store import SqliteStore
from ragtune.index.weaviate import WeaviateIndex
from ragtune.ingest import sync_paths
from ragtune.testing.embeddings import FakeEmbedder
from ragtune.workspace import Workspace

at, settings_json, corpus = int(sys.argv[1]), sys.argv[2], sys.argv[3]
settings = Settings.model_validate_json(settings_json)
points = [(WeaviateIndex, "_insert"), (WeaviateIndex, "_delete_where")]
if settings.backend.value == "embedded":
    points = [(SqliteStore, "put_document"), (SqliteStore, "_delete_rows"), (SqliteStore, "term_ids")]
calls = [0]
for owner, name in points:
    original = getattr(owner, name)
    def wrapper(*args, _original=original, **kwargs):
        calls[0] += 1
        if calls[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return _original(*args, **kwargs)
    setattr(owner, name, wrapper)
with Workspace(settings, embedder=FakeEmbedder(16)) as ws:
    sync_paths(ws, [corpus])
"""


@pytest.mark.parametrize("backend", ["weaviate", "embedded"])
def test_a_process_killed_mid_update_leaves_documents_whole(
    backend: str, weaviate_server: Any, tmp_path: Path, corpus: Path
) -> None:
    """SIGKILL (no cleanup, no rollback code) at several write calls of a real ingest process."""
    import os
    import signal
    import subprocess
    import sys

    store = tmp_path / "store"
    settings = weaviate_settings(weaviate_server, store) if backend == "weaviate" else Settings(store=store)
    old_text = {p: p.read_text() for p in sorted(corpus.iterdir())}
    new_text = {p: t.replace("the ", "THE ") + "\n\nA new closing paragraph.\n" for p, t in old_text.items()}
    for path, text in new_text.items():
        path.write_text(text)
    with Workspace(settings, embedder=FakeEmbedder(DIM)) as ws:
        sync_paths(ws, [corpus])
        after = ws.index.documents()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for at in (1, 4, 9):
        for path, text in old_text.items():
            path.write_text(text)
        with Workspace(settings, embedder=FakeEmbedder(DIM)) as ws:
            sync_paths(ws, [corpus])
            before = ws.index.documents()
        for path, text in new_text.items():
            path.write_text(text)
        proc = subprocess.run(
            [sys.executable, "-c", _KILLED_INGEST, str(at), settings.model_dump_json(), str(corpus)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        with Workspace(settings, embedder=FakeEmbedder(DIM)) as ws:
            _whole(ws.index, before, after)
            sync_paths(ws, [corpus])
            assert ws.index.documents() == after
            assert check_index(ws.index).ok
