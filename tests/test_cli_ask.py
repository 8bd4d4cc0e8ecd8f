"""The ``ragtune ask`` and ``ragtune route`` contract: JSON keys, human output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), terminal_width=300)  # rich wraps long paths at the terminal width
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory, sample_corpus: Path) -> str:  # type: ignore[no-untyped-def]
    path = str(tmp_path_factory.mktemp("ask") / "store")
    code, _, _ = run("ingest", str(sample_corpus), "--store", path)
    assert code == 0
    return path


def register_finetuned(store: str, **fields: object) -> None:
    """A ``finetuned`` entry in the store's registry (the local model; no adapter is loaded by routing)."""
    from ragtune.llm.registry import ModelEntry, ModelRegistry
    from ragtune.workspace import REGISTRY_NAME

    entry = ModelEntry(name="finetuned", provider="local", model_id="smollm2-135m-instruct", base="base", **fields)
    ModelRegistry(Path(store) / REGISTRY_NAME).register(entry)


def test_route_prints_the_decision(tmp_path: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    store = str(tmp_path / "s")
    register_finetuned(store)  # without one, the finetuned route does not exist (see below)
    code, out, _ = run("route", "Rewrite this paragraph in our brand voice", "--store", store, "--json")
    decision = json.loads(out)
    assert code == 0 and decision["route"] == "finetuned"
    assert 0 < decision["confidence"] <= 1 and set(decision["scores"]) == {"rag", "finetuned", "hybrid", "direct"}
    assert "hits" not in decision

    routes = tmp_path / "routes.json"
    routes.write_text(
        json.dumps(
            {
                "routes": {
                    "rag": {"description": "questions about our manuals", "examples": ["what does the manual say"]},
                    "direct": {"description": "small talk", "examples": ["hello there", "how are you"]},
                }
            }
        ),
        encoding="utf-8",
    )
    code, out, err = run("route", "hello, how are you today?", "--routes", str(routes), "--store", store)
    assert code == 0 and "direct" in out and "confidence" in out and "confidence" not in err  # results on stdout


def test_route_eval_reports_accuracy_and_confusion(tmp_path: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    labelled = tmp_path / "labelled.jsonl"
    rows = [
        {"query": "Rewrite this email in our usual tone", "route": "finetuned"},
        {"query": "What does the admin guide say about backups?", "route": "rag"},
        {"query": "Good evening!", "route": "direct"},
        {"query": "Write a friendly customer email explaining the warranty document", "route": "hybrid"},
    ]
    labelled.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    code, out, _ = run("route", "--eval", str(labelled), "--store", str(tmp_path / "s"), "--json")
    report = json.loads(out)
    assert code == 0 and report["n"] == 4 and 0.5 <= report["accuracy"] <= 1.0
    assert sum(sum(row.values()) for row in report["confusion"].values()) == 4
    assert report["confusion"]["finetuned"] == {"finetuned": 1}

    code, out, err = run("route", "--eval", str(labelled), "--store", str(tmp_path / "s"))
    assert code == 0 and "accuracy" in out and "true \\ predicted" in out and "accuracy" not in err
    assert not (tmp_path / "s").exists()  # scoring a routes file reads no store and creates none


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    assert run("route", "--store", store)[0] == 2  # neither QUERY nor --eval
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "x"}\n', encoding="utf-8")
    assert run("route", "q", "--eval", str(bad), "--store", store)[0] == 2  # both
    code, _, err = run("route", "--eval", str(bad), "--store", store)
    assert code == 2 and "line 1" in err
    code, _, err = run("route", "q", "--routes", str(tmp_path / "missing.json"), "--store", store)
    assert code == 2 and "not found" in err
    assert run("ask", "q", "--route", "sideways", "--store", store)[0] == 2
    assert run("ask", "--store", store)[0] == 2


@pytest.mark.slow
def test_ask_json_has_answer_route_citations_and_usage(store: str) -> None:
    code, out, _ = run(
        "ask", "How long can annual Team subscriptions be refunded?", "--route", "rag", "--store", store,
        "--mode", "stuff", "--max-new-tokens", "8", "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert code == 0
    assert {"answer", "route", "citations", "usage", "reason", "confidence", "context"} <= set(data)
    assert data["route"] == "rag" and data["answer"] and data["reason"] == "route chosen by the caller"
    assert data["context"] and all({"source", "chunk_id"} <= set(c) for c in data["context"] + data["citations"])
    assert data["context"][0]["source"].endswith("pricing.md")
    usage = data["usage"]
    assert usage["input_tokens"] > 0 and 0 < usage["output_tokens"] <= 8 and usage["cost_usd"] == 0.0
    assert {"retrieve", "synthesize", "total"} <= set(usage["latency_ms"])


@pytest.mark.slow
def test_ask_human_output_shows_route_reason_sources_and_cost(store: str) -> None:
    code, out, err = run("ask", "How much does the Team plan cost?", "--store", store, "--max-new-tokens", "6")
    assert code == 0 and "route: rag (semantic:" in out and "route:" not in err  # the answer's report: stdout
    assert "pricing.md" in out and "tokens in" in out and "cost $0.000000" in out


def test_an_answer_without_documents_says_so(store: str) -> None:
    """Every answer is either cited or says it is not from the documents (here: the direct route)."""
    code, out, err = run("ask", "Write a haiku about autumn.", "--store", store, "--max-new-tokens", "8")
    assert code == 0 and "route: direct" in out and "route:" not in err
    assert "sources: none. Not from the documents" in out
    code, out, _ = run("ask", "Write a haiku about autumn.", "--store", store, "--max-new-tokens", "8", "--json")
    data = json.loads(out)
    assert code == 0 and data["route"] == "direct" and data["unsourced"] is True and data["citations"] == []
    code, out, _ = run("ask", "How long can annual Team subscriptions be refunded?", "--store", store, "--json")
    data = json.loads(out)
    assert code == 0 and data["route"] == "rag" and data["unsourced"] is False and data["citations"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "expected", "source"),
    [
        ("Can I get a refund on an annual Team plan?", "refunded in full within 30 days", "pricing.md"),
        ("What is the API rate limit on Enterprise?", "600 per minute on Enterprise", "api.md"),
    ],
)
def test_demo_questions_answer_right_with_citations(store: str, question: str, expected: str, source: str) -> None:
    """The README demo with default settings: the local model's wrong drafts never reach the user."""
    code, out, _ = run("ask", question, "--store", store, "--json")
    data = json.loads(out)
    assert code == 0 and expected in data["answer"] and not data["abstained"]
    assert data["grounding"] == "strict" and data["supported_share"] == 1.0
    assert data["mode"] == "extract"  # --mode auto: the packaged 135M model under strict grounding quotes
    assert data["citations"] and data["citations"][0]["source"].endswith(source)
    shown = [c for c in data["claims"] if not c["removed"]]
    assert shown and all(c["verdict"] == "supported" and c["sources"][0].endswith(source) for c in shown)
    assert {"text", "citations", "support", "verdict", "evidence", "corrected", "reason"} <= set(data["claims"][0])


@pytest.mark.slow
def test_ask_human_output_lists_claims_with_file_names(store: str) -> None:
    code, out, err = run(
        "ask", "Can I get a refund on an annual Team plan?", "--store", store, "--route", "rag",
        "--grounding", "annotate", "--max-new-tokens", "24",
    )  # fmt: skip
    assert code == 0 and "claims (grounding: annotate)" in out and "claims" not in err
    assert "unsupported: " in out or "+ supported [1] pricing.md" in out
    code, out, _ = run("ask", "What is the API rate limit on Enterprise?", "--store", store, "--mode", "extract")
    assert code == 0 and "+ quoted [" in out and "api.md: The API allows 120 requests" in out


def test_no_rerank_answers_without_asking_smollm2(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's refund question re-ranks (its best sentences come from two passages); --no-rerank does not."""
    from ragtune.chains.grounding.likelihood import LocalQuestionLikelihood

    asked: list[int] = []
    real_score = LocalQuestionLikelihood.score

    def counted(self, question, passages):  # type: ignore[no-untyped-def]
        asked.append(len(passages))
        return real_score(self, question, passages)  # the real model still scores

    monkeypatch.setattr(LocalQuestionLikelihood, "score", counted)
    question = "Can I get a refund on an annual Team plan?"
    code, out, _ = run("ask", question, "--store", store, "--json", "--no-rerank")
    data = json.loads(out)
    assert code == 0 and "refunded in full within 30 days" in data["answer"]
    assert data["citations"][0]["source"].endswith("pricing.md")
    assert asked == []  # the scorer was never reached
    code, out, _ = run("ask", question, "--store", store, "--json")
    assert code == 0 and json.loads(out)["answer"] == data["answer"]
    assert asked and asked[0] >= 2  # the default asks SmolLM2 about the competing passages


def test_ask_rejects_a_bad_verifier_by_name(store: str) -> None:
    code, _, err = run("ask", "refunds?", "--store", store, "--verifier", "/nonexistent/nli-model", "--route", "rag")
    assert code == 2 and "Cannot load the verifier cross-encoder '/nonexistent/nli-model'" in err


def test_route_without_a_finetuned_model_chooses_among_rag_and_direct(store: str) -> None:
    """No phantom routes: the index answers the refund question, so it goes to rag, not hybrid."""
    decisions = {}
    for question in (
        "Can I get a refund on an annual Team plan?",
        "What is the API rate limit on Enterprise?",
        "Write a haiku about autumn.",
    ):
        code, out, _ = run("route", question, "--store", store, "--json")
        assert code == 0
        decisions[question] = json.loads(out)
    assert [d["route"] for d in decisions.values()] == ["rag", "rag", "direct"], decisions
    for decision in decisions.values():
        assert set(decision["scores"]) == {"rag", "direct"} and "hits" not in decision
    assert decisions["Can I get a refund on an annual Team plan?"]["retrieval_score"] >= 0.5


def test_route_with_a_finetuned_model_can_choose_it(tmp_path: Path, sample_corpus: Path) -> None:
    store = str(tmp_path / "s")
    assert run("ingest", str(sample_corpus), "--store", store)[0] == 0
    register_finetuned(store)
    code, out, _ = run("route", "Rewrite this paragraph in our brand voice", "--store", store, "--json")
    decision = json.loads(out)
    assert code == 0 and decision["route"] == "finetuned"
    assert set(decision["scores"]) == {"rag", "finetuned", "hybrid", "direct"}


def _tenant_store(tmp_path: Path, sample_corpus: Path, *, drift: bool) -> str:
    """Sample corpus in tenant ``acme`` only; ``finetuned`` learned from it (``drift``: every doc changed since)."""
    from ragtune.config import Settings
    from ragtune.workspace import Workspace

    store = str(tmp_path / "s")
    assert run("ingest", str(sample_corpus), "--store", store, "--tenant", "acme")[0] == 0
    with Workspace(Settings(store=store)) as ws:
        states = ws.index.documents(tenant="acme")
        assert states and not ws.index.documents()  # nothing in the default tenant
    snapshot = {doc: ("old-" if drift else "") + state.doc_hash for doc, state in states.items()}
    register_finetuned(store, snapshot=snapshot, extra={"tenant": "acme"})
    return store


@pytest.mark.parametrize("drift", [False, True])
def test_freshness_is_checked_in_the_tenant_the_model_learned_from(
    tmp_path: Path, sample_corpus: Path, drift: bool
) -> None:
    store = _tenant_store(tmp_path, sample_corpus, drift=drift)
    question = "Rewrite this paragraph in our brand voice"
    code, out, _ = run("route", question, "--store", store, "--tenant", "acme", "--json")
    decision = json.loads(out)
    assert code == 0
    if drift:  # its documents changed: the model is not trusted with them (then the retrieval check runs)
        assert decision["route"] != "finetuned" and "+freshness" in decision["strategy"], decision
    else:  # fresh in tenant acme, though the default tenant is empty
        assert decision["route"] == "finetuned" and "freshness" not in decision["strategy"], decision
    code, out, _ = run("models", "list", "--store", store, "--json")
    listed = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and listed["finetuned"]["fresh"] is (not drift)


@pytest.mark.slow
def test_ask_with_the_model_tenant_does_not_see_a_stale_model(tmp_path: Path, sample_corpus: Path) -> None:
    store = _tenant_store(tmp_path, sample_corpus, drift=False)
    code, out, _ = run(
        "ask", "Rewrite this paragraph in our brand voice", "--store", store, "--tenant", "acme",
        "--max-new-tokens", "4", "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["route"] == "finetuned" and "freshness" not in data["strategy"], data
