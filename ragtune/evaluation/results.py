"""The numbers of a RAG vs fine-tuning comparison: what ``results.json`` holds.

``results.json`` has one key per approach (``rag``, ``finetuned``, ``hybrid``),
each an :class:`ApproachResult` with ``quality``, ``retrieval``, ``latency``,
``cost`` and ``update`` sections, plus ``setup`` (what was run, and how long
the shared steps took) and ``recommendation`` (derived from the numbers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ragtune.evaluation.bootstrap import Interval, interval
from ragtune.evaluation.verification import CitedPassage, ClaimCheck

APPROACHES = ("rag", "finetuned", "hybrid")
"""The approaches ``ragtune compare`` knows, in report order."""


class QuestionResult(BaseModel):
    """One question answered by one approach, with its scores."""

    model_config = ConfigDict(extra="forbid")

    question: str
    reference: str
    answer: str
    route: str
    exact_match: float
    token_f1: float
    correct: bool
    """Exact match, reference contained in the answer, or token F1 >= 0.5 (see ``answer_metrics.is_correct``)."""
    citation_precision: float | None = None
    citation_recall: float | None = None
    faithfulness: float | None = None
    """Share of answer sentences supported by the passages the answer cites."""
    context_support: float | None = None
    """Share of answer sentences supported by all passages the model was shown (0.0 when it saw none)."""
    supported_share: float | None = None
    """Share of the answer's claims the chain verified as supported (``None``: nothing verified)."""
    claims: list[ClaimCheck] = Field(default_factory=list)
    """Each sentence of the answer with its verification verdict."""
    citations: list[CitedPassage] = Field(default_factory=list)
    """Each cited block, and whether it comes from a relevant source or holds the reference answer."""
    cited_sources: list[str] = Field(default_factory=list)
    retrieved_sources: list[str] = Field(default_factory=list)
    relevant_sources: list[str] = Field(default_factory=list)
    hit: float | None = None
    reciprocal_rank: float | None = None
    ndcg_at_10: float | None = None
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    knowledge_answer: str | None = None
    """What knowledge was scored on when it is not the whole answer (the JSON answer field, the label)."""
    behaviour: dict[str, bool] | None = None
    """Each rule of the line's ``expect`` and whether the answer meets it (``None``: nothing expected)."""
    compliant: bool | None = None
    """The answer meets every rule of its ``expect`` (``None``: nothing expected)."""
    replaced_values: list[str] = Field(default_factory=list)
    """JSON fields whose model-written value failed verification and was replaced by the verified
    extractive value (retrieving arms, ``format: json`` only; the structure is the model's)."""


class BehaviourScores(BaseModel):
    """How often an arm's answers meet the behaviour requirements (``behaviour`` in ``results.json``)."""

    compliance: float
    """Share of answers meeting every rule of their ``expect``."""
    rules: dict[str, float] = Field(default_factory=dict)
    """Share of answers meeting each rule, over the answers that rule applies to."""
    n: int
    """Answers with an ``expect``."""
    intervals: dict[str, Interval] = Field(default_factory=dict)
    """95% bootstrap interval of ``compliance`` and of each rule (same keys)."""


class QualityScores(BaseModel):
    """Answer quality averaged over the questions (``None`` where no question could be judged)."""

    exact_match: float
    token_f1: float
    correct: float
    """Share of questions answered correctly (see :attr:`QuestionResult.correct`)."""
    citation_precision: float | None = None
    citation_recall: float | None = None
    faithfulness: float | None = None
    """Share of answer sentences supported by the cited context (lexical overlap >= 0.5)."""
    context_support: float | None = None
    """Share of answer sentences supported by the passages the model was shown, cited or not."""
    supported_share: float | None = None
    """Share of claims the chain verified as supported, over questions with verified claims."""
    n: int
    intervals: dict[str, Interval] = Field(default_factory=dict)
    """95% bootstrap interval of each measure above (same keys), over the questions judged."""


class RetrievalScores(BaseModel):
    """Document-level retrieval against the eval file's ``sources`` (questions without sources are skipped)."""

    k: int
    hit_at_k: float
    mrr: float
    ndcg_at_10: float
    n: int


class LatencyStats(BaseModel):
    """End-to-end seconds per question, as milliseconds."""

    p50_ms: float
    p95_ms: float
    mean_ms: float
    n: int


class CostStats(BaseModel):
    """Cost per 1,000 queries from the price table, for the model that ran and projected to an API model."""

    model: str
    per_1k_queries_usd: float
    """With the models that actually ran (a local model costs 0)."""
    input_tokens_per_query: float
    output_tokens_per_query: float
    projected_model: str | None = None
    """The API model the same token counts are priced at, for scale (``gpt-4o-mini`` or its ``ft:`` twin)."""
    projected_per_1k_queries_usd: float | None = None
    training_usd: float | None = None
    """One-off fine-tuning cost, projected at the API model's training price (fine-tuned approaches)."""
    prices_as_of: str = ""
    training_seconds: float | None = None
    """Wall time of the local training run (generating examples, preparing, training)."""
    training_tokens: int | None = None
    """Tokens trained on, epochs included (what ``training_usd`` prices)."""


class UpdateStats(BaseModel):
    """Update cost: new facts added after the first run, and what it took until the approach answers them."""

    method: str
    """``re-ingest`` (retrieval picks the facts up) or ``retrain`` (the model must learn them)."""
    seconds: float
    """Wall time of the update (ingest of the new documents, or generating examples and retraining)."""
    new_facts: int
    """Questions about the new facts."""
    answered_before: int
    """Of those, answered correctly before the update."""
    answered_after: int
    """Answered correctly after the update."""
    usd: float | None = None
    """Projected money cost of one update: the retrain at the API model's training price, or the
    embedding of the new chunks (0 with the local embedder)."""
    details: dict[str, Any] = Field(default_factory=dict)


class ApproachResult(BaseModel):
    """Everything measured for one approach."""

    approach: str
    model: str = ""
    quality: QualityScores
    retrieval: RetrievalScores | None = None
    """``None`` for approaches that do not retrieve (fine-tuned only)."""
    latency: LatencyStats
    cost: CostStats
    update: UpdateStats | None = None
    behaviour: BehaviourScores | None = None
    """Behaviour compliance (``None`` when no line has an ``expect``)."""
    questions: list[QuestionResult] = Field(default_factory=list)


class AxisVerdict(BaseModel):
    """Which approach wins one axis, by how much, and why (from the numbers)."""

    axis: str
    winner: str | None
    """``None`` when the leaders tie within the axis tolerance."""
    tied: list[str] = Field(default_factory=list)
    values: dict[str, float | None] = Field(default_factory=dict)
    reason: str


class QualityDifference(BaseModel):
    """The recommended approach against another, per question, with a paired bootstrap interval."""

    approach: str
    """The recommended approach."""
    other: str
    metric: str
    """``token_f1`` or ``correct``."""
    difference: Interval
    """Mean of (approach - other) over the shared questions, with its 95% interval."""
    within_noise: bool
    """True when the interval contains 0: these questions cannot tell the two apart."""


class BreakEven(BaseModel):
    """When fine-tuning's cheaper inference pays for its training and its retraining per update."""

    arm: str
    """The fine-tuned arm weighed (``finetuned``, else ``hybrid``)."""
    against: str = "rag"
    updates_per_month: float
    per_query_saving_usd: float
    """rag's projected cost per query minus the arm's (negative: the arm costs more per query)."""
    training_usd: float
    """One-off training at the API model's training price."""
    retrain_usd: float
    """One retrain per update (the update phase's measured tokens, else the first training's)."""
    monthly_retrain_usd: float
    queries_per_month: float | None
    """Queries a month above which the saving pays for the retraining (``None``: never, the arm is not cheaper)."""
    first_month_queries: float | None
    """Queries in the first month to pay for training and that month's retraining too."""
    model: str
    """API model the prices are for."""
    prices_as_of: str
    statement: str


class Recommendation(BaseModel):
    """Per-axis verdicts and the overall pick, all derived from the measured numbers."""

    overall: str | None
    verdicts: list[AxisVerdict]
    summary: str
    differences: list[QualityDifference] = Field(default_factory=list)
    """Paired differences (knowledge, and behaviour compliance when asked) between the pick and each other arm."""
    behaviour: AxisVerdict | None = None
    """Which arm meets the behaviour requirements best (``None`` when nothing was expected)."""
    break_even: BreakEven | None = None
    failures: dict[str, list[str]] = Field(default_factory=dict)
    """Per arm, the requirements it fails: ``knowledge``, ``behaviour``, ``update cost``, ``latency``."""
    statements: list[str] = Field(default_factory=list)
    """Each pairwise finding with its paired interval, and the questions more needed when inside the noise."""


class CompareSetup(BaseModel):
    """What a comparison ran on and how long the shared steps took (``setup`` in ``results.json``)."""

    model_config = ConfigDict(extra="allow")

    approaches: list[str] = Field(default_factory=list)
    corpus: list[str] = Field(default_factory=list)
    new_facts: list[str] = Field(default_factory=list)
    questions: int = 0
    """Evaluation questions (update questions excluded)."""
    update_questions: int = 0
    k: int = 4
    projected_model: str = ""
    documents: int = 0
    chunks: int = 0
    ingest_seconds: float = 0.0
    ingest_errors: list[dict[str, Any]] = Field(default_factory=list)
    finetune: dict[str, Any] | None = None
    """``{"model", "trained": False}`` for a given model, or the :class:`TrainResult` fields with ``trained``."""
    update: dict[str, Any] | None = None
    """Per approach: details of the update phase (documents added, retrained model)."""
    expect: dict[str, Any] | None = None
    """Behaviour requirements: lines with one, distinct ones, and the one training answers were rendered to."""
    eval_errors: list[dict[str, Any]] = Field(default_factory=list)
    """Evaluation lines that could not be used (``path``, ``line``, ``key``, ``message``); the rest ran."""
    updates_per_month: float = 4.0
    """Update frequency the break-even assumes (``--updates-per-month``)."""
    seconds: float = 0.0
    """Wall time of the whole comparison."""


class ComparisonResults(BaseModel):
    """What ``ragtune compare`` writes to ``results.json`` (approach keys at the top level)."""

    model_config = ConfigDict(extra="allow")

    setup: CompareSetup = Field(default_factory=CompareSetup)
    recommendation: Recommendation | None = None

    @property
    def approaches(self) -> dict[str, ApproachResult]:
        """The per-approach results, in report order."""
        extra = self.model_extra or {}
        found = {}
        for name in [*APPROACHES, *sorted(k for k in extra if k not in APPROACHES)]:
            value = extra.get(name)
            if value is None:
                continue
            found[name] = value if isinstance(value, ApproachResult) else ApproachResult.model_validate(value)
        return found

    @classmethod
    def build(
        cls,
        approaches: dict[str, ApproachResult],
        setup: CompareSetup | dict[str, Any],
        recommendation: Recommendation | None,
    ) -> ComparisonResults:
        setup = setup if isinstance(setup, CompareSetup) else CompareSetup.model_validate(setup)
        return cls(setup=setup, recommendation=recommendation, **approaches)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100), as numpy's default; 0.0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Sequence[float | None]) -> float | None:
    """Mean of the non-``None`` values; ``None`` when there are none."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def latency_stats(latencies_ms: Sequence[float]) -> LatencyStats:
    return LatencyStats(
        p50_ms=percentile(latencies_ms, 50),
        p95_ms=percentile(latencies_ms, 95),
        mean_ms=mean(list(latencies_ms)) or 0.0,
        n=len(latencies_ms),
    )


QUALITY_MEASURES = (
    "exact_match",
    "token_f1",
    "correct",
    "citation_precision",
    "citation_recall",
    "faithfulness",
    "context_support",
    "supported_share",
)
"""Per-question measures averaged into :class:`QualityScores`, each with an interval."""


def _per_question(questions: Sequence[QuestionResult], measure: str) -> list[float | None]:
    return [None if (v := getattr(q, measure)) is None else float(v) for q in questions]


def quality_scores(questions: Sequence[QuestionResult]) -> QualityScores:
    intervals = {m: interval(_per_question(questions, m)) for m in QUALITY_MEASURES}
    return QualityScores(
        exact_match=mean([q.exact_match for q in questions]) or 0.0,
        token_f1=mean([q.token_f1 for q in questions]) or 0.0,
        correct=mean([float(q.correct) for q in questions]) or 0.0,
        citation_precision=mean([q.citation_precision for q in questions]),
        citation_recall=mean([q.citation_recall for q in questions]),
        faithfulness=mean([q.faithfulness for q in questions]),
        context_support=mean([q.context_support for q in questions]),
        supported_share=mean([q.supported_share for q in questions]),
        n=len(questions),
        intervals=intervals,
    )


def per_question(result: ApproachResult, measure: str) -> list[float | None]:
    """One approach's per-question values of a quality measure, in question order (for paired tests)."""
    return _per_question(result.questions, measure)


def behaviour_scores(questions: Sequence[QuestionResult]) -> BehaviourScores | None:
    """Compliance overall and per rule, with intervals; ``None`` when no answer had an ``expect``."""
    judged = [q for q in questions if q.compliant is not None]
    if not judged:
        return None
    per_rule: dict[str, list[float]] = {}
    for q in judged:
        for rule, ok in (q.behaviour or {}).items():
            per_rule.setdefault(rule, []).append(float(ok))
    compliance: list[float | None] = [float(bool(q.compliant)) for q in judged]
    intervals = {"compliance": interval(compliance)}
    intervals.update({rule: interval(list(values)) for rule, values in per_rule.items()})
    return BehaviourScores(
        compliance=mean(compliance) or 0.0,
        rules={rule: sum(values) / len(values) for rule, values in per_rule.items()},
        n=len(judged),
        intervals=intervals,
    )


def retrieval_scores(questions: Sequence[QuestionResult], k: int) -> RetrievalScores | None:
    judged = [q for q in questions if q.hit is not None]
    if not judged:
        return None
    return RetrievalScores(
        k=k,
        hit_at_k=mean([q.hit for q in judged]) or 0.0,
        mrr=mean([q.reciprocal_rank for q in judged]) or 0.0,
        ndcg_at_10=mean([q.ndcg_at_10 for q in judged]) or 0.0,
        n=len(judged),
    )


__all__ = [
    "APPROACHES",
    "ApproachResult",
    "AxisVerdict",
    "BehaviourScores",
    "BreakEven",
    "CompareSetup",
    "ComparisonResults",
    "CostStats",
    "LatencyStats",
    "QUALITY_MEASURES",
    "QualityDifference",
    "QualityScores",
    "QuestionResult",
    "Recommendation",
    "RetrievalScores",
    "UpdateStats",
    "behaviour_scores",
    "latency_stats",
    "mean",
    "per_question",
    "percentile",
    "quality_scores",
    "retrieval_scores",
]
