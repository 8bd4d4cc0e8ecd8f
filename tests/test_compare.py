"""``ragtune compare``: the orchestration with stand-in answerers, and a real end-to-end run (slow)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ragtune.chains.answer import Answer, Citation, Usage
from ragtune.cli.main import app
from ragtune.config import Settings
from ragtune.evaluation.answer_metrics import content_tokens
from ragtune.evaluation.compare import AnswerFn, TrainResult, compare
from ragtune.evaluation.eval_file import load_eval
from ragtune.evaluation.report import write_report
from ragtune.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "compare"


def _best_line(question: str, texts: list[str]) -> str:
    words = set(content_tokens(question))
    lines = [line for text in texts for line in text.splitlines() if line and not line.startswith("#")]
    return max(lines, key=lambda line: len(words & set(content_tokens(line))), default="I do not know.")


class Stand:
    """Answerers that behave like the approaches do, without a chat model.

    ``rag``/``hybrid`` answer with the line of the best hit that shares most words with the question,
    and cite it; ``finetuned`` answers the same way from the documents its last "training" saw, uncited.
    """

    def __init__(self) -> None:
        self.trained: dict[str, list[str]] = {}
        self.train_calls: list[tuple[list[str], set[str]]] = []

    def trainer(
        self, workspace: Workspace, paths: Sequence[str | Path], exclude: set[str], progress: Any
    ) -> TrainResult:
        self.train_calls.append(([str(p) for p in paths], set(exclude)))
        name = f"stand-{len(self.train_calls)}"
        roots = [Path(p).resolve() for p in paths]
        facts = []
        for state in workspace.index.documents().values():
            if any(Path(state.source).is_relative_to(r) for r in roots):
                facts.extend(c.text for c in workspace.index.get_chunks(list(state.chunk_ids)))
        self.trained[name] = facts
        return TrainResult(model=name, seconds=12.5, examples=len(facts), training_tokens=1000)

    def answerers(self, workspace: Workspace, finetuned: str | None) -> Mapping[str, AnswerFn]:
        def retrieve(route: str) -> AnswerFn:
            def answer(question: str) -> Answer:
                hit = workspace.searcher().search(question, k=1)[0]
                sentence = _best_line(question, [hit.text])
                citation = Citation(number=1, source=hit.source, chunk_id=hit.chunk_id, doc_id=hit.doc_id)
                usage = Usage(input_tokens=400, output_tokens=20)
                return Answer(text=f"{sentence} [1]", route=route, citations=[citation], usage=usage, model="stand")

            return answer

        def tuned(question: str) -> Answer:
            best = _best_line(question, self.trained.get(finetuned or "", []))
            usage = Usage(input_tokens=30, output_tokens=20)
            return Answer(text=best, route="finetuned", usage=usage, model=f"stand:{finetuned}")

        return {"rag": retrieve("rag"), "finetuned": tuned, "hybrid": retrieve("hybrid")}


def test_compare_phases_and_numbers(tmp_path: Path) -> None:
    items = load_eval(EXAMPLE / "eval.jsonl")
    stand = Stand()
    events: list[str] = []
    with Workspace(Settings.load({"store": str(tmp_path / "store")})) as ws:
        results = compare(
            ws,
            [EXAMPLE / "corpus"],
            items,
            new_facts=[EXAMPLE / "new_facts"],
            answerers=stand.answerers,
            trainer=stand.trainer,
            progress=lambda e: events.append(e.phase),
        )

    approaches = results.approaches
    assert list(approaches) == ["rag", "finetuned", "hybrid"]
    setup = results.setup
    assert setup.questions == 12 and setup.update_questions == 3
    assert setup.documents == 12 and setup.chunks >= 12 and setup.approaches == ["rag", "finetuned", "hybrid"]
    assert setup.finetune is not None and setup.finetune["trained"] is True and setup.finetune["model"] == "stand-1"
    assert setup.update is not None and set(setup.update) == {"rag", "finetuned", "hybrid"}
    # trained on the corpus, then retrained on corpus + new facts; never on evaluation questions
    assert [calls[0] for calls in stand.train_calls] == [
        [str(EXAMPLE / "corpus")],
        [str(EXAMPLE / "corpus"), str(EXAMPLE / "new_facts")],
    ]
    assert stand.train_calls[0][1] == {i.question for i in items}

    rag = approaches["rag"]
    assert rag.quality.n == 12 and rag.retrieval is not None and rag.retrieval.n == 12
    assert rag.retrieval.hit_at_k == 1.0
    assert rag.quality.citation_precision == 1.0  # it cites the top hit, which is the relevant file
    assert rag.quality.faithfulness == 1.0  # its sentence is copied from the cited chunk
    assert rag.cost.input_tokens_per_query == 400
    # gpt-4o-mini: 400 x 0.15 + 20 x 0.60 per 1M tokens -> $0.000072 per query -> $0.072 per 1,000
    assert rag.cost.projected_per_1k_queries_usd == pytest.approx(0.072)
    assert rag.cost.per_1k_queries_usd == 0.0
    ft = approaches["finetuned"]
    assert ft.retrieval is None and ft.quality.citation_precision == 0.0
    # ft:gpt-4o-mini: 30 x 0.30 + 20 x 1.20 per 1M -> $0.033 per 1,000; training 1000 tokens x $3 / 1M
    assert ft.cost.projected_per_1k_queries_usd == pytest.approx(0.033)
    assert ft.cost.training_usd == pytest.approx(0.003)

    update = {name: a.update for name, a in approaches.items()}
    assert update["rag"].method == "re-ingest" and update["finetuned"].method == "retrain"
    assert update["rag"].answered_before == 0 and update["rag"].answered_after >= 2
    assert update["rag"].details == {"documents_added": 3, "chunks_added": 3}
    assert update["finetuned"].seconds == 12.5 and update["finetuned"].answered_after >= 1
    # every rag answer cites the relevant file's passage, which holds the reference answer or not
    first = rag.questions[0]
    assert [c.number for c in first.citations] == [1] and first.citations[0].relevant is True
    assert first.claims == [] and first.supported_share is None  # the stand-in verifies nothing
    assert rag.quality.intervals["token_f1"].n == 12
    low, high = rag.quality.intervals["correct"].ci_low, rag.quality.intervals["correct"].ci_high
    assert low is not None and high is not None and low <= rag.quality.correct <= high
    assert results.recommendation is not None
    differences = results.recommendation.differences
    pick = results.recommendation.overall
    others = [n for n in approaches if n != pick]
    assert {(d.other, d.metric) for d in differences} == {(o, m) for o in others for m in ("token_f1", "correct")}
    assert all(d.approach == pick and d.difference.n == 12 for d in differences)
    assert "noise" in results.recommendation.summary
    assert {"ingest", "answer", "update: before", "update: after re-ingest", "update: after retrain"} <= set(events)

    paths = write_report(results, tmp_path / "out")
    markdown = paths["report.md"].read_text(encoding="utf-8")
    assert "## Answers, claims and citations" in markdown and "### finetuned" in markdown
    assert f"**{first.question}**" in markdown and "[1] " in markdown and "(relevant)" in markdown
    assert "within the noise" in markdown or "beyond the noise" in markdown
    data = json.loads(paths["results.json"].read_text(encoding="utf-8"))
    assert set(data["setup"]) >= {
        "approaches",
        "corpus",
        "questions",
        "documents",
        "chunks",
        "ingest_seconds",
        "seconds",
    }
    assert data["rag"]["questions"][0]["citations"][0]["relevant"] is True
    assert data["recommendation"]["differences"]


def test_compare_rejects_unknown_approach_and_model(tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "compare",
        str(EXAMPLE / "corpus"),
        "--eval",
        str(EXAMPLE / "eval.jsonl"),
        "--out",
        str(tmp_path / "out"),
        "--store",
        str(tmp_path / "store"),
    ]
    unknown = runner.invoke(app, [*args, "--approaches", "rag,telepathy"])
    assert unknown.exit_code == 2 and "telepathy" in unknown.output
    missing = runner.invoke(app, [*args, "--approaches", "finetuned", "--model", "nope"])
    assert missing.exit_code == 2 and "No model named 'nope'" in missing.output
    bad_eval = tmp_path / "bad.jsonl"
    bad_eval.write_text('{"question": "q"}\n', encoding="utf-8")
    broken = runner.invoke(app, [*args[:3], str(bad_eval), *args[4:]])
    assert broken.exit_code != 0 and "line 1" in broken.output


@pytest.mark.slow
def test_compare_end_to_end_on_the_local_model(tmp_path: Path) -> None:
    """The real thing, shrunk: 3 documents, 3 questions, 1 new fact, one training epoch."""
    corpus = tmp_path / "corpus"
    new = tmp_path / "new"
    corpus.mkdir()
    new.mkdir()
    for name in ("capital.md", "cuisine.md", "sports.md"):
        shutil.copy(EXAMPLE / "corpus" / name, corpus / name)
    shutil.copy(EXAMPLE / "new_facts" / "mayor.md", new / "mayor.md")
    keep = {"capital.md", "cuisine.md", "sports.md", "mayor.md"}
    lines = [json.loads(line) for line in (EXAMPLE / "eval.jsonl").read_text(encoding="utf-8").splitlines()]
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text("\n".join(json.dumps(r) for r in lines if r["sources"][0] in keep) + "\n", encoding="utf-8")
    out = tmp_path / "out"

    result = CliRunner().invoke(
        app,
        [
            "compare",
            str(corpus),
            "--eval",
            str(eval_file),
            "--new-facts",
            str(new),
            "--out",
            str(out),
            "--store",
            str(tmp_path / "store"),
            "--epochs",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for name in ("rag", "finetuned", "hybrid"):
        section = data[name]
        assert set(section) >= {"quality", "retrieval", "latency", "cost", "update"}
        assert section["quality"]["n"] == 3
        assert section["latency"]["p50_ms"] > 0
        assert section["update"]["new_facts"] == 1
    assert data["rag"]["retrieval"]["hit_at_k"] == 1.0
    assert data["rag"]["update"]["method"] == "re-ingest" and data["finetuned"]["update"]["method"] == "retrain"
    assert data["recommendation"]["summary"]
    for name in ("report.md", "report.html", "quality.png", "latency.png", "cost.png", "update.png"):
        assert (out / name).is_file(), name


# -- behaviour requirements ---------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "source": {"type": "string"}},
    "required": ["answer", "source"],
    "additionalProperties": False,
}


class FormatStand(Stand):
    """rag answers right but in plain text; finetuned answers JSON from memory; hybrid answers JSON from the passage."""

    def answerers(self, workspace: Workspace, finetuned: str | None) -> Mapping[str, AnswerFn]:
        plain = super().answerers(workspace, finetuned)

        def as_json(route: str) -> AnswerFn:
            def answer(question: str, expect: Any = None) -> Answer:
                found = plain[route](question)
                if expect is None or route == "rag":
                    return found
                source = found.citations[0].source if found.citations else "unknown.md"
                text = json.dumps({"answer": found.text.split(" [")[0], "source": Path(source).name})
                return found.model_copy(update={"text": text})

            return answer

        return {name: as_json(name) for name in plain}


def test_compare_scores_behaviour_per_arm(tmp_path: Path) -> None:
    from ragtune.evaluation.eval_file import read_eval
    from ragtune.evaluation.expect import parse_expect

    read = read_eval(EXAMPLE / "eval.jsonl", parse_expect({"format": "json", "schema": SCHEMA}))
    stand = FormatStand()
    with Workspace(Settings.load({"store": str(tmp_path / "store")})) as ws:
        results = compare(ws, [EXAMPLE / "corpus"], read.items, answerers=stand.answerers, trainer=stand.trainer)
    approaches = results.approaches
    rag, ft, hybrid = approaches["rag"], approaches["finetuned"], approaches["hybrid"]
    assert rag.behaviour is not None and rag.behaviour.compliance == 0.0 and rag.behaviour.rules == {"format": 0.0}
    assert hybrid.behaviour is not None and hybrid.behaviour.compliance == 1.0 and hybrid.behaviour.n == 12
    assert ft.behaviour is not None and ft.behaviour.compliance == 1.0
    compliance = hybrid.behaviour.intervals["compliance"]
    assert (compliance.value, compliance.ci_low, compliance.ci_high) == (1.0, 1.0, 1.0)
    # knowledge is scored on the JSON answer field, so hybrid's facts count exactly like rag's plain ones
    assert hybrid.quality.correct == rag.quality.correct
    first = hybrid.questions[0]
    assert first.compliant is True and first.knowledge_answer is not None and "{" not in first.knowledge_answer
    assert rag.questions[0].behaviour == {"format": False}
    rec = results.recommendation
    assert rec is not None and rec.behaviour is not None and rec.behaviour.axis == "behaviour"
    assert rec.failures["rag"][:1] == ["behaviour"] and "behaviour" not in rec.failures["hybrid"]
    assert results.setup.expect is not None and results.setup.expect["lines"] == 12
    data = json.loads(write_report(results, tmp_path / "out")["results.json"].read_text(encoding="utf-8"))
    assert set(data["hybrid"]["behaviour"]) >= {"compliance", "rules", "n", "intervals"}
    assert set(data["hybrid"]["behaviour"]["intervals"]["compliance"]) >= {"value", "ci_low", "ci_high"}
    assert "behaviour" in data["recommendation"] and "break_even" in data["recommendation"]


@pytest.mark.slow
def test_compare_cli_with_expect_end_to_end(tmp_path: Path) -> None:
    """The real arms under a JSON requirement, shrunk: 2 documents, 3 questions, one epoch; one bad line skipped."""
    heldout = REPO / "scripts" / "compare_heldout"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("plans.md", "support.md"):
        shutil.copy(heldout / "corpus" / name, corpus / name)
    rows = [json.loads(line) for line in (heldout / "eval.jsonl").read_text(encoding="utf-8").splitlines()]
    kept = [r for r in rows if r["sources"][0] in ("plans.md", "support.md")][:3]
    bad = {"question": "Who founded Quillpost?", "answer": "x", "expect": {"format": "json", "shema": {}}}
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text("\n".join(json.dumps(r) for r in [kept[0], bad, *kept[1:]]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "compare",
            str(corpus),
            "--eval",
            str(eval_file),
            "--expect",
            str(heldout / "expect.json"),
            "--out",
            str(out),
            "--store",
            str(tmp_path / "store"),
            "--epochs",
            "1",
            "--updates-per-month",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "line 2, key 'shema'" in said and "1 line(s)" in said
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["setup"]["questions"] == 3 and data["setup"]["eval_errors"][0]["key"] == "shema"
    assert data["setup"]["updates_per_month"] == 2
    training = data["setup"]["finetune"]
    assert training["trained"] is True and training["examples"] > 0
    assert training["excluded_eval_overlap"] >= 0 and training["details"]["with_context"] > 0
    for name in ("rag", "finetuned", "hybrid"):
        behaviour = data[name]["behaviour"]
        assert behaviour["n"] == 3 and set(behaviour["rules"]) == {"format"}
        ci = behaviour["intervals"]["compliance"]
        assert ci["ci_low"] <= behaviour["compliance"] == ci["value"] <= ci["ci_high"]
        for q in data[name]["questions"]:
            assert q["compliant"] == q["behaviour"]["format"]
    assert data["finetuned"]["cost"]["training_seconds"] > 0 and data["finetuned"]["cost"]["training_usd"] > 0
    recommendation = data["recommendation"]
    assert recommendation["overall"] in ("rag", "finetuned", "hybrid")
    assert recommendation["behaviour"]["axis"] == "behaviour"
    assert recommendation["break_even"]["updates_per_month"] == 2
    assert set(recommendation["failures"]) == {"rag", "finetuned", "hybrid"}
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "Knowledge: correct" in markdown and "Behaviour: meets every requirement" in markdown
    assert "![Knowledge vs behaviour](axes.png)" in markdown and (out / "axes.png").is_file()
    assert "Behaviour: meets every requirement" in (out / "report.html").read_text(encoding="utf-8")
