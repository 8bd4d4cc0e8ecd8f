"""``ragtune eval answers``: usage errors, broken question lines, and a real run on the local model (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, " ".join(result.stderr.split())  # rich wraps at the terminal width


def _qa(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory, sample_corpus: Path) -> str:  # type: ignore[no-untyped-def]
    path = str(tmp_path_factory.mktemp("eval-answers") / "store")
    code, _, _ = run("ingest", str(sample_corpus), "--store", path)
    assert code == 0
    return path


def test_usage_errors_exit_2_before_any_model_loads(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    empty = _qa(tmp_path / "empty.jsonl", [""])
    code, out, err = run("eval", "answers", "--qa", str(empty), "--store", store, "--json")
    error = json.loads(out)["error"]  # --json: a failure is one JSON document on stdout
    assert code == 2 and "no question to evaluate" in error["message"] and "empty" in error["message"]
    assert "no question to evaluate" in err
    broken = _qa(tmp_path / "broken.jsonl", ["{nope", '{"question": 7}'])
    code, _, err = run("eval", "answers", "--qa", str(broken), "--store", store)
    assert code == 2 and "line 1" in err and "line 2" in err
    code, _, err = run("eval", "answers", "--qa", str(tmp_path / "missing.jsonl"), "--store", store)
    assert code == 2 and "not found" in err
    good = _qa(tmp_path / "qa.jsonl", ['{"question": "q"}'])
    code, _, err = run("eval", "answers", "--qa", str(good), "--mode", "telepathy", "--store", store)
    assert code == 2 and "rejects" in err and "telepathy" in err
    code, _, err = run("eval", "answers", "--qa", str(good), "--grounding", "sideways", "--store", store)
    assert code == 2 and "sideways" in err
    code, _, err = run("eval", "answers", "--qa", str(good), "--route", "sideways", "--store", store)
    assert code == 2 and "unknown route" in err


@pytest.mark.slow
def test_eval_answers_json_on_the_local_model(tmp_path: Path, store: str) -> None:
    qa = _qa(
        tmp_path / "qa.jsonl",
        [
            json.dumps(
                {
                    "question": "How long can annual Team subscriptions be refunded?",
                    "answers": ["30 days"],
                    "sources": ["pricing.md"],
                }
            ),
            '{"question": "broken", "answers": "not a list"}',
            json.dumps({"question": "How much does the Team plan cost?"}),
        ],
    )
    code, out, err = run(
        "eval", "answers", "--qa", str(qa), "--route", "rag", "--store", store, "--max-new-tokens", "12", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["n"] == 2 and len(data["questions"]) == 2
    assert [e["line"] for e in data["errors"]] == [2] and "line 2" in err  # reported, the rest scored
    assert set(data["metrics"]) == {
        "exact_match",
        "token_f1",
        "contains_answer",
        "supported_share",
        "citation_precision",
        "cited",
        "abstained",
        "unsourced",
        "latency_ms",
        "cost_usd",
    }
    for name, metric in data["metrics"].items():
        assert {"value", "ci_low", "ci_high"} <= set(metric), name
        if metric["value"] is not None:
            assert metric["ci_low"] <= metric["value"] <= metric["ci_high"], name
    first, second = data["questions"]
    assert first["line"] == 1 and first["route"] == "rag" and first["answer"]
    assert first["token_f1"] is not None and 0.0 <= first["token_f1"] <= 1.0
    assert second["line"] == 3 and second["token_f1"] is None and second["exact_match"] is None  # no gold answers
    assert data["metrics"]["token_f1"]["n"] == 1  # only the question with gold answers is judged
    assert data["metrics"]["latency_ms"]["n"] == 2 and data["metrics"]["latency_ms"]["value"] > 0
    assert data["metrics"]["cost_usd"]["value"] == 0.0  # local model
    for q in data["questions"]:
        assert q["cited"] in (0.0, 1.0) and q["abstained"] in (0.0, 1.0)
        assert all(c["source"] and isinstance(c["number"], int) for c in q["citations"])


@pytest.mark.slow
def test_eval_answers_human_output(tmp_path: Path, store: str) -> None:
    qa = _qa(tmp_path / "qa.jsonl", [json.dumps({"question": "How much does the Team plan cost?", "answers": ["$"]})])
    code, out, err = run(
        "eval", "answers", "--qa", str(qa), "--route", "rag", "--store", store, "--max-new-tokens", "6"
    )
    assert code == 0 and "Answer quality on 1 questions" in out and "token F1" in out and "95% CI" in out
    assert "token F1" not in err  # the report is the result: stdout (tab-separated off a terminal)
