"""Answer metrics, comparison aggregates, the recommendation and the report, with hand-computed values."""

from __future__ import annotations

import json
import math

import pytest

from ragtune.chains.answer import NOT_FOUND, Answer, Citation, Claim, Usage
from ragtune.errors import InputError
from ragtune.evaluation.answer_eval import METRICS, QuestionScore, score_answer, summarize
from ragtune.evaluation.answer_metrics import (
    citation_correctness,
    contains_answer,
    content_tokens,
    exact_match,
    faithfulness,
    is_correct,
    normalize_answer,
    sentence_support,
    source_matches,
    split_sentences,
    token_f1,
)
from ragtune.evaluation.bootstrap import interval, paired_difference
from ragtune.evaluation.compare import score_retrieval
from ragtune.evaluation.qa_file import QAItem, load_qa
from ragtune.evaluation.recommend import recommend
from ragtune.evaluation.report import write_report
from ragtune.evaluation.results import (
    ApproachResult,
    ComparisonResults,
    CostStats,
    LatencyStats,
    QualityScores,
    QuestionResult,
    RetrievalScores,
    UpdateStats,
    percentile,
    quality_scores,
)
from ragtune.evaluation.verification import CitedPassage, ClaimCheck

# -- SQuAD normalisation, EM and F1 -------------------------------------------------------------


def test_normalize_answer_follows_squad() -> None:
    assert normalize_answer("The  Eiffel-Tower, in PARIS!") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [("The Eiffel Tower!", "eiffel tower", 1.0), ("Eiffel", "Eiffel Tower", 0.0), ("", "", 1.0)],
)
def test_exact_match(prediction: str, reference: str, expected: float) -> None:
    assert exact_match(prediction, reference) == expected


def test_token_f1_hand_computed() -> None:
    # prediction tokens: in, paris, france (3); reference: paris (1); overlap 1
    # precision 1/3, recall 1 -> F1 = 2 * (1/3) / (4/3) = 0.5
    assert token_f1("in Paris, France", "Paris") == pytest.approx(0.5)
    # "the cat sat" -> cat sat; "a cat sat down" -> cat sat down: overlap 2, P = 1, R = 2/3 -> F1 = 0.8
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    # duplicates count as in SQuAD: "a a b" -> [b]... articles removed; use words that are not articles
    # pred: x x y (3), ref: x y y (3); common = min counts: x 1, y 1 -> 2; P = R = 2/3 -> F1 = 2/3
    assert token_f1("x x y", "x y y") == pytest.approx(2 / 3)
    assert token_f1("nothing shared", "other words") == 0.0
    assert token_f1("", "something") == 0.0


def test_best_of_several_references() -> None:
    assert exact_match("330 metres", ["300 m", "330 metres"]) == 1.0
    assert token_f1("330 metres tall", ["300", "330 metres"]) == pytest.approx(0.8)


def test_contains_and_is_correct() -> None:
    assert contains_answer("The tower is 330 metres tall.", "330 metres") == 1.0
    assert contains_answer("It is 1330 metres", "330 metres") == 0.0  # whole words only
    assert is_correct("The tower is 330 metres tall.", "330 metres")
    assert not is_correct("No idea.", "330 metres")


# -- citations -------------------------------------------------------------------------------------


def test_source_matches_by_name_and_suffix() -> None:
    assert source_matches("/data/corpus/solar.md", "solar.md")
    assert source_matches("/data/corpus/solar.md", "corpus/solar.md")
    assert source_matches("/data/corpus/solar.md", "solar")
    assert not source_matches("/data/corpus/solar.md", "lunar.md")
    assert not source_matches("/data/corpus/solar.md", "other/solar.md")


def test_citation_correctness_hand_computed() -> None:
    score = citation_correctness(["/c/a.md", "/c/b.md", "/c/a.md", "/c/z.md"], ["a.md", "b.md", "c.md"])
    assert score is not None
    # distinct cited: a, b, z -> 2 of 3 relevant; relevant a, b, c -> 2 of 3 cited
    assert score.precision == pytest.approx(2 / 3)
    assert score.recall == pytest.approx(2 / 3)
    nothing = citation_correctness([], ["a.md"])
    assert nothing is not None and (nothing.precision, nothing.recall) == (0.0, 0.0)
    assert citation_correctness(["/c/a.md"], []) is None


# -- faithfulness ----------------------------------------------------------------------------------


def test_split_sentences() -> None:
    text = "The tower is 330 m tall [1]. It opened in 1889! Was it popular? e.g. very."
    assert split_sentences(text) == ["The tower is 330 m tall [1].", "It opened in 1889!", "Was it popular? e.g. very."]


def test_sentence_support_drops_citations_and_stop_words() -> None:
    assert content_tokens("It is 330 m tall [1].") == ["330", "m", "tall"]
    # tokens 330, m, tall; context has 330 and tall -> 2/3
    assert sentence_support("It is 330 m tall [1].", "The tower is 330 feet tall") == pytest.approx(2 / 3)
    assert sentence_support("Yes, it is.", "anything") is None


def test_faithfulness_hand_computed() -> None:
    context = ["The Eiffel Tower is 330 metres tall.", "It was completed in 1889 for the World's Fair."]
    answer = "The tower is 330 metres tall [1]. It was finished in 1889. Its architect loved pancakes."
    # s1: tower 330 metres tall -> 4/4 supported; s2: finished 1889 -> 1/2 = 0.5 >= 0.5 supported;
    # s3: architect loved pancakes -> 0/3 unsupported  => 2 of 3
    assert faithfulness(answer, context) == pytest.approx(2 / 3)
    assert faithfulness(answer, context, threshold=0.6) == pytest.approx(1 / 3)
    assert faithfulness(answer, []) == 0.0
    assert faithfulness("Yes.", context) is None


# -- retrieval over sources ------------------------------------------------------------------------


def test_score_retrieval_hand_computed() -> None:
    retrieved = ["/c/x.md", "/c/a.md", "/c/a.md", "/c/b.md"]
    hit, rr, ndcg = score_retrieval(retrieved, ["a.md", "b.md"], k=2)
    # distinct ranking: x, a, b; first relevant at rank 2 -> RR 0.5; hit@2 = 1
    # DCG@10 = 1/log2(3) + 1/log2(4); IDCG = 1 + 1/log2(3)
    assert hit == 1.0
    assert rr == pytest.approx(0.5)
    expected = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg == pytest.approx(expected)
    assert score_retrieval(["/c/x.md", "/c/b.md"], ["b.md"], k=1)[0] == 0.0


# -- aggregates ------------------------------------------------------------------------------------


def test_percentile_matches_numpy_linear() -> None:
    values = [100.0, 200.0, 300.0, 400.0, 1000.0]
    assert percentile(values, 50) == 300.0
    # position (5-1)*0.95 = 3.8 -> 400 + 0.8 * 600 = 880
    assert percentile(values, 95) == pytest.approx(880.0)
    assert percentile([], 50) == 0.0


def _q(**kwargs: object) -> QuestionResult:
    base: dict[str, object] = {
        "question": "q",
        "reference": "r",
        "answer": "a",
        "route": "rag",
        "exact_match": 0.0,
        "token_f1": 0.0,
        "correct": False,
    }
    return QuestionResult.model_validate({**base, **kwargs})


def test_quality_scores_average_only_judged_values() -> None:
    scores = quality_scores(
        [
            _q(exact_match=1.0, token_f1=1.0, correct=True, faithfulness=1.0, citation_precision=0.5),
            _q(token_f1=0.5, faithfulness=None, citation_precision=None),
        ]
    )
    assert (scores.exact_match, scores.token_f1, scores.correct) == (0.5, 0.75, 0.5)
    assert scores.faithfulness == 1.0 and scores.citation_precision == 0.5


# -- recommendation and report -------------------------------------------------------------------


def _approach(
    name: str, *, f1: float, faith: float | None, p50: float, cost: float, update: tuple[float, int]
) -> ApproachResult:
    return ApproachResult(
        approach=name,
        model=f"{name}-model",
        quality=QualityScores(
            exact_match=f1 / 2, token_f1=f1, correct=f1, faithfulness=faith, context_support=faith, n=4
        ),
        retrieval=None if name == "finetuned" else RetrievalScores(k=4, hit_at_k=1.0, mrr=0.75, ndcg_at_10=0.8, n=4),
        latency=LatencyStats(p50_ms=p50, p95_ms=p50 * 1.5, mean_ms=p50, n=4),
        cost=CostStats(
            model="local",
            per_1k_queries_usd=0.0,
            input_tokens_per_query=40 if name == "finetuned" else 600,
            output_tokens_per_query=30,
            projected_model="gpt-4o-mini",
            projected_per_1k_queries_usd=cost,
        ),
        update=UpdateStats(
            method="retrain" if name == "finetuned" else "re-ingest",
            seconds=update[0],
            new_facts=3,
            answered_before=0,
            answered_after=update[1],
        ),
        # 12 questions whose share correct matches the F1 above, so paired tests see the same lead
        questions=[
            _q(
                route=name,
                cited_sources=[] if name == "finetuned" else ["/c/a.md"],
                correct=i < round(f1 * 12),
                token_f1=1.0 if i < round(f1 * 12) else 0.0,
            )
            for i in range(12)
        ],
    )


def _results() -> dict[str, ApproachResult]:
    return {
        "rag": _approach("rag", f1=0.6, faith=0.9, p50=900, cost=0.1, update=(2.0, 3)),
        "finetuned": _approach("finetuned", f1=0.2, faith=0.0, p50=300, cost=0.03, update=(90.0, 1)),
        "hybrid": _approach("hybrid", f1=0.61, faith=0.7, p50=1100, cost=0.2, update=(2.1, 3)),
    }


def test_recommendation_is_derived_from_numbers() -> None:
    rec = recommend(_results())
    by_axis = {v.axis: v for v in rec.verdicts}
    assert by_axis["quality"].winner is None and by_axis["quality"].tied == ["hybrid", "rag"]  # 0.61 vs 0.60
    assert by_axis["grounding"].winner == "rag"
    assert "finetuned answers without passages" in by_axis["grounding"].reason
    assert by_axis["latency"].winner == "finetuned"
    assert "finetuned 40" in by_axis["latency"].reason  # explained by the input tokens measured
    assert by_axis["cost"].winner == "finetuned"
    assert by_axis["freshness"].tied == ["rag", "hybrid"]  # both 3/3, 2.0 s vs 2.1 s within 10%
    assert "finetuned answered 1/3 new facts 90.0 s after retrain" in by_axis["freshness"].reason
    # knowledge gates the pick: finetuned is behind beyond the noise; hybrid ties rag, so it is not recommended
    assert rec.overall == "rag"
    assert rec.failures == {"rag": ["latency"], "finetuned": ["knowledge", "update cost"], "hybrid": ["latency"]}
    assert rec.summary.startswith(
        "Recommended: rag. rag and hybrid tie within the noise on knowledge; the tie goes to the cheaper and simpler "
        "arm (rag; projected cost per 1,000 queries: rag $0.1000, hybrid $0.2000)."
    )
    assert "hybrid is not recommended: it does not beat rag beyond the noise on knowledge." in rec.summary
    assert "rag - finetuned, share correct: +42% (95% paired CI +17% to +67%, n=12): beyond the noise." in rec.summary
    assert "rag - hybrid, share correct: +0%" in rec.summary and "within the noise" in rec.summary


def test_recommendation_follows_the_numbers() -> None:
    # A fine-tuned model as good as RAG, faster and cheaper: now it is the pick.
    good = _results()
    good["finetuned"] = _approach("finetuned", f1=0.6, faith=0.0, p50=300, cost=0.03, update=(90.0, 1))
    rec = recommend(good)
    assert rec.overall == "finetuned"
    assert (
        "finetuned, rag and hybrid tie within the noise on knowledge; the tie goes to the cheaper and simpler "
        "arm (finetuned; projected cost per 1,000 queries: finetuned $0.0300, rag $0.1000, hybrid $0.2000)"
    ) in rec.summary
    # A slow, costly fine-tuned model loses every axis it won before.
    bad = _results()
    bad["finetuned"] = _approach("finetuned", f1=0.2, faith=0.0, p50=5000, cost=0.5, update=(90.0, 1))
    verdicts = {v.axis: v.winner for v in recommend(bad).verdicts}
    assert verdicts["latency"] == "rag" and verdicts["cost"] == "rag"
    assert "finetuned" not in verdicts.values()


def test_write_report_outputs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    approaches = _results()
    results = ComparisonResults.build(approaches, {"questions": 4, "documents": 3}, recommend(approaches))
    paths = write_report(results, tmp_path)
    data = json.loads(paths["results.json"].read_text())
    for name in ("rag", "finetuned", "hybrid"):
        assert set(data[name]) >= {"quality", "retrieval", "latency", "cost", "update"}
    assert data["finetuned"]["retrieval"] is None
    markdown = paths["report.md"].read_text()
    html = paths["report.html"].read_text()
    for chart in ("quality.png", "retrieval.png", "latency.png", "cost.png", "update.png"):
        assert (tmp_path / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({chart})" in markdown
        assert f'src="{chart}"' in html
    assert results.recommendation is not None and results.recommendation.summary in markdown
    assert ComparisonResults.model_validate(data).approaches.keys() == approaches.keys()


def test_report_shows_claims_citations_and_intervals(tmp_path) -> None:  # type: ignore[no-untyped-def]
    approaches = _results()
    question = _q(
        question="How tall is the tower?",
        answer="It is 330 m tall [1]. It is blue.",
        claims=[
            ClaimCheck(text="It is 330 m tall.", verdict="supported", support=0.9, citations=[1]),
            ClaimCheck(text="It is blue.", verdict="unsupported", support=0.1),
        ],
        citations=[CitedPassage(number=1, source="/c/a.md", chunk_id="a#0", relevant=True)],
    )
    approaches["rag"] = approaches["rag"].model_copy(update={"questions": [question]})
    results = ComparisonResults.build(approaches, {"questions": 4, "documents": 3}, recommend(approaches))
    paths = write_report(results, tmp_path)
    markdown, page = paths["report.md"].read_text(), paths["report.html"].read_text()
    for text in (markdown, page):
        assert "How tall is the tower?" in text and "[1] /c/a.md (relevant)" in text
        assert "supported (0.90, cites [1]): It is 330 m tall." in text
        assert "UNSUPPORTED (0.10): It is blue." in text
    assert json.loads(paths["results.json"].read_text())["rag"]["questions"][0]["claims"][1]["verdict"] == "unsupported"


# -- bootstrap intervals -----------------------------------------------------------------------------


def test_interval_is_seeded_and_brackets_the_mean() -> None:
    values = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, None, 0.0, 1.0]
    first, again = interval(values), interval(values)
    assert first == again  # same seed, same interval
    assert first.n == 8 and first.value == pytest.approx(5 / 8)
    assert first.ci_low is not None and first.ci_high is not None
    assert 0.0 <= first.ci_low < 5 / 8 < first.ci_high <= 1.0
    assert interval([1.0, 1.0, 1.0]).describe() == "1.00 [1.00, 1.00]"  # no spread, no width
    assert interval([0.4]).model_dump() == {"value": 0.4, "ci_low": 0.4, "ci_high": 0.4, "n": 1}
    assert interval([None, None]).value is None and interval([]).describe() == "n/a"
    # more questions, narrower interval
    wide, narrow = interval([1.0, 0.0] * 5), interval([1.0, 0.0] * 100)
    assert (narrow.ci_high - narrow.ci_low) < (wide.ci_high - wide.ci_low)  # type: ignore[operator]


def test_paired_difference_tells_noise_from_a_real_gap() -> None:
    # 12 questions, 33% vs 8% correct (the second's one hit is among the first's four): diffs 1,1,1 and nine 0s.
    # P(a resample draws no 1) = (9/12)^12 = 3.2% > 2.5%, so the lower bound is 0: within the noise
    # (about 317 of the 10,000 resamples are all zeros; the 2.5% tail is the lowest 250).
    first = [1.0] * 4 + [0.0] * 8
    second = [1.0] + [0.0] * 11
    noisy = paired_difference(first, second)
    assert noisy.value == pytest.approx(0.25) and noisy.ci_low == 0.0 and noisy.contains(0.0)
    clear = paired_difference([1.0] * 12, [0.0] * 12)
    assert (clear.value, clear.ci_low, clear.ci_high) == (1.0, 1.0, 1.0) and not clear.contains(0.0)
    # questions one side could not judge are left out of the pairs
    assert paired_difference([1.0, None, 0.5], [0.0, 1.0, None]).n == 1
    with pytest.raises(ValueError, match="same questions"):
        paired_difference([1.0], [1.0, 0.0])


def _scored(name: str, correct: int, n: int = 12) -> ApproachResult:
    questions = [_q(route=name, correct=i < correct, token_f1=1.0 if i < correct else 0.0) for i in range(n)]
    base = _approach(name, f1=correct / n, faith=0.9, p50=900, cost=0.1, update=(2.0, 3))
    return base.model_copy(update={"questions": questions, "update": None})


def test_recommendation_says_when_the_lead_is_within_the_noise() -> None:
    rec = recommend({"rag": _scored("rag", 4), "finetuned": _scored("finetuned", 1)})
    # same cost: the tie goes to the simpler arm, and the report says how many questions would separate them
    assert rec.overall == "rag" and "rag and finetuned tie within the noise on knowledge" in rec.summary
    # diffs: three 1s, nine 0s -> mean 0.25, sd 0.452 -> (1.96 x 0.452 / 0.25)^2 = 12.6 -> 13 questions
    assert "within the noise; about 1 more questions (13 in all) would separate them" in rec.summary
    assert {(d.metric, d.within_noise) for d in rec.differences} == {("token_f1", True), ("correct", True)}
    clear = recommend({"rag": _scored("rag", 12), "finetuned": _scored("finetuned", 0)})
    beyond = "rag - finetuned, share correct: +100% (95% paired CI +100% to +100%, n=12): beyond the noise"
    assert beyond in clear.summary
    assert clear.failures["finetuned"] == ["knowledge"]
    assert not any(d.within_noise for d in clear.differences)


# -- eval answers: scoring hand-made answers ----------------------------------------------------------


def _answer(text: str, cited: list[tuple[int, str]], claims: list[Claim], **kwargs: object) -> Answer:
    citations = [Citation(number=n, source=s, chunk_id=f"c{n}", doc_id=s) for n, s in cited]
    usage = Usage(latency_ms={"total": 120.0}, cost_usd=0.001)
    share = sum(c.verdict == "supported" for c in claims) / len(claims) if claims else None
    return Answer(
        text=text, route="rag", citations=citations, claims=claims, supported_share=share, usage=usage, **kwargs
    )


def test_score_answer_hand_computed() -> None:
    item = QAItem(question="How tall is the tower?", answers=["330 metres"], sources=["tower.md"])
    claims = [
        Claim(text="The tower is 330 metres tall.", verdict="supported", support=0.9, citations=(1,)),
        Claim(text="It was painted blue.", verdict="unsupported", support=0.1),
    ]
    answer = _answer(
        "The tower is 330 metres tall [1]. It was painted blue [2][3].",
        [(1, "/c/tower.md"), (2, "/c/paint.md"), (3, "/c/other.md")],
        claims,
    )
    texts = {1: "The tower rises 330 metres.", 2: "Paint was bought.", 3: "Its height is 330 metres."}
    score = score_answer(item, answer, texts, latency_ms=999.0)
    # [1] from a listed source, [3] holds the gold answer, [2] neither -> 2 of 3
    assert score.citation_precision == pytest.approx(2 / 3)
    assert [c.relevant for c in score.citations] == [True, False, True]
    assert score.contains_answer == 1.0 and score.exact_match == 0.0
    # "tower is 330 metres tall it was painted blue" (9 tokens) vs "330 metres" (2): P 2/9, R 1 -> F1 4/11
    assert score.token_f1 == pytest.approx(4 / 11)
    assert score.supported_share == 0.5 and [c.verdict for c in score.claims] == ["supported", "unsupported"]
    assert (score.cited, score.abstained, score.latency_ms, score.cost_usd) == (1.0, 0.0, 120.0, 0.001)

    bare = score_answer(QAItem(question="Hello?"), _answer(NOT_FOUND, [], [], abstained=True), {}, 5.0)
    assert (bare.exact_match, bare.token_f1, bare.contains_answer, bare.citation_precision) == (None,) * 4
    assert bare.supported_share is None and (bare.cited, bare.abstained) == (0.0, 1.0)


def test_summarize_skips_unjudged_and_failed_questions() -> None:
    scores = [
        QuestionScore(question="a", token_f1=1.0, cited=1.0, abstained=0.0, latency_ms=100.0),
        QuestionScore(question="b", token_f1=None, cited=0.0, abstained=1.0, latency_ms=300.0),
        QuestionScore(question="c", error="model failed"),
    ]
    report = summarize(scores)
    assert report.n == 2 and set(report.metrics) == set(METRICS)
    assert report.metrics["token_f1"].value == 1.0 and report.metrics["token_f1"].n == 1
    assert report.metrics["cited"].value == 0.5 and report.metrics["latency_ms"].value == 200.0
    assert report.metrics["citation_precision"].value is None
    dumped = json.loads(report.model_dump_json())
    assert set(dumped) >= {"n", "metrics", "questions"}
    assert set(dumped["metrics"]["cited"]) >= {"value", "ci_low", "ci_high"}


def test_load_qa_reports_broken_lines_and_keeps_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "qa.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"question": "Q1", "answers": ["A"], "sources": ["a.md"]}',
                "{not json",
                '{"answers": ["A"]}',
                '{"question": "Q4", "answers": "A"}',
                "",
                '["a list"]',
                '{"question": "Q7"}',
                '{"question": "Q8", "answer": "single", "sources": ["a.md"]}',
            ]
        ),
        encoding="utf-8",
    )
    qa = load_qa(path)
    assert [(i.question, i.line) for i in qa.items] == [("Q1", 1), ("Q7", 7), ("Q8", 8)]
    assert qa.items[2].answers == ["single"]  # the compare eval format's one answer
    assert qa.items[1].answers == [] and qa.items[1].sources == []
    assert [e.line for e in qa.errors] == [2, 3, 4, 6]
    assert "not valid JSON" in qa.errors[0].reason and "question" in qa.errors[1].reason
    assert "answers" in qa.errors[2].reason and str(qa.errors[0]).startswith(f"{path} line 2:")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no question to evaluate.*empty"):
        load_qa(empty)
    with pytest.raises(InputError, match="not found"):
        load_qa(tmp_path / "missing.jsonl")


def test_evaluation_does_not_import_the_agents_layer() -> None:
    """Evaluation builds on chains; the agents' toolkit sits above it (issue 12: no layer crossing)."""
    import ast
    from pathlib import Path

    import ragtune.evaluation

    folder = Path(ragtune.evaluation.__file__).parent
    imported = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module))
            elif isinstance(node, ast.Import):
                imported.update((path.name, alias.name) for alias in node.names)
    assert ("runners.py", "ragtune.chains") in imported  # the scan sees the lazy imports inside functions
    assert not [(f, m) for f, m in imported if m.startswith("ragtune.agents")]
