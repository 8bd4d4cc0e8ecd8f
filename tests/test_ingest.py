"""Incremental sync over the embedded store with real files and real MiniLM embeddings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ragtune.config import Settings
from ragtune.ingest import sync_paths
from ragtune.loaders import LoadOptions
from ragtune.workspace import Workspace


@pytest.fixture
def corpus(tmp_path: Path, sample_corpus: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(sample_corpus, target)
    return target


@pytest.fixture
def workspace(tmp_path: Path, minilm):  # type: ignore[no-untyped-def]
    with Workspace(Settings(store=tmp_path / "store"), embedder=minilm) as ws:
        yield ws


def _snapshot(ws: Workspace) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {d: (s.doc_hash, s.chunk_ids) for d, s in ws.index.documents().items()}


def test_first_ingest_adds_every_document(workspace: Workspace, corpus: Path) -> None:
    report = sync_paths(workspace, [corpus])
    assert report.added == 5
    assert (report.updated, report.unchanged, report.deleted) == (0, 0, 0)
    assert report.errors == []
    stats = workspace.index.stats()
    assert stats.documents == 5
    assert stats.chunks == report.chunks_added >= 5
    assert report.chunks_embedded == report.chunks_added


def test_reingest_unchanged_embeds_nothing_and_keeps_counts(workspace: Workspace, corpus: Path) -> None:
    first = sync_paths(workspace, [corpus])
    before = workspace.index.stats()
    again = sync_paths(workspace, [corpus])
    assert again.unchanged == 5
    assert (again.added, again.updated, again.deleted, again.chunks_added, again.chunks_embedded) == (0, 0, 0, 0, 0)
    assert again.chunks_unchanged == first.chunks_added
    assert workspace.index.stats() == before


def test_changed_and_removed_documents(workspace: Workspace, corpus: Path) -> None:
    sync_paths(workspace, [corpus])
    before = _snapshot(workspace)
    pricing = corpus / "pricing.md"
    pricing.write_text(pricing.read_text() + "\n## Students\n\nStudents get the Team plan free for one year.\n")
    (corpus / "api.md").unlink()
    report = sync_paths(workspace, [corpus])
    assert (report.added, report.updated, report.unchanged, report.deleted) == (0, 1, 3, 1)
    after = _snapshot(workspace)
    api_id = next(d for d in before if d.endswith("api.md"))
    assert api_id not in after
    for doc_id, state in after.items():
        if not doc_id.endswith("pricing.md"):
            assert state == before[doc_id], "an untouched document was rewritten"
    # only chunks whose text changed were embedded
    assert 0 < report.chunks_embedded <= len(after[next(d for d in after if d.endswith("pricing.md"))][1])
    hits = workspace.searcher().search("free plan for students", k=1)
    assert hits[0].source.endswith("pricing.md")
    assert "Students" in hits[0].text


def test_shrunk_document_loses_its_extra_chunks(workspace: Workspace, corpus: Path) -> None:
    long_doc = corpus / "long.txt"
    long_doc.write_text(
        "\n\n".join(f"Paragraph {i} talks about topic number {i} in some detail." * 6 for i in range(20))
    )
    sync_paths(workspace, [corpus])
    old_chunks = workspace.index.documents()[str(long_doc.resolve())].chunk_ids
    assert len(old_chunks) > 2
    long_doc.write_text("Now the file is one short paragraph about a single topic.")
    report = sync_paths(workspace, [corpus])
    new_chunks = workspace.index.documents()[str(long_doc.resolve())].chunk_ids
    assert len(new_chunks) == 1
    assert report.chunks_deleted >= len(old_chunks) - 1
    assert workspace.index.get_chunks(list(old_chunks)) == [] or set(
        c.id for c in workspace.index.get_chunks(list(old_chunks))
    ) <= set(new_chunks)


def test_interrupted_ingest_then_rerun_equals_clean_run(tmp_path: Path, corpus: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    with Workspace(Settings(store=tmp_path / "clean"), embedder=minilm) as clean:
        sync_paths(clean, [corpus])
        expected = _snapshot(clean)
        expected_chunks = clean.index.stats().chunks

    with Workspace(Settings(store=tmp_path / "crashy"), embedder=minilm) as ws:
        index = ws.index
        original = index._replace_document
        calls = {"n": 0}

        def dying(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt("killed half-way")
            return original(*args, **kwargs)

        index._replace_document = dying  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            sync_paths(ws, [corpus])
        index._replace_document = original  # type: ignore[method-assign]
        assert 0 < ws.index.stats().documents < 5
        sync_paths(ws, [corpus])
        assert _snapshot(ws) == expected
        assert ws.index.stats().chunks == expected_chunks


def test_records_use_their_own_ids_and_removed_records_are_deleted(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "faq.jsonl"
    data.write_text(
        '{"_id": "a1", "title": "Refunds", "text": "Refunds take 5 days.", "lang": "en"}\n'
        '{"_id": "b2", "title": "Billing", "text": "Invoices are sent monthly.", "lang": "en"}\n'
        "{not json}\n"
        '{"_id": "c3", "title": "Login", "text": "Reset your password from the login page.", "lang": "de"}\n'
    )
    options = LoadOptions(text_fields=["title", "text"], id_field="_id")
    report = sync_paths(workspace, [data], load_options=options)
    assert report.added == 3
    assert len(report.errors) == 1 and report.errors[0].line == 3
    assert set(workspace.index.documents()) == {"a1", "b2", "c3"}
    hits = workspace.searcher().search("password reset", k=1, filters=None)
    assert hits[0].doc_id == "c3"
    data.write_text('{"_id": "a1", "title": "Refunds", "text": "Refunds take 5 days.", "lang": "en"}\n')
    report = sync_paths(workspace, [data], load_options=options)
    assert (report.unchanged, report.deleted) == (1, 2)
    assert set(workspace.index.documents()) == {"a1"}


def test_tenants_are_synced_separately(workspace: Workspace, corpus: Path) -> None:
    sync_paths(workspace, [corpus / "api.md"], tenant="acme")
    sync_paths(workspace, [corpus / "security.md", corpus / "pricing.md"], tenant="globex")
    assert workspace.index.stats(tenant="acme").documents == 1
    assert workspace.index.stats(tenant="globex").documents == 2
    hits = workspace.searcher().search("rate limit", tenant="globex", k=3)
    assert all(not h.source.endswith("api.md") for h in hits)
