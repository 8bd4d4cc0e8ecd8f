"""The ingest/search/status/eval CLI contract: flags, JSON fields and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.testing.imports import heavy_imports_after

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_ingest_search_status_json(tmp_path: Path, sample_corpus: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    store = str(tmp_path / "store")
    code, out, _ = run("ingest", str(sample_corpus), "--store", store, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["added"] == 5 and report["errors"] == []
    for key in ("updated", "unchanged", "deleted", "chunks_added", "chunks_deleted"):
        assert key in report

    code, out, _ = run("status", "--store", store, "--json")
    status = json.loads(out)
    assert (status["documents"], status["chunks"]) == (5, report["chunks_added"])

    code, out, _ = run("ingest", str(sample_corpus), "--store", store, "--json")
    again = json.loads(out)
    assert (again["added"], again["unchanged"]) == (0, 5)
    code, out, _ = run("status", "--store", store, "--json")
    assert json.loads(out)["documents"] == 5 and json.loads(out)["chunks"] == status["chunks"]

    code, out, _ = run("search", "refund within 30 days", "--store", store, "--k", "3", "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 3
    assert set(hits[0]) >= {"source", "doc_id", "chunk_id", "text", "score", "distance"}
    assert hits[0]["source"].endswith("pricing.md")
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]

    code, out, _ = run("search", "429", "--store", store, "--mode", "bm25", "--k", "1", "--json")
    assert json.loads(out)[0]["source"].endswith("api.md")
    assert json.loads(out)[0]["distance"] is None

    code, out, _ = run(
        "search", "encryption", "--store", store, "--filter", f"source={sample_corpus.resolve() / 'api.md'}", "--json"
    )
    assert {h["source"] for h in json.loads(out)} == {str(sample_corpus.resolve() / "api.md")}

    code, out, _ = run("search", "refund", "--store", store, "--min-score", "2.0", "--json")
    assert json.loads(out) == []


def _bad_folder(root: Path) -> Path:
    from reportlab.pdfgen import canvas

    folder = root / "mixed"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\n\nA perfectly good markdown file about sailing boats.")
    (folder / "notes.txt").write_text("Plain notes about the harbour schedule.")
    pdf = folder / "report.pdf"
    c = canvas.Canvas(str(pdf))
    c.drawString(72, 720, "Quarterly report about lighthouse maintenance.")
    c.showPage()
    c.save()
    (folder / "truncated.pdf").write_bytes(pdf.read_bytes()[:300])
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (folder / "empty.txt").write_text("")
    (folder / "data.xyz").write_text("unknown format")
    (folder / "broken.jsonl").write_text('{"text": "first record about anchors"}\n{broken\n')
    outside = root / "secret.txt"
    outside.write_text("outside the folder")
    os.symlink(outside, folder / "link.txt")
    (folder / "big.txt").write_text(("All work and no play makes a big file. " * 27 + "\n") * 20_000)
    return folder


@pytest.mark.slow
def test_bad_input_folder_indexes_the_good_and_lists_the_bad(tmp_path: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    folder = _bad_folder(tmp_path)
    assert (folder / "big.txt").stat().st_size > 20_000_000
    code, out, _ = run("ingest", str(folder), "--store", str(tmp_path / "store"), "--json")
    assert code == 0
    report = json.loads(out)
    failed = {Path(e["path"]).name: e["reason"] for e in report["errors"]}
    assert {"truncated.pdf", "binary.txt", "empty.txt", "data.xyz", "broken.jsonl", "link.txt"} <= set(failed)
    assert "binary" in failed["binary.txt"].lower()
    indexed = json.loads(run("search", "sailing", "--store", str(tmp_path / "store"), "--k", "50", "--json")[1])
    sources = {Path(h["source"]).name for h in indexed}
    assert {"good.md", "notes.txt", "report.pdf", "broken.jsonl", "big.txt"} <= sources
    assert "binary.txt" not in sources


def test_nothing_ingested_exits_3(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.txt").write_text("")
    (folder / "x.bin").write_bytes(b"\x00\x01")
    code, out, _ = run("ingest", str(folder), "--store", str(tmp_path / "store"), "--json")
    assert code == 3
    assert len(json.loads(out)["errors"]) == 2


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("search", "x", "--store", str(tmp_path), "--mode", "fuzzy")[0] == 2
    assert run("search", "x", "--store", str(tmp_path), "--filter", "???")[0] == 2


def test_scifact_records_searchable_by_their_ids_and_eval(tmp_path: Path, shared_data: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus.jsonl"
    with (shared_data / "scifact" / "corpus.jsonl").open() as src:
        lines = [next(src) for _ in range(150)]
    corpus.write_text("".join(lines))
    ids = [json.loads(line)["_id"] for line in lines]
    store = str(tmp_path / "store")
    code, out, _ = run(
        "ingest", str(corpus), "--text-field", "title", "--text-field", "text", "--id-field", "_id",
        "--store", store, "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["added"] == 150
    first = json.loads(lines[0])
    hits = json.loads(run("search", first["title"], "--store", store, "--k", "1", "--json")[1])
    assert hits[0]["doc_id"] == ids[0]

    queries = tmp_path / "queries.jsonl"
    qrels = tmp_path / "qrels.tsv"
    queries.write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": json.loads(lines[i])["title"]}) + "\n" for i in range(20))
    )
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\t{ids[i]}\t1\n" for i in range(20)))
    code, out, _ = run(
        "eval", "retrieval", "--queries", str(queries), "--qrels", str(qrels), "--store", store, "--json"
    )
    metrics = json.loads(out)
    assert code == 0 and metrics["n"] == 20
    assert metrics["ndcg_at_10"] > 0.9 and metrics["recall_at_100"] == 1.0
    assert set(metrics) >= {"ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10", "n"}


def test_json_goes_to_stdout_alone(tmp_path: Path, sample_corpus: Path) -> None:
    """A real process: stdout must be exactly one JSON document, progress on stderr."""
    env = {**os.environ, "RAGTUNE_STORE": str(tmp_path / "store")}
    small = tmp_path / "one"
    small.mkdir()
    shutil.copy(sample_corpus / "api.md", small)
    proc = subprocess.run(
        [sys.executable, "-m", "ragtune", "ingest", str(small), "--json"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"] == 1


def test_commands_without_a_model_need_no_torch(tmp_path: Path, sample_corpus: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    """status, keyword and hybrid search, models list and --help read the store's record, never load torch."""
    store = str(tmp_path / "store")
    assert run("ingest", str(sample_corpus), "--store", store, "--json")[0] == 0
    for args in (
        ("--help",),
        ("status", "--store", store, "--json"),
        ("search", "429", "--mode", "bm25", "--store", store, "--json"),
        ("search", "refund within 30 days", "--store", store, "--json"),
        ("models", "list", "--store", store, "--json"),
        ("route", "Can I get a refund on an annual Team plan?", "--store", store, "--json"),
        ("ask", "Can I get a refund on an annual Team plan?", "--store", store, "--json"),  # rag + extract
    ):
        assert heavy_imports_after(*args, timeout=300) == ([], 0), args


def test_quick_commands_import_only_what_they_use(tmp_path: Path, sample_corpus: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    """Start-up cost of the commands a user waits on (README, "Commands a user waits on").

    --help declares every command's options without numpy, pydantic, rich or asyncio; status,
    keyword search and models list with --json print no rich text and run nothing async.
    """
    assert heavy_imports_after("--help", roots=("numpy", "pydantic", "rich", "asyncio")) == ([], 0)
    store = str(tmp_path / "store")
    assert run("ingest", str(sample_corpus), "--store", store, "--json")[0] == 0
    for args in (
        ("status", "--store", store, "--json"),
        ("search", "429", "--mode", "bm25", "--store", store, "--json"),
        ("models", "list", "--store", store, "--json"),
    ):
        assert heavy_imports_after(*args, roots=("rich", "asyncio"), timeout=300) == ([], 0), args


def test_store_record_gives_dimension_and_refuses_another_model(tmp_path: Path, sample_corpus: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    from ragtune.config import Settings
    from ragtune.errors import ConfigError
    from ragtune.workspace import Workspace

    store = tmp_path / "store"
    assert Workspace(Settings(store=store)).recorded_embedding() is None
    assert run("ingest", str(sample_corpus), "--store", str(store), "--json")[0] == 0
    with Workspace(Settings(store=store)) as ws:
        recorded = ws.recorded_embedding()
        assert recorded is not None and (recorded.model_id, recorded.dim) == (minilm.model_id, 384)
        assert ws.index.stats().documents == 5
    with (
        Workspace(Settings(store=store, embedding="openai:text-embedding-3-small")) as ws,
        pytest.raises(ConfigError, match="all-MiniLM-L6-v2"),
    ):
        ws.index  # noqa: B018
    (store / "store.json").write_text("{not json", encoding="utf-8")
    with Workspace(Settings(store=store)) as ws, pytest.raises(ConfigError, match=r"store\.json"):
        ws.index  # noqa: B018
