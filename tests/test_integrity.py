"""Index integrity on the embedded store: fingerprint, doctor (check and repair), write lock.

Real files and a real SQLite store; the hashing ``FakeEmbedder`` where the
model is not the point, real MiniLM where it is (canary check).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.index.embedded import EmbeddedIndex
from ragtune.index.fingerprint import CANARY_TEXTS, Fingerprint
from ragtune.ingest import sync_paths
from ragtune.ingest.doctor import check_index, repair
from ragtune.ingest.lock import StoreLockTimeout, file_lock, lock_path
from ragtune.schema import SearchMode
from ragtune.testing.embeddings import FakeEmbedder
from ragtune.workspace import Workspace

DIM = 16


class ShiftedEmbedder(FakeEmbedder):
    """Same name, other vectors: a model swapped under an unchanged model id."""

    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        rows = super()._embed(texts, is_query=is_query)
        return np.roll(rows, 1, axis=1)


@pytest.fixture
def corpus(tmp_path: Path, sample_corpus: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(sample_corpus, target)
    return target


def open_ws(store: Path, embedder: Any | None = None) -> Workspace:
    return Workspace(Settings(store=store), embedder=embedder or FakeEmbedder(DIM))


@pytest.fixture
def store(tmp_path: Path, corpus: Path) -> Path:
    path = tmp_path / "store"
    with open_ws(path) as ws:
        report = sync_paths(ws, [corpus])
        assert report.added == 5 and report.errors == []
    return path


# -- fingerprint ------------------------------------------------------------------------------
def test_first_embedding_records_the_fingerprint_in_the_index(store: Path) -> None:
    with EmbeddedIndex(store) as index:
        fingerprint = index.fingerprint()
    assert fingerprint is not None
    assert (fingerprint.model_id, fingerprint.dim, fingerprint.canaries) == (f"ragtune-fake-{DIM}", DIM, CANARY_TEXTS)
    expected = FakeEmbedder(DIM).embed_documents(list(CANARY_TEXTS))
    np.testing.assert_allclose(np.asarray(fingerprint.vectors), expected, atol=1e-6)


def test_record_fingerprint_keeps_the_first_one(tmp_path: Path) -> None:
    first = Fingerprint.of(FakeEmbedder(DIM, model_id="a"))
    second = Fingerprint.of(FakeEmbedder(DIM, model_id="b"))
    with EmbeddedIndex(tmp_path / "s") as one, EmbeddedIndex(tmp_path / "s") as two:
        assert one.record_fingerprint(first) == first
        assert two.record_fingerprint(second) == first
        assert two.fingerprint() == first


def test_other_model_id_is_refused_before_any_read_or_write(store: Path) -> None:
    (store / "store.json").unlink()  # the fingerprint alone must catch it
    with open_ws(store, FakeEmbedder(DIM, model_id="other-model")) as ws, pytest.raises(ConfigError) as err:
        _ = ws.index
    assert f"ragtune-fake-{DIM}" in str(err.value) and "other-model" in str(err.value)


def test_other_dimension_is_refused(store: Path) -> None:
    (store / "store.json").unlink()
    with open_ws(store, FakeEmbedder(DIM * 2, model_id=f"ragtune-fake-{DIM}")) as ws, pytest.raises(ConfigError):
        _ = ws.index


def test_changed_model_under_the_same_name_is_refused_on_first_embedding(store: Path, corpus: Path) -> None:
    with open_ws(store, ShiftedEmbedder(DIM)) as ws:
        # BM25 needs no model: it works and loads nothing
        hits = ws.searcher().search("refund", mode=SearchMode.BM25, k=1)
        assert hits and hits[0].source.endswith("pricing.md")
        with pytest.raises(ConfigError, match="canary"):
            ws.searcher().search("refund", mode=SearchMode.VECTOR, k=1)
        (corpus / "new.md").write_text("# New\n\nA brand new page about onboarding.\n")
        before = ws.index.stats()
        with pytest.raises(ConfigError, match="canary"):
            sync_paths(ws, [corpus])
        assert ws.index.stats() == before


def test_real_minilm_canaries_accept_minilm_and_refuse_an_impostor(tmp_path: Path, corpus: Path, minilm: Any) -> None:
    store = tmp_path / "real"
    with open_ws(store, minilm) as ws:
        sync_paths(ws, [corpus / "pricing.md"])
    with open_ws(store, minilm) as ws:
        assert ws.searcher().search("refund policy", mode=SearchMode.VECTOR, k=1)[0].source.endswith("pricing.md")
    impostor = FakeEmbedder(minilm.dim, model_id=minilm.model_id)
    with open_ws(store, impostor) as ws, pytest.raises(ConfigError, match=minilm.model_id):
        ws.searcher().search("refund policy", mode=SearchMode.VECTOR, k=1)


def test_a_store_built_by_either_document_backend_accepts_the_other(tmp_path: Path, corpus: Path) -> None:
    """OpenVINO, ONNX Runtime and torch document vectors agree to cosine >= 0.9999: one store takes any of them."""
    from ragtune.embeddings.local import LocalEmbedder

    for first, second in (("torch", "openvino"), ("onnxruntime", "torch"), ("openvino", "onnxruntime")):
        store = tmp_path / f"{first}-then-{second}"
        with open_ws(store, LocalEmbedder(document_backend=first)) as ws:  # type: ignore[arg-type]
            sync_paths(ws, [corpus / "pricing.md"])
        with open_ws(store, LocalEmbedder(document_backend=second)) as ws:  # type: ignore[arg-type]
            report = sync_paths(ws, [corpus / "pricing.md", corpus / "security.md"], delete_missing=False)
            assert report.added == 1 and report.errors == []
            hits = ws.searcher().search("refund policy", mode=SearchMode.VECTOR, k=1)
            assert hits[0].source.endswith("pricing.md")


# -- doctor -----------------------------------------------------------------------------------
def _damage(store: Path) -> dict[str, str]:
    """Out-of-band edits, one per problem kind; returns the doc id each one hit."""
    conn = sqlite3.connect(store / "index.sqlite")
    docs = [r[0] for r in conn.execute("SELECT doc_id FROM documents ORDER BY doc_id")]
    hit = dict(zip(["missing", "orphan", "stale", "hash", "dim"], docs, strict=True))

    def first_chunk(doc_id: str) -> tuple[int, str]:
        return conn.execute("SELECT rid, data FROM chunks WHERE doc_id = ? ORDER BY rid LIMIT 1", (doc_id,)).fetchone()

    rid, _ = first_chunk(hit["missing"])
    conn.execute("DELETE FROM chunks WHERE rid = ?", (rid,))
    conn.execute("DELETE FROM vectors WHERE rid = ?", (rid,))
    conn.execute("DELETE FROM documents WHERE doc_id = ?", (hit["orphan"],))
    rid, data = first_chunk(hit["stale"])
    old = json.loads(data)
    old["id"] = old["id"] + "-old-version"
    columns = "tenant_id, doc_id, content_hash, terms, fields"
    row = conn.execute(f"SELECT {columns} FROM chunks WHERE rid = ?", (rid,)).fetchone()
    cur = conn.execute(
        "INSERT INTO chunks (tenant_id, chunk_id, doc_id, content_hash, terms, fields, data) VALUES (?,?,?,?,?,?,?)",
        (row[0], old["id"], row[1], row[2], row[3], row[4], json.dumps(old)),
    )
    conn.execute(
        "INSERT INTO vectors (rid, tenant_id, vec) SELECT ?, tenant_id, vec FROM vectors WHERE rid = ?",
        (cur.lastrowid, rid),
    )
    rid, data = first_chunk(hit["hash"])
    edited = json.loads(data)
    edited["text"] = "Edited by hand: " + edited["text"]
    conn.execute("UPDATE chunks SET data = ? WHERE rid = ?", (json.dumps(edited), rid))
    rid, _ = first_chunk(hit["dim"])
    conn.execute("UPDATE vectors SET vec = ? WHERE rid = ?", (np.ones(3, dtype="<f4").tobytes(), rid))
    conn.commit()
    conn.close()
    return hit


def test_a_clean_store_is_ok(store: Path) -> None:
    with open_ws(store) as ws:
        findings = check_index(ws.index)
    report = findings.report()
    assert report.ok and report.documents == 5 and report.chunks > 5 and report.problems == {}


def test_doctor_finds_every_kind_and_repair_fixes_them(store: Path, corpus: Path) -> None:
    with open_ws(store) as ws:
        chunks_before = ws.index.stats().chunks
    hit = _damage(store)
    with open_ws(store) as ws:
        findings = check_index(ws.index)
        report = findings.report()
        assert not report.ok
        assert report.problems["missing_chunks"] == 1
        assert report.problems["stale_chunks"] == 1
        assert report.problems["hash_mismatch"] == 1
        assert report.problems["wrong_dimension"] == 1
        assert report.problems["orphan_chunks"] >= 1
        kinds = {(e["kind"], e["doc_id"]) for e in report.examples}
        assert ("missing_chunks", hit["missing"]) in kinds and ("orphan_chunks", hit["orphan"]) in kinds
        misses_before = ws.cached_embedder.misses
        repaired, left = repair(ws, findings)
        assert left == []
        # vectors came from the embedding cache: nothing was re-embedded
        assert ws.cached_embedder.misses == misses_before
        after = check_index(ws.index).report()
    assert after.ok, after
    assert repaired["stale_chunks"] == 1 and repaired["missing_chunks"] == 1
    assert repaired["hash_mismatch"] == 1 and repaired["wrong_dimension"] == 1
    # the orphaned document is gone; the next ingest brings it back whole
    with open_ws(store) as ws:
        again = sync_paths(ws, [corpus])
        assert again.added == 1 and again.unchanged == 4
        assert ws.index.stats().chunks == chunks_before
        assert check_index(ws.index).report().ok


def test_doctor_cli_json_exit_codes_and_source_gone(tmp_path: Path, corpus: Path, minilm: Any) -> None:
    store = tmp_path / "real"
    with open_ws(store, minilm) as ws:
        sync_paths(ws, [corpus])
    hit = _damage(store)
    Path(hit["missing"]).unlink()  # its source is gone: that one cannot be repaired

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(app, ["doctor", *args, "--store", str(store), "--json"])
        return result.exit_code, json.loads(result.stdout)

    code, found = run()
    assert code == 4 and found["ok"] is False
    assert set(found) == {"ok", "documents", "chunks", "problems", "examples", "repaired"}
    assert found["problems"]["missing_chunks"] == 1
    code, fixed = run("--repair")
    assert code == 4 and fixed["problems"] == {"missing_chunks": 1}
    assert fixed["repaired"]["hash_mismatch"] == 1
    gone = [e for e in fixed["examples"] if e["kind"] == "source_gone"]
    assert [e["doc_id"] for e in gone] == [hit["missing"]] and "no longer exists" in gone[0]["reason"]


def test_doctor_refuses_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello")
    result = CliRunner().invoke(app, ["doctor", "--store", str(tmp_path / "notes")], terminal_width=300)
    assert result.exit_code == 2 and "not a ragtune store" in " ".join(result.stderr.split())
    assert not (tmp_path / "notes" / "index.sqlite").exists()


def test_doctor_on_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "index.sqlite").write_text("not a database")
    result = CliRunner().invoke(app, ["doctor", "--store", str(bad)], terminal_width=300)
    assert result.exit_code != 0 and "index.sqlite" in " ".join(result.stderr.split())
    assert (bad / "index.sqlite").read_text() == "not a database"


# -- write lock -------------------------------------------------------------------------------
def test_second_writer_waits_then_times_out_with_a_clear_error(store: Path, corpus: Path) -> None:
    with open_ws(store) as ws:
        path = lock_path(ws)
        with file_lock(path, on_wait=None), pytest.raises(StoreLockTimeout, match="lock-timeout"):
            sync_paths(ws, [corpus], lock_timeout=0.2)
        assert sync_paths(ws, [corpus], lock_timeout=0.2).unchanged == 5


def test_a_waiting_writer_says_so_and_runs_after_the_holder(store: Path) -> None:
    messages: list[str] = []
    order: list[str] = []
    with open_ws(store) as ws:
        path = lock_path(ws)
    holder = threading.Event()

    def hold() -> None:
        with file_lock(path, on_wait=None):
            holder.set()
            time.sleep(0.5)
            order.append("first done")

    first = threading.Thread(target=hold)
    first.start()
    holder.wait()
    with open_ws(store) as ws, file_lock(path, on_wait=messages.append):
        order.append("second started")
    first.join()
    assert order == ["first done", "second started"]
    assert messages and "waiting for another writer" in messages[0]


def test_repair_of_records_loaded_with_other_options_touches_nothing_else(tmp_path: Path) -> None:
    """A JSONL ingested with --id-field: repair (default options) cannot find the id, says so, adds nothing."""
    from ragtune.loaders import LoadOptions

    data = tmp_path / "records.jsonl"
    data.write_text(
        "".join(json.dumps({"key": f"rec-{i}", "text": f"Record {i} is about topic {i}."}) + "\n" for i in range(4))
    )
    store = tmp_path / "store"
    with open_ws(store) as ws:
        sync_paths(ws, [data], load_options=LoadOptions(id_field="key"))
        states = ws.index.documents()
    assert sorted(states) == ["rec-0", "rec-1", "rec-2", "rec-3"]
    conn = sqlite3.connect(store / "index.sqlite")
    conn.execute("DELETE FROM chunks WHERE doc_id = 'rec-2'")
    conn.commit()
    conn.close()
    with open_ws(store) as ws:
        findings = check_index(ws.index)
        assert findings.problems == {"missing_chunks": 1}
        _, left = repair(ws, findings)
        assert [e["doc_id"] for e in left] == ["rec-2"] and "no longer yields" in left[0]["reason"]
        assert sorted(ws.index.documents()) == sorted(states)


def test_two_concurrent_ingests_into_one_store_run_one_after_the_other(tmp_path: Path, corpus: Path) -> None:
    for i in range(20):
        (corpus / f"extra-{i}.md").write_text(f"# Extra {i}\n\n" + f"Page {i} is about subject {i}. " * 40)
    store = tmp_path / "together"
    reports: list[Any] = []
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            with open_ws(store) as ws:
                reports.append(sync_paths(ws, [corpus]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted((r.added, r.unchanged) for r in reports) == [(0, 25), (25, 0)]
    with open_ws(store) as ws:
        assert check_index(ws.index).ok and ws.index.stats().documents == 25
