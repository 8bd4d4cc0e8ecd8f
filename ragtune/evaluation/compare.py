"""RAG, fine-tuned-only and hybrid, side by side on one corpus and one evaluation file.

:func:`compare` runs the phases and returns :class:`~ragtune.evaluation.results.ComparisonResults`:

1. **ingest** the corpus into the workspace;
2. **finetune** the local model on questions generated from the corpus (never
   on the evaluation questions: generated questions that normalise to an
   evaluation question are dropped and counted), unless a registered model is named;
3. **answer** every evaluation question with every approach, timing each call
   and scoring answer, citations, faithfulness and retrieval;
4. **update**: add the new-fact documents and measure, per approach, how long
   until it can answer the new-fact questions (re-ingest for ``rag`` and
   ``hybrid``, generate-and-retrain for ``finetuned``) and how many it answers
   before and after.

How answers are produced (the chain per approach) and how the model is trained
are injectable (``answerers``, ``trainer``), so the orchestration is the same
for the local defaults, an OpenAI setup, or a test double.

Example:
    >>> with Workspace.open(store="cmp-store") as ws:
    ...     results = compare(ws, ["examples/compare/corpus"], load_eval("examples/compare/eval.jsonl"),
    ...                       new_facts=["examples/compare/new_facts"])
    >>> write_report(results, "compare-out")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ragtune.evaluation.answer_metrics import (
    citation_correctness,
    exact_match,
    faithfulness,
    is_correct,
    source_matches,
    token_f1,
)
from ragtune.evaluation.eval_file import EvalItem
from ragtune.evaluation.expect import Expect, check, knowledge_text, label_correct
from ragtune.evaluation.recommend import recommend
from ragtune.evaluation.results import (
    APPROACHES,
    ApproachResult,
    CompareSetup,
    ComparisonResults,
    CostStats,
    QuestionResult,
    UpdateStats,
    behaviour_scores,
    latency_stats,
    quality_scores,
    retrieval_scores,
)
from ragtune.evaluation.retrieval import mrr_at, ndcg_at
from ragtune.evaluation.verification import cited_passages, claim_checks
from ragtune.progress import ProgressCallback, report

if TYPE_CHECKING:
    from ragtune.chains.answer import Answer
    from ragtune.llm.pricing import PriceTable
    from ragtune.workspace import Workspace

log = logging.getLogger(__name__)

AnswerFn = Callable[..., "Answer"]
"""Answers one question (a chain forced to one route): ``fn(question)``, or ``fn(question, expect)``
for a line with behaviour requirements (:class:`~ragtune.evaluation.expect.Expect`)."""
AnswererFactory = Callable[["Workspace", str | None], Mapping[str, AnswerFn]]
"""Builds the answer function of every approach, given the fine-tuned model's registry name."""


class TrainResult(BaseModel):
    """What fine-tuning for the comparison produced."""

    model: str
    """Registry name of the fine-tuned model."""
    seconds: float
    """Wall time: generating examples, preparing and training."""
    examples: int = 0
    """Training examples used."""
    excluded_eval_overlap: int = 0
    """Generated examples dropped because their question matched an evaluation question."""
    training_tokens: int = 0
    """Tokens trained on (examples x epochs), for the projected training cost."""
    details: dict[str, Any] = Field(default_factory=dict)


Trainer = Callable[["Workspace", Sequence[str | Path], set[str], ProgressCallback | None], TrainResult]
"""Fine-tunes a model on examples generated from documents, never on the given (normalised) questions."""


class CompareConfig(BaseModel):
    """What to compare and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approaches: tuple[str, ...] = APPROACHES
    """Any of ``rag``, ``finetuned``, ``hybrid``, in report order."""
    model: str | None = None
    """A registered fine-tuned model to use instead of training one."""
    k: int = Field(default=4, ge=1)
    """Passages retrieved per question (and the k of hit@k)."""
    projected_model: str = "gpt-4o-mini-2024-07-18"
    """API model used to project costs; fine-tuned approaches are priced as its ``ft:`` twin."""
    f1_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """Token F1 at or above which an answer counts as correct."""
    faithfulness_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """Share of a sentence's content tokens that must be in the cited context for it to count as supported."""
    train_epochs: int = Field(default=4, ge=1)
    """Epochs of the default local LoRA trainer (each retrain of the update phase too)."""
    train_file: str | None = None
    """The user's own training examples (``--train``: question/answer or chat JSONL) instead of generated ones."""
    train_context: bool = True
    """Train each example also with retrieved passages (RAFT-style), so the hybrid arm has learned to read them."""
    train_context_k: int = Field(default=2, ge=1)
    """Passages in a training context: the answer's own and the best other hits (fewer than ``k`` keeps
    CPU training short; the model still learns to answer from the passage that holds the answer)."""
    updates_per_month: float = Field(default=4.0, ge=0.0)
    """Updates of the facts per month, for the break-even (each one a retrain of the fine-tuned model)."""
    embedding_model: str = "text-embedding-3-small"
    """API embedding model the re-ingest of an update is priced at."""


def score_retrieval(retrieved_sources: Sequence[str], relevant: Sequence[str], k: int) -> tuple[float, float, float]:
    """``(hit@k, reciprocal rank, nDCG@10)`` of retrieved sources against the relevant file names.

    Several chunks of one document count once, at the document's best rank.
    """
    ranked: list[str] = []
    for source in retrieved_sources:
        key = next((r for r in relevant if source_matches(source, r)), source)
        if key not in ranked:
            ranked.append(key)
    gains = {r: 1 for r in relevant}
    hit = float(any(r in gains for r in ranked[:k]))
    return hit, mrr_at(ranked, gains, k=len(ranked) or 1), ndcg_at(ranked, gains, 10)


class _Run:
    """One comparison: the workspace, the settings, and the shared state of the phases."""

    def __init__(
        self,
        workspace: Workspace,
        config: CompareConfig,
        prices: PriceTable,
        answerers: AnswererFactory,
        progress: ProgressCallback | None,
    ) -> None:
        self.workspace = workspace
        self.config = config
        self.prices = prices
        self.make_answerers = answerers
        self.progress = progress

    # -- scoring ------------------------------------------------------------------------------

    def _texts(self, citations: Sequence[Any]) -> list[str]:
        ids = [cid for c in citations for cid in (c.chunk_ids or (c.chunk_id,))]
        return [chunk.text for chunk in self.workspace.index.get_chunks(ids)] if ids else []

    def _block_texts(self, citations: Sequence[Any]) -> dict[int, str]:
        return {c.number: "\n".join(self._texts([c])) for c in citations}

    def _cost(self, approach: str, answer: Answer) -> float:
        model = self.config.projected_model
        projected = model if approach == "rag" else f"ft:{model}:ragtune::compare"
        return self.prices.cost(projected, answer.usage.input_tokens, answer.usage.output_tokens)

    def score(
        self, approach: str, item: EvalItem, answer: Answer, latency_ms: float, retrieved: list[str]
    ) -> QuestionResult:
        expect = item.expect
        text = knowledge_text(expect, answer.text)
        correct = is_correct(text, item.answer, f1_threshold=self.config.f1_threshold)
        behaviour: dict[str, bool] | None = None
        replaced: list[str] = []
        if expect is not None:
            behaviour = check(expect, answer.text)
            if expect.labels is not None:
                correct = label_correct(expect, text, item.answer)
            if any(c.origin == "extract" for c in answer.claims) and expect.answer_field():
                replaced = [expect.answer_field() or ""]
        cited = [c.source for c in answer.citations]
        citation = citation_correctness(cited, item.sources)
        passages = cited_passages(answer, [item.answer], item.sources, self._block_texts(answer.citations))
        result = QuestionResult(
            question=item.question,
            reference=item.answer,
            answer=answer.text,
            route=answer.route,
            exact_match=exact_match(text, item.answer),
            token_f1=token_f1(text, item.answer),
            correct=correct,
            citation_precision=citation.precision if citation else None,
            citation_recall=citation.recall if citation else None,
            faithfulness=faithfulness(
                text, self._texts(answer.citations), threshold=self.config.faithfulness_threshold
            ),
            context_support=faithfulness(
                text, self._texts(answer.context), threshold=self.config.faithfulness_threshold
            ),
            supported_share=answer.supported_share,
            claims=claim_checks(answer),
            citations=passages,
            cited_sources=cited,
            relevant_sources=list(item.sources),
            latency_ms=latency_ms,
            input_tokens=answer.usage.input_tokens,
            output_tokens=answer.usage.output_tokens,
            cost_usd=answer.usage.cost_usd or 0.0,
            knowledge_answer=text if text != answer.text else None,
            behaviour=behaviour,
            compliant=all(behaviour.values()) if behaviour is not None else None,
            replaced_values=replaced,
        )
        if approach != "finetuned" and item.sources:
            hit, rr, ndcg = score_retrieval(retrieved, item.sources, self.config.k)
            result = result.model_copy(
                update={"retrieved_sources": retrieved, "hit": hit, "reciprocal_rank": rr, "ndcg_at_10": ndcg}
            )
        return result

    # -- phases --------------------------------------------------------------------------------

    def retrieved_sources(self, question: str) -> list[str]:
        return [h.source for h in self.workspace.searcher().search(question, k=self.config.k)]

    def answer_all(
        self, phase: str, items: Sequence[EvalItem], answerers: Mapping[str, AnswerFn]
    ) -> dict[str, list[tuple[QuestionResult, Answer]]]:
        results: dict[str, list[tuple[QuestionResult, Answer]]] = {name: [] for name in answerers}
        total = len(items) * len(answerers)
        done = 0
        report(self.progress, phase, 0, total, "questions")
        for item in items:
            retrieved = self.retrieved_sources(item.question)
            for name, answer_fn in answerers.items():
                start = time.perf_counter()
                answer = answer_fn(item.question, item.expect) if item.expect else answer_fn(item.question)
                latency_ms = (time.perf_counter() - start) * 1000
                results[name].append((self.score(name, item, answer, latency_ms, retrieved), answer))
                done += 1
                report(self.progress, phase, done, total, f"{name}: {item.question[:40]}")
        return results

    def cost_stats(
        self, approach: str, pairs: list[tuple[QuestionResult, Answer]], train: TrainResult | None
    ) -> CostStats:
        n = max(len(pairs), 1)
        inputs = sum(q.input_tokens for q, _ in pairs) / n
        outputs = sum(q.output_tokens for q, _ in pairs) / n
        model = self.config.projected_model
        projected = model if approach == "rag" else f"ft:{model}:ragtune::compare"
        training = None
        if approach != "rag" and train is not None:
            training = self.prices.training_cost(model, train.training_tokens)
        return CostStats(
            training_seconds=train.seconds if approach != "rag" and train is not None else None,
            training_tokens=train.training_tokens if approach != "rag" and train is not None else None,
            model=next((a.model for _, a in pairs if a.model), "") or "",
            per_1k_queries_usd=sum(q.cost_usd for q, _ in pairs) / n * 1000,
            input_tokens_per_query=inputs,
            output_tokens_per_query=outputs,
            projected_model=projected,
            projected_per_1k_queries_usd=sum(self._cost(approach, a) for _, a in pairs) / n * 1000,
            training_usd=training,
            prices_as_of=self.prices.as_of,
        )


def _default_answerers(config: CompareConfig) -> AnswererFactory:
    def make(workspace: Workspace, finetuned: str | None) -> Mapping[str, AnswerFn]:
        from ragtune.evaluation.runners import chain_answerers

        return chain_answerers(workspace, finetuned, k=config.k)

    return make


def _default_trainer(config: CompareConfig, expect: Expect | None = None) -> Trainer:
    calls: list[str] = []

    def train(
        workspace: Workspace, paths: Sequence[str | Path], exclude: set[str], progress: ProgressCallback | None
    ) -> TrainResult:
        from ragtune.evaluation.runners import COMPARE_MODEL, train_local

        name = COMPARE_MODEL if not calls else f"{COMPARE_MODEL}-{len(calls) + 1}"
        calls.append(name)
        return train_local(
            workspace,
            paths,
            exclude,
            progress,
            name=name,
            epochs=config.train_epochs,
            expect=expect,
            train_file=config.train_file,
            with_context=config.train_context,
            k=min(config.train_context_k, config.k),
        )

    return train


def _check(config: CompareConfig, workspace: Workspace) -> None:
    """Fail before any work on an unknown approach or an unregistered model."""
    from ragtune.errors import ConfigError

    unknown = [a for a in config.approaches if a not in APPROACHES]
    if unknown or not config.approaches:
        raise ConfigError(f"Unknown approaches {unknown}; choose from {', '.join(APPROACHES)}.")
    if config.model is not None and _needs_model(config):
        workspace.registry.get(config.model)  # a clear error for an unknown name


def _needs_model(config: CompareConfig) -> bool:
    return any(a in ("finetuned", "hybrid") for a in config.approaches)


def _ingest(run: _Run, corpus: Sequence[str | Path], setup: CompareSetup) -> None:
    from ragtune.ingest import sync_paths

    started = time.perf_counter()
    ingest = sync_paths(run.workspace, list(corpus), progress=run.progress)
    setup.documents = ingest.added + ingest.updated + ingest.unchanged
    setup.chunks = run.workspace.index.stats().chunks
    setup.ingest_seconds = round(time.perf_counter() - started, 3)
    setup.ingest_errors = [e.model_dump() for e in ingest.errors]


def _finetune(
    run: _Run, corpus: Sequence[str | Path], exclude: set[str], train_fn: Trainer, setup: CompareSetup
) -> tuple[str | None, TrainResult | None]:
    """``(model name, training)`` of the fine-tuned approaches: the given model (not trained) or a trained one."""
    config = run.config
    if not _needs_model(config):
        return None, None
    if config.model is not None:
        setup.finetune = {"model": config.model, "trained": False}
        return config.model, None
    train = train_fn(run.workspace, list(corpus), exclude, run.progress)
    setup.finetune = {"trained": True, **train.model_dump()}
    return train.model, train


def _approach_result(
    run: _Run, name: str, pairs: list[tuple[QuestionResult, Answer]], train: TrainResult | None, update: Any
) -> ApproachResult:
    scored = [q for q, _ in pairs]
    return ApproachResult(
        approach=name,
        model=next((a.model for _, a in pairs if a.model), "") or "",
        quality=quality_scores(scored),
        retrieval=retrieval_scores(scored, run.config.k) if name != "finetuned" else None,
        latency=latency_stats([q.latency_ms for q in scored]),
        cost=run.cost_stats(name, pairs, train),
        update=update,
        behaviour=behaviour_scores(scored),
        questions=scored,
    )


def compare(
    workspace: Workspace,
    corpus: Sequence[str | Path],
    items: Sequence[EvalItem],
    *,
    new_facts: Sequence[str | Path] = (),
    config: CompareConfig | None = None,
    prices: PriceTable | None = None,
    answerers: AnswererFactory | None = None,
    trainer: Trainer | None = None,
    progress: ProgressCallback | None = None,
) -> ComparisonResults:
    """Run the comparison and return every number (see the module docs for the phases).

    Args:
        workspace: the store to ingest into (use a fresh one: the comparison adds and retrains).
        corpus: files and folders of the corpus.
        items: evaluation questions; those with ``update=True`` are used only in the update phase.
        new_facts: documents with the facts the update questions ask about (no update phase without them).
        config: approaches, model, k, thresholds and the projected price model.
        prices: price table (default: :meth:`PriceTable.default`).
        answerers: builds the answer function per approach (default: ragtune's chain forced to each route).
        trainer: fine-tunes a model from documents (default: questions generated with the local model, local LoRA).
        progress: called per step of each phase (``ingest``, ``finetune``, ``answer``, ``update``).

    Raises:
        ConfigError: an unknown approach, or a ``model`` that is not registered.
    """
    from ragtune.llm.pricing import PriceTable

    config = config or CompareConfig()
    _check(config, workspace)
    run = _Run(workspace, config, prices or PriceTable.default(), answerers or _default_answerers(config), progress)
    train_fn = trainer or _default_trainer(config, training_expect(items))
    questions = [i for i in items if not i.update]
    update_items = [i for i in items if i.update]
    exclude = {q.question for q in items}
    setup = CompareSetup(
        approaches=list(config.approaches),
        corpus=[str(p) for p in corpus],
        new_facts=[str(p) for p in new_facts],
        questions=len(questions),
        update_questions=len(update_items),
        k=config.k,
        projected_model=config.projected_model,
        expect=_expect_summary(items),
        updates_per_month=config.updates_per_month,
    )
    started = time.perf_counter()
    _ingest(run, corpus, setup)
    finetuned, train = _finetune(run, corpus, exclude, train_fn, setup)

    answer_fns = {
        name: fn for name, fn in run.make_answerers(workspace, finetuned).items() if name in config.approaches
    }
    answered = run.answer_all("answer", questions, answer_fns)

    updates: dict[str, UpdateStats] = {}
    retrained: dict[str, TrainResult] = {}
    if new_facts and update_items:
        updates = _update_phase(
            run, answer_fns, update_items, list(corpus), list(new_facts), exclude, train_fn, retrained
        )
        setup.update = {name: u.details for name, u in updates.items()}

    approaches = {
        name: _approach_result(run, name, answered[name], train, updates.get(name)) for name in config.approaches
    }
    setup.seconds = round(time.perf_counter() - started, 3)
    pick = recommend(
        approaches,
        updates_per_month=config.updates_per_month,
        training=_training_usd(run, train),
        retrain=_training_usd(run, retrained.get("finetuned")) if retrained else None,
    )
    return ComparisonResults.build(approaches, setup, pick)


def training_expect(items: Sequence[EvalItem]) -> Expect | None:
    """The requirement training examples are rendered to: the most common ``expect`` of the evaluation lines."""
    counts: dict[str, tuple[int, Expect]] = {}
    for item in items:
        if item.expect is not None:
            key = item.expect.model_dump_json()
            n, _ = counts.get(key, (0, item.expect))
            counts[key] = (n + 1, item.expect)
    if not counts:
        return None
    return max(counts.values(), key=lambda pair: pair[0])[1]


def _expect_summary(items: Sequence[EvalItem]) -> dict[str, Any] | None:
    expected = [i for i in items if i.expect is not None and not i.update]
    main = training_expect(items)
    if not expected or main is None:
        return None
    return {
        "lines": len(expected),
        "distinct": len({i.expect.model_dump_json() for i in expected if i.expect is not None}),
        "training": main.model_dump(by_alias=True, exclude_defaults=True),
    }


def _training_usd(run: _Run, train: TrainResult | None) -> float | None:
    if train is None:
        return None
    return run.prices.training_cost(run.config.projected_model, train.training_tokens)


def _embedding_usd(run: _Run, paths: Sequence[str | Path]) -> float:
    """Embedding the new documents at the API embedding model's price (tokens estimated as characters / 4)."""
    chars = 0
    for path in paths:
        root = Path(path)
        files = [root] if root.is_file() else [f for f in root.rglob("*") if f.is_file()]
        chars += sum(f.stat().st_size for f in files)
    return run.prices.cost(run.config.embedding_model, chars // 4, 0)


def _correct(pairs: list[tuple[QuestionResult, Any]]) -> int:
    return sum(1 for q, _ in pairs if q.correct)


def _update_phase(
    run: _Run,
    answer_fns: Mapping[str, AnswerFn],
    items: list[EvalItem],
    corpus: list[str | Path],
    new_facts: list[str | Path],
    exclude: set[str],
    train_fn: Trainer,
    retrained: dict[str, TrainResult] | None = None,
) -> dict[str, UpdateStats]:
    """Measure how long each approach takes to answer facts added after the first run."""
    from ragtune.ingest import sync_paths

    before = run.answer_all("update: before", items, answer_fns)
    stats: dict[str, UpdateStats] = {}

    started = time.perf_counter()
    ingest = sync_paths(run.workspace, new_facts, progress=run.progress)
    ingest_seconds = time.perf_counter() - started
    retrieving = {n: fn for n, fn in answer_fns.items() if n in ("rag", "hybrid")}
    after_ingest = run.answer_all("update: after re-ingest", items, retrieving) if retrieving else {}
    for name in retrieving:
        stats[name] = UpdateStats(
            method="re-ingest",
            seconds=ingest_seconds,
            new_facts=len(items),
            answered_before=_correct(before[name]),
            answered_after=_correct(after_ingest[name]),
            usd=_embedding_usd(run, new_facts),
            details={"documents_added": ingest.added, "chunks_added": ingest.chunks_added},
        )

    if "finetuned" in answer_fns:
        if run.config.model is not None:
            log.info("update phase: %s is a given model; it is retrained on the new facts too", run.config.model)
        retrain = train_fn(run.workspace, [*corpus, *new_facts], exclude, run.progress)
        if retrained is not None:
            retrained["finetuned"] = retrain
        updated = run.make_answerers(run.workspace, retrain.model)
        after = run.answer_all("update: after retrain", items, {"finetuned": updated["finetuned"]})
        stats["finetuned"] = UpdateStats(
            method="retrain",
            seconds=retrain.seconds,
            new_facts=len(items),
            answered_before=_correct(before["finetuned"]),
            answered_after=_correct(after["finetuned"]),
            usd=_training_usd(run, retrain),
            details={"model": retrain.model, "examples": retrain.examples, "training_tokens": retrain.training_tokens},
        )
    return stats


__all__ = [
    "AnswerFn",
    "AnswererFactory",
    "CompareConfig",
    "TrainResult",
    "Trainer",
    "compare",
    "score_retrieval",
]
