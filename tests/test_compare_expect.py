"""Behaviour requirements of ``ragtune compare``: parsing, each rule scored, bad input, training data, break-even."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.errors import InputError
from ragtune.evaluation.eval_file import load_eval, load_expect, read_eval
from ragtune.evaluation.expect import ExpectError, check, knowledge_text, label_correct, parse_expect
from ragtune.evaluation.results import (
    ApproachResult,
    CostStats,
    LatencyStats,
    QuestionResult,
    behaviour_scores,
)
from ragtune.evaluation.training_data import Counts, Example, filter_examples, render

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "source": {"type": "string"}},
    "required": ["answer", "source"],
    "additionalProperties": False,
}


def test_each_rule_is_scored_on_the_answer_as_written() -> None:
    json_rule = parse_expect({"format": "json", "schema": SCHEMA})
    assert check(json_rule, '{"answer": "7 dollars", "source": "plans.md"}') == {"format": True}
    assert check(json_rule, '  {"answer": "7 dollars", "source": "plans.md"}\n') == {"format": True}
    assert check(json_rule, '{"answer": "7 dollars"}') == {"format": False}  # schema: source required
    assert check(json_rule, 'Sure! {"answer": "7 dollars", "source": "plans.md"}') == {"format": False}  # no repair
    assert check(json_rule, '```json\n{"answer": "x", "source": "y"}\n```') == {"format": False}
    assert check(parse_expect({"format": "text"}), "Seven dollars.") == {"format": True}
    assert check(parse_expect({"format": "text"}), '{"a": 1}') == {"format": False}
    labels = parse_expect({"labels": ["billing", "outage"]})
    assert check(labels, " billing.\n") == {"labels": True}
    assert check(labels, "It is billing") == {"labels": False}
    everything = parse_expect(
        {"max_words": 4, "pattern": r"[A-Z].*\.", "must_include": ["Dollars"], "must_not_include": ["sorry"]}
    )
    assert check(everything, "Seven dollars a month.") == {
        "max_words": True,
        "pattern": True,
        "must_include": True,
        "must_not_include": True,
    }
    assert check(everything, "sorry, seven dollars per month") == {
        "max_words": False,
        "pattern": False,
        "must_include": True,
        "must_not_include": False,
    }


def test_knowledge_is_scored_on_the_answer_field_and_labels() -> None:
    rule = parse_expect({"format": "json", "schema": SCHEMA})
    assert rule.answer_field() == "answer"
    assert knowledge_text(rule, '{"answer": "7 dollars", "source": "plans.md"}') == "7 dollars"
    assert knowledge_text(rule, "7 dollars") == "7 dollars"  # not JSON: knowledge still judged, behaviour fails
    other = parse_expect(
        {
            "format": "json",
            "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    )
    assert other.answer_field() == "city"
    labels = parse_expect({"labels": ["billing", "outage"]})
    assert label_correct(labels, "Billing.", "billing") and not label_correct(labels, "outage", "billing")


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"fromat": "json"}, "fromat"),
        ({"format": "yaml"}, "format"),
        ({"format": "json", "schema": {"type": "objekt"}}, "schema"),
        ({"schema": {"type": "object"}}, "schema"),
        ({"pattern": "("}, "pattern"),
        ({"max_words": 0}, "max_words"),
        ({"labels": []}, "labels"),
    ],
)
def test_bad_expect_names_the_key(value: dict[str, object], key: str) -> None:
    with pytest.raises(ExpectError) as caught:
        parse_expect(value)
    assert caught.value.key == key and key in str(caught.value)


def test_bad_lines_are_reported_with_line_and_key_and_the_rest_is_evaluated(tmp_path: Path) -> None:
    lines = [
        {"question": "Q1?", "answer": "A1", "expect": {"format": "json", "schema": SCHEMA}},
        {"question": "Q2?", "answer": "A2", "expect": {"colour": "blue"}},
        {"question": "Q3?", "answer": "A3", "expect": {"format": "json", "schema": {"type": 7}}},
        {"question": "Q4?", "answer": "billing", "expect": {"labels": ["outage", "refund"]}},
        {"question": "Q5?", "answer": "outage", "expect": {"labels": ["outage", "refund"]}},
        {"question": "Q6?", "answer": "A6"},
    ]
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n", encoding="utf-8")
    read = read_eval(path)
    assert [i.question for i in read.items] == ["Q1?", "Q5?", "Q6?"]
    assert [(e.line, e.key) for e in read.errors] == [(2, "colour"), (3, "schema"), (4, "labels"), (7, None)]
    assert 'unknown "expect" key "colour"' in read.errors[0].message and "line 2" in read.errors[0].message
    assert "not a valid JSON Schema" in read.errors[1].message
    assert 'does not contain the line\'s answer "billing"' in read.errors[2].message
    assert read.items[2].expect is None
    with pytest.raises(InputError, match="line 2, key 'colour'"):
        load_eval(path)  # the strict form stops at the first


def test_expect_file_applies_to_lines_without_their_own(tmp_path: Path) -> None:
    rule = tmp_path / "expect.json"
    rule.write_text(json.dumps({"labels": ["billing", "outage"]}), encoding="utf-8")
    path = tmp_path / "eval.jsonl"
    path.write_text(
        json.dumps({"question": "Card declined?", "answer": "billing"})
        + "\n"
        + json.dumps({"question": "Site down?", "answer": "downtime"})
        + "\n"
        + json.dumps({"question": "Own?", "answer": "x", "expect": {"max_words": 3}})
        + "\n",
        encoding="utf-8",
    )
    read = read_eval(path, load_expect(rule))
    assert [i.question for i in read.items] == ["Card declined?", "Own?"]
    assert read.items[0].expect is not None and read.items[0].expect.labels == ("billing", "outage")
    assert read.items[1].expect is not None and read.items[1].expect.max_words == 3
    assert [(e.line, e.key) for e in read.errors] == [(2, "labels")]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "json", "scheme": {}}), encoding="utf-8")
    with pytest.raises(InputError, match='unknown "expect" key "scheme"'):
        load_expect(bad)


def test_training_answers_are_rendered_to_the_requirement_and_eval_questions_excluded() -> None:
    rule = parse_expect({"format": "json", "schema": SCHEMA})
    rendered = render(rule, "An extra seat costs 7 dollars per month.", "/data/corpus/plans.md")
    assert rendered is not None
    assert json.loads(rendered) == {"answer": "An extra seat costs 7 dollars per month.", "source": "plans.md"}
    assert render(parse_expect({"labels": ["billing"]}), "An extra seat costs 7 dollars.") is None
    assert render(parse_expect({"max_words": 3}), "one two three four") is None
    counts = Counts()
    examples = [
        Example("How much is an extra seat?", "7 dollars"),
        Example("how much is an EXTRA seat", "7 dollars"),  # the same question once normalised
        Example("Where is the desk?", "Lisbourne"),
        Example("Which plan?", "it depends on many things"),
    ]
    kept = filter_examples(examples, {"How much is an extra seat?"}, parse_expect({"max_words": 3}), counts)
    assert [e.question for e in kept] == ["Where is the desk?"]
    assert (counts.read, counts.excluded_eval_overlap, counts.not_meeting_expect) == (4, 2, 1)


def _q(compliant: bool | None, behaviour: dict[str, bool] | None) -> QuestionResult:
    return QuestionResult(
        question="q",
        reference="r",
        answer="a",
        route="rag",
        exact_match=0.0,
        token_f1=0.0,
        correct=False,
        behaviour=behaviour,
        compliant=compliant,
    )


def test_behaviour_scores_share_per_rule_with_intervals() -> None:
    questions = [
        _q(True, {"format": True, "max_words": True}),
        _q(False, {"format": True, "max_words": False}),
        _q(False, {"format": False, "max_words": False}),
        _q(True, {"format": True, "max_words": True}),
        _q(None, None),  # a line without expect is not judged
    ]
    scores = behaviour_scores(questions)
    assert scores is not None and scores.n == 4
    assert scores.compliance == 0.5 and scores.rules == {"format": 0.75, "max_words": 0.5}
    ci = scores.intervals["compliance"]
    assert ci.value == 0.5 and ci.ci_low is not None and ci.ci_high is not None and ci.ci_low < 0.5 < ci.ci_high
    assert behaviour_scores([_q(None, None)]) is None


# -- recommendation rules ---------------------------------------------------------------------------


def _arm(name: str, correct: int, compliant: int | None, cost: float, n: int = 12, training: float | None = None):  # type: ignore[no-untyped-def]
    questions = [
        QuestionResult(
            question=f"q{i}",
            reference="r",
            answer="a",
            route=name,
            exact_match=0.0,
            token_f1=1.0 if i < correct else 0.0,
            correct=i < correct,
            behaviour=None if compliant is None else {"format": i < compliant},
            compliant=None if compliant is None else i < compliant,
        )
        for i in range(n)
    ]
    from ragtune.evaluation.results import quality_scores

    return ApproachResult(
        approach=name,
        model=name,
        quality=quality_scores(questions),
        latency=LatencyStats(p50_ms=100, p95_ms=150, mean_ms=100, n=n),
        cost=CostStats(
            model=name,
            per_1k_queries_usd=0.0,
            input_tokens_per_query=100,
            output_tokens_per_query=10,
            projected_model="gpt-4o-mini" if name == "rag" else "ft:gpt-4o-mini",
            projected_per_1k_queries_usd=cost,
            training_usd=training,
            prices_as_of="2025-08",
        ),
        behaviour=behaviour_scores(questions),
        questions=questions,
    )


def test_a_tie_goes_to_the_cheaper_arm_and_hybrid_needs_a_win_over_each() -> None:
    from ragtune.evaluation.recommend import recommend

    # the case: hybrid ties rag on knowledge and costs 1.8x: rag, and the report says why
    rec = recommend({"rag": _arm("rag", 2, None, 0.081), "hybrid": _arm("hybrid", 2, None, 0.146)})
    assert rec.overall == "rag"
    assert "the tie goes to the cheaper and simpler arm (rag" in rec.summary
    assert "hybrid is not recommended: it does not beat rag beyond the noise on knowledge" in rec.summary
    # hybrid beats rag on behaviour and finetuned on knowledge, beyond the noise: hybrid
    arms = {
        "rag": _arm("rag", 11, 1, 0.08),
        "finetuned": _arm("finetuned", 0, 12, 0.03, training=0.01),
        "hybrid": _arm("hybrid", 11, 12, 0.10, training=0.01),
    }
    rec = recommend(arms)
    assert rec.overall == "hybrid"
    assert rec.failures == {"rag": ["behaviour"], "finetuned": ["knowledge"], "hybrid": []}
    assert rec.behaviour is not None and rec.behaviour.winner is None and rec.behaviour.tied == ["finetuned", "hybrid"]
    assert (
        "hybrid - rag, share compliant: +92% (95% paired CI +75% to +100%, n=12): beyond the noise." in rec.statements
    )
    # the same hybrid without its behaviour lead over rag: it beats neither on something asked for both
    arms["rag"] = _arm("rag", 11, 12, 0.08)
    rec = recommend(arms)
    assert rec.overall == "rag" and "hybrid is not recommended: it does not beat rag" in rec.summary
    metrics = {(d.other, d.metric) for d in rec.differences}
    assert ("finetuned", "compliance") in metrics and ("hybrid", "correct") in metrics


def test_break_even_arithmetic() -> None:
    from ragtune.evaluation.recommend import break_even

    arms = {"rag": _arm("rag", 6, None, 0.10), "finetuned": _arm("finetuned", 6, None, 0.04, training=0.30)}
    even = break_even(arms, updates_per_month=4, training=0.30, retrain=0.36)
    assert even is not None and even.arm == "finetuned"
    # saving $0.06 per 1,000 queries = $0.00006 per query; 4 retrains x $0.36 = $1.44 a month
    assert even.per_query_saving_usd == pytest.approx(0.00006)
    assert even.monthly_retrain_usd == pytest.approx(1.44)
    assert even.queries_per_month == pytest.approx(1.44 / 0.00006)  # 24,000
    assert even.first_month_queries == pytest.approx((0.30 + 1.44) / 0.00006)  # 29,000
    assert "24,000 queries a month" in even.statement and "2025-08" in even.statement
    dearer = {"rag": _arm("rag", 6, None, 0.04), "finetuned": _arm("finetuned", 6, None, 0.10, training=0.3)}
    never = break_even(dearer, updates_per_month=4, training=0.3, retrain=0.3)
    assert never is not None and never.queries_per_month is None and "never breaks even" in never.statement


def test_a_json_value_not_stated_in_the_passage_is_replaced_by_the_passage_sentence() -> None:
    from ragtune.chains.context import ContextBlock
    from ragtune.chains.grounding import LexicalVerifier
    from ragtune.evaluation.structured import ground_values, stated_in
    from ragtune.schema import Chunk

    text = "The support desk is run from the city of Lisbourne. The status page of Quillpost is called Beacon."
    chunk = Chunk(id="c1", doc_id="d1", text=text, source="/c/support.md")
    blocks = [ContextBlock(number=1, text=text, chunks=[chunk], rank=0, score=1.0)]
    rule = parse_expect({"format": "json", "schema": SCHEMA})
    assert stated_in("Lisbourne", text) and not stated_in("Lisle", text) and not stated_in("support.md", text)
    question = "In which city is the support desk run?"
    kept = ground_values('{"answer": "Lisbourne", "source": "support.md"}', question, rule, blocks, LexicalVerifier())
    assert kept.replaced == [] and kept.claims[0].verdict == "supported" and kept.cited == [1]
    wrong = ground_values('{"answer": "Lisle", "source": "support.md"}', question, rule, blocks, LexicalVerifier())
    assert wrong.replaced == ["answer"] and wrong.claims[0].origin == "extract"
    replaced = json.loads(wrong.text)
    assert "Lisbourne" in replaced["answer"] and replaced["source"] == "support.md"  # the model's structure kept
    untouched = ground_values("Lisle", question, rule, blocks, LexicalVerifier())
    assert untouched.text == "Lisle" and untouched.claims == []  # not JSON: left exactly as written


def test_a_true_sentence_given_for_another_question_is_not_its_answer() -> None:
    """The held-out compare's hybrid answered the cipher question with the audit firm's sentence: true
    in the passage, so the bound claim passed, but the extractive answerer reads the question in the
    cipher sentence, which does not state the value; the value is replaced by that sentence."""
    from ragtune.chains.context import ContextBlock
    from ragtune.chains.grounding import LexicalVerifier
    from ragtune.evaluation.structured import ground_values
    from ragtune.schema import Chunk

    text = (
        "Quillpost encrypts every notebook with the Thornfield cipher. "
        "The security audit of Quillpost is done by the firm Ostrava Assurance. "
        "Sessions expire after 12 hours of inactivity."
    )
    chunk = Chunk(id="c1", doc_id="d1", text=text, source="/c/security.md")
    blocks = [ContextBlock(number=1, text=text, chunks=[chunk], rank=0, score=1.0)]
    rule = parse_expect({"format": "json", "schema": SCHEMA})
    question = "Which cipher does Quillpost use to encrypt notebooks?"
    audit = json.dumps(
        {"answer": "The security audit of Quillpost is done by the firm Ostrava Assurance.", "source": "security.md"}
    )
    wrong = ground_values(audit, question, rule, blocks, LexicalVerifier())
    assert wrong.replaced == ["answer"], wrong
    assert "Thornfield" in json.loads(wrong.text)["answer"]
    assert "does not answer the question" in (wrong.claims[0].reason or "")
    right = '{"answer": "Quillpost encrypts every notebook with the Thornfield cipher.", "source": "security.md"}'
    kept = ground_values(right, question, rule, blocks, LexicalVerifier())
    assert kept.replaced == [] and kept.claims[0].verdict == "supported"
