"""``ragtune eval answers``: answer a question file through the chain and score every answer.

Per question: exact match, token F1 and contains-answer against the gold
answers; the share of the answer's claims the chain verified as supported;
citation precision (a cited passage comes from a listed source or contains a
gold answer); whether anything is cited; abstention; latency; cost. Every mean
comes with a seeded 95% bootstrap interval (:mod:`~ragtune.evaluation.bootstrap`).
Metrics that need gold answers or sources are ``None`` for questions without
them and left out of the mean. A question whose chain call fails is recorded
with its error and the others go on.

Example:
    >>> qa = load_qa("qa.jsonl")
    >>> report = evaluate_answers(lambda q: chain.invoke(q), qa.items, passage_texts(workspace))
    >>> report.metrics["token_f1"].describe()
    '0.41 [0.30, 0.52]'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ragtune.errors import RagtuneError
from ragtune.evaluation.answer_metrics import contains_answer, exact_match, strip_citations, token_f1
from ragtune.evaluation.bootstrap import Interval, interval
from ragtune.evaluation.qa_file import LineError, QAItem
from ragtune.evaluation.verification import (
    CitedPassage,
    ClaimCheck,
    PassageText,
    citation_precision,
    cited_passages,
    claim_checks,
)
from ragtune.progress import ProgressCallback, report

if TYPE_CHECKING:
    from ragtune.chains.answer import Answer, Citation
    from ragtune.workspace import Workspace

METRICS = (
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
)
"""Reported metrics, in table order."""


class QuestionScore(BaseModel):
    """One question, its answer and every per-question metric (``None``: could not be judged)."""

    question: str
    line: int = 0
    answer: str = ""
    route: str | None = None
    gold: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    exact_match: float | None = None
    token_f1: float | None = None
    contains_answer: float | None = None
    supported_share: float | None = None
    """Share of the answer's claims verified as supported (``None``: the chain verified nothing)."""
    citation_precision: float | None = None
    """Share of cited passages from a listed source or holding a gold answer (``None``: nothing cited)."""
    cited: float | None = None
    """1.0 when the answer cites at least one passage."""
    abstained: float | None = None
    """1.0 when the answer says the documents do not hold it."""
    unsourced: float | None = None
    """1.0 when no documents were shown and the answer says it is the model's own (``direct`` route)."""
    latency_ms: float | None = None
    cost_usd: float | None = None
    citations: list[CitedPassage] = Field(default_factory=list)
    claims: list[ClaimCheck] = Field(default_factory=list)
    error: str | None = None
    """Why the question could not be answered (its metrics are then all ``None``)."""


class AnswerEvalReport(BaseModel):
    """What ``ragtune eval answers --json`` prints."""

    n: int
    """Questions scored."""
    metrics: dict[str, Interval]
    questions: list[QuestionScore]
    errors: list[LineError] = Field(default_factory=list)
    """Lines of the question file that could not be read."""


def score_answer(item: QAItem, answer: Answer, texts: dict[int, str], latency_ms: float) -> QuestionScore:
    """Every per-question metric of one answer (``texts``: the cited blocks' text by number)."""
    golds = [g for g in item.answers if g.strip()]
    plain = strip_citations(answer.text)
    passages = cited_passages(answer, golds, item.sources, texts)
    return QuestionScore(
        question=item.question,
        line=item.line,
        answer=answer.text,
        route=answer.route,
        gold=golds,
        sources=list(item.sources),
        exact_match=exact_match(plain, golds) if golds else None,
        token_f1=token_f1(plain, golds) if golds else None,
        contains_answer=contains_answer(plain, golds) if golds else None,
        supported_share=answer.supported_share,
        citation_precision=citation_precision(passages),
        cited=float(bool(answer.citations)),
        abstained=float(answer.abstained),
        unsourced=float(answer.unsourced),
        latency_ms=answer.usage.latency_ms.get("total", latency_ms),
        cost_usd=answer.usage.cost_usd,
        citations=passages,
        claims=claim_checks(answer),
    )


def summarize(questions: Sequence[QuestionScore], errors: Sequence[LineError] = ()) -> AnswerEvalReport:
    """Mean and bootstrap interval of every metric over the questions that could be judged."""
    answered = [q for q in questions if q.error is None]
    metrics = {name: interval([getattr(q, name) for q in answered]) for name in METRICS}
    return AnswerEvalReport(n=len(answered), metrics=metrics, questions=list(questions), errors=list(errors))


def evaluate_answers(
    answer: Callable[[str], Answer],
    items: Sequence[QAItem],
    texts: PassageText,
    *,
    errors: Sequence[LineError] = (),
    progress: ProgressCallback | None = None,
) -> AnswerEvalReport:
    """Answer every item with ``answer`` and score it; a failing question is recorded and skipped."""
    scores: list[QuestionScore] = []
    report(progress, "answer", 0, len(items), "questions")
    for done, item in enumerate(items, start=1):
        started = time.perf_counter()
        try:
            result = answer(item.question)
        except RagtuneError as exc:
            scores.append(QuestionScore(question=item.question, line=item.line, error=str(exc)))
        else:
            elapsed = (time.perf_counter() - started) * 1000
            scores.append(score_answer(item, result, texts(result.citations), elapsed))
        report(progress, "answer", done, len(items), item.question[:40])
    return summarize(scores, errors)


def passage_texts(workspace: Workspace) -> PassageText:
    """Block text by number, read back from the workspace's index (merged blocks joined)."""

    def read(citations: Sequence[Citation]) -> dict[int, str]:
        texts: dict[int, str] = {}
        for c in citations:
            ids = list(c.chunk_ids or (c.chunk_id,))
            texts[c.number] = "\n".join(chunk.text for chunk in workspace.index.get_chunks(ids))
        return texts

    return read


__all__ = [
    "METRICS",
    "AnswerEvalReport",
    "QuestionScore",
    "evaluate_answers",
    "passage_texts",
    "score_answer",
    "summarize",
]
