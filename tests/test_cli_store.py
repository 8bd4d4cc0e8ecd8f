"""Read-only commands never create a store: on a missing one they fail (exit 1) and say how to create it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.config import Settings
from ragtune.workspace import Workspace

runner = CliRunner()

READERS = [
    ("status",),
    ("search", "refund"),
    ("search", "refund", "--mode", "bm25"),
    ("route", "Can I get a refund?"),
    ("ask", "Can I get a refund?"),
    ("doctor",),
    ("doctor", "--repair"),
    ("models", "list"),
    ("eval", "retrieval", "--queries", "q.jsonl", "--qrels", "q.tsv"),
]


def _says_how_to_create(message: str, store: Path) -> None:
    flat = " ".join(message.split())
    assert f"Store {store} does not exist" in flat and "ragtune ingest" in flat, flat


@pytest.mark.parametrize("args", READERS, ids=[" ".join(a) for a in READERS])
def test_a_read_of_a_missing_store_fails_and_creates_nothing(args: tuple[str, ...], tmp_path: Path) -> None:
    store = tmp_path / "no" / "such" / "store"
    if args[:2] == ("eval", "retrieval"):  # the files exist: only the store is missing
        (tmp_path / "q.jsonl").write_text('{"_id": "q1", "text": "refund"}\n')
        (tmp_path / "q.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
        args = (*args[:2], "--queries", str(tmp_path / "q.jsonl"), "--qrels", str(tmp_path / "q.tsv"))
    result = runner.invoke(app, [*args, "--store", str(store)])
    assert result.exit_code == 1, (result.stdout, result.stderr)
    _says_how_to_create(result.stderr, store)
    assert result.stdout == ""
    result = runner.invoke(app, [*args, "--store", str(store), "--json"])
    error = json.loads(result.stdout)["error"]
    assert result.exit_code == 1 and error["type"] == "StoreNotFoundError"
    _says_how_to_create(error["message"], store)
    assert not (tmp_path / "no").exists()


def test_an_empty_folder_is_not_turned_into_a_store(tmp_path: Path) -> None:
    for args in (("status",), ("search", "x", "--mode", "bm25"), ("models", "list")):
        result = runner.invoke(app, [*args, "--store", str(tmp_path), "--json"])
        assert result.exit_code == 1 and "holds no ragtune store" in json.loads(result.stdout)["error"]["message"]
    assert list(tmp_path.iterdir()) == []


def test_models_list_works_on_a_store_that_only_has_models(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    added = runner.invoke(
        app, ["models", "add", "gpt", "--provider", "openai", "--model-id", "gpt-4o-mini", "--store", store]
    )
    assert added.exit_code == 0, added.stderr
    listed = runner.invoke(app, ["models", "list", "--store", store, "--json"])
    assert listed.exit_code == 0 and {row["name"] for row in json.loads(listed.stdout)} >= {"gpt"}


def test_an_ingest_of_only_missing_paths_creates_nothing(tmp_path: Path) -> None:
    store = tmp_path / "new"
    missing = [str(tmp_path / "nope"), str(tmp_path / "nor-this.md")]
    result = runner.invoke(app, ["ingest", *missing, "--store", str(store), "--json"])
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert [e["path"] for e in report["errors"]] == missing and report["added"] == 0
    assert "no such file or folder" in report["errors"][0]["reason"]
    assert not store.exists()
    plain = runner.invoke(app, ["ingest", *missing, "--store", str(store)])
    assert plain.exit_code == 3 and "nothing could be ingested" in plain.stderr and not store.exists()


def test_an_ingest_with_one_real_path_still_creates_the_store(tmp_path: Path, sample_corpus: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "new"
    result = runner.invoke(
        app, ["ingest", str(sample_corpus / "api.md"), str(tmp_path / "nope"), "--store", str(store), "--json"]
    )
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["added"] == 1 and len(report["errors"]) == 1
    status = runner.invoke(app, ["status", "--store", str(store), "--json"])
    assert status.exit_code == 0 and json.loads(status.stdout)["documents"] == 1


def test_open_existing_in_python(tmp_path: Path) -> None:
    from ragtune.errors import StoreNotFoundError

    settings = Settings(store=tmp_path / "missing")
    with pytest.raises(StoreNotFoundError, match="ragtune ingest"):
        Workspace.open_existing(settings)
    assert isinstance(StoreNotFoundError("x"), FileNotFoundError)
    assert not Workspace(settings).exists() and not (tmp_path / "missing").exists()
