"""``ragtune finetune ...`` and ``ragtune models list``: flags, JSON output, exit codes, the freshness loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, " ".join(result.stderr.split())  # stderr unwrapped


@pytest.fixture
def openai_env(openai_server, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    return openai_server


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_prepare_json_report_and_human_summary(tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "tickets.jsonl",
        [
            {"text": "Charged twice", "label": "billing"},
            {"text": "App crashes", "label": "bug"},
            {"text": "Love it", "label": "praise"},
            "{broken",
        ],
    )
    code, out, _ = run(
        "finetune",
        "prepare",
        str(data),
        "--out",
        str(tmp_path / "p"),
        "--labels",
        "billing,bug",
        "--val-fraction",
        "0",
        "--json",
    )
    report = json.loads(out)
    assert code == 0
    assert (report["read"], report["kept"], report["rejected"]) == (4, 2, 2)
    assert report["rejected_by_code"] == {"invalid_json": 1, "label_not_allowed": 1}
    rejects = [json.loads(line) for line in (tmp_path / "p" / "rejects.jsonl").read_text().splitlines()]
    assert {(r["line"], r["code"]) for r in rejects} == {(3, "label_not_allowed"), (4, "invalid_json")}

    code, out, err = run(
        "finetune", "prepare", str(data), "--out", str(tmp_path / "q"), "--labels", "billing", "--labels", "bug"
    )
    assert code == 0 and "read 4: kept 2" in out and "label_not_allowed: 1" in out and "cost" in out
    assert "read 4" not in err  # the report is the result: stdout


def test_prepare_errors_exit_non_zero(tmp_path: Path) -> None:
    code, _, err = run("finetune", "prepare", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "p"))
    assert code == 1 and "no such file" in err
    code, _, err = run("finetune", "prepare", str(tmp_path), "--out", str(tmp_path / "p"), "--provider", "x")
    assert code == 2 and "--provider" in err


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    rows = [
        {"question": f"Q{i}?", "answer": f"A{i}.", "doc_id": f"d{i % 4}", "doc_hash": f"h{i % 4}"} for i in range(12)
    ]
    code, _, _ = run(
        "finetune",
        "prepare",
        str(write_jsonl(tmp_path / "qa.jsonl", rows)),
        "--out",
        str(tmp_path / "prepared"),
        "--val-fraction",
        "0.25",
        "--json",
    )
    assert code == 0
    return tmp_path / "prepared"


def test_openai_train_status_eval_and_models_list(openai_env, prepared: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, out, _ = run(
        "finetune",
        "train",
        "--backend",
        "openai",
        "--data",
        str(prepared),
        "--name",
        "faq",
        "--suffix",
        "faq",
        "--epochs",
        "2",
        "--poll-interval",
        "0",
        "--store",
        store,
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["status"]["state"] == "succeeded"
    model_id = result["model"]["model_id"]
    assert model_id.startswith("ft:gpt-4o-mini-2024-07-18:ragtune:faq:")
    create = openai_env.requests_to("/v1/fine_tuning/jobs", "POST")[0].body
    assert create["method"]["supervised"]["hyperparameters"] == {"n_epochs": 2} and create["validation_file"]

    code, out, _ = run("finetune", "status", result["status"]["id"], "--store", store, "--json")
    assert code == 0 and json.loads(out)["model_id"] == model_id

    code, out, _ = run("models", "list", "--store", store, "--json")
    models = {m["name"]: m for m in json.loads(out)}
    assert set(models) == {"base", "faq"}
    assert models["faq"]["snapshot"] == {f"d{i}": f"h{i}" for i in range(4)}
    assert models["faq"]["fresh"] is None  # no index in this store: freshness unknown
    code, out, _ = run("models", "list", "--store", store)
    assert code == 0 and "faq" in out and "unknown" in out

    code, out, err = run("finetune", "eval", "faq", "--store", store, "--samples", "0", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["base"]["name"] == "gpt-4o-mini-2024-07-18" and report["tuned"]["name"] == "faq"
    assert report["examples"] == 3
    code, out, _ = run("models", "list", "--store", store, "--json")
    assert "eval_exact_match" in {m["name"]: m for m in json.loads(out)}["faq"]["metrics"]


def test_no_wait_cancel_and_resume_after_a_crash(openai_env, prepared: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, out, _ = run(
        "finetune",
        "train",
        "--backend",
        "openai",
        "--data",
        str(prepared),
        "--name",
        "a",
        "--no-wait",
        "--store",
        store,
        "--json",
    )
    assert code == 0 and json.loads(out)["state"] == "validating_files"
    first = json.loads(out)["id"]
    code, out, _ = run("finetune", "cancel", first, "--store", store, "--json")
    assert code == 0 and json.loads(out)["state"] == "cancelled"

    code, out, _ = run(
        "finetune",
        "train",
        "--backend",
        "openai",
        "--data",
        str(prepared),
        "--name",
        "b",
        "--no-wait",
        "--store",
        store,
        "--json",
    )
    second = json.loads(out)["id"]
    code, out, err = run("finetune", "status", second, "--wait", "--poll-interval", "0", "--store", store)
    assert code == 0 and "registered b" in err and "succeeded" in out  # the job's status is the result

    openai_env.fine_tuning.fail_next_job("Too few examples.", code="invalid_n_examples")
    code, _, err = run(
        "finetune",
        "train",
        "--backend",
        "openai",
        "--data",
        str(prepared),
        "--name",
        "c",
        "--poll-interval",
        "0",
        "--store",
        store,
    )
    assert code == 1 and "Too few examples. (invalid_n_examples)" in err


def test_train_without_an_api_key_is_a_usage_error(prepared: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, _, err = run(
        "finetune", "train", "--backend", "openai", "--data", str(prepared), "--store", str(tmp_path / "s")
    )
    assert code == 2 and "OPENAI_API_KEY" in err
    code, _, err = run("finetune", "train", "--backend", "nope", "--data", str(prepared))
    assert code == 2 and "--backend must be local or openai" in err


def test_generate_freshness_and_diff_loop(openai_env, sample_corpus: Path, tmp_path: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    shutil.copytree(sample_corpus, corpus)
    store = str(tmp_path / "store")
    assert run("ingest", str(corpus), "--store", store, "--json")[0] == 0

    code, out, _ = run("finetune", "generate", "--out", str(tmp_path / "gen.jsonl"), "--store", store, "--json")
    assert code == 0 and json.loads(out)["pairs"] > 0
    pairs = [json.loads(line) for line in (tmp_path / "gen.jsonl").read_text().splitlines()]
    assert all(p["doc_id"] and p["chunk_id"] and p["doc_hash"] for p in pairs)

    assert run("finetune", "prepare", str(tmp_path / "gen.jsonl"), "--out", str(tmp_path / "p"), "--json")[0] == 0
    code, _, err = run(
        "finetune",
        "train",
        "--backend",
        "openai",
        "--data",
        str(tmp_path / "p"),
        "--name",
        "kb",
        "--poll-interval",
        "0",
        "--store",
        store,
    )
    assert code == 0, err

    code, out, _ = run("models", "list", "--store", store, "--json")
    assert {m["name"]: m for m in json.loads(out)}["kb"]["fresh"] is True

    pricing = corpus / "pricing.md"
    pricing.write_text(pricing.read_text() + "\n\nThe Enterprise plan now costs 999 dollars per month.\n")
    (corpus / "security.md").unlink()
    assert run("ingest", str(corpus), "--store", store, "--json")[0] == 0

    code, out, _ = run("models", "list", "--store", store, "--json")
    kb = {m["name"]: m for m in json.loads(out)}["kb"]
    assert kb["fresh"] is False
    stale = kb["stale_documents"]
    assert sorted(stale.values()) == ["changed", "removed"]
    code, out, _ = run("models", "list", "--store", store)
    assert "STALE" in out

    code, out, _ = run("finetune", "diff", "kb", "--out", str(tmp_path / "diff"), "--store", store, "--json")
    diff = json.loads(out)
    assert code == 0 and diff["drop"] > 0 and diff["add"] > 0
    assert len(diff["changed"]) == 1 and len(diff["removed"]) == 1
    added = [json.loads(line) for line in Path(diff["add_path"]).read_text().splitlines()]
    assert {a["doc_id"] for a in added} == set(diff["changed"])
    code, out, _ = run("finetune", "diff", "kb", "--out", str(tmp_path / "diff2"), "--store", store)
    assert code == 0 and "1 changed, 1 removed" in out


@pytest.mark.slow
def test_local_train_registers_an_adapter(prepared: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    code, out, err = run(
        "finetune",
        "train",
        "--backend",
        "local",
        "--data",
        str(prepared),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--name",
        "tiny",
        "--store",
        str(store),
        "--json",
    )
    assert code == 0, err
    model = json.loads(out)["model"]
    assert model["provider"] == "local" and Path(model["adapter_path"]) == (store / "adapters" / "tiny").resolve()
    code, out, _ = run("finetune", "status", model["adapter_path"], "--json")
    assert code == 0 and json.loads(out)["base_model"] == "smollm2-135m-instruct"
