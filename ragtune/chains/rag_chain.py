"""The chain: route the question, then retrieve and/or generate with the base or fine-tuned model.

Routes:

* ``rag``: retrieve + base model;
* ``finetuned``: the fine-tuned model alone;
* ``hybrid``: retrieve + fine-tuned model, sentences without a valid citation marked uncited;
* ``direct``: the base model alone.

Without a fine-tuned model, ``finetuned`` and ``hybrid`` run on the base model and the
decision's reason says so. One generator implements a run: ``invoke`` drains it, ``stream``
yields its tokens and then the final :class:`~ragtune.chains.answer.Answer`; the async twins
step the same generator in a context-copying worker thread.

Tracing: inside the chain's run, the router is a child chain run, every search is a child
retriever run (``on_retriever_start/end`` with the documents, whether the router or the chain
searched), and synthesis is a child chain run named ``synthesize`` whose model calls are
chat-model runs. LangSmith, Langfuse, any callback handler and ``astream_events(version="v2")``
see them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Literal, Union, cast

from langchain_core.callbacks import CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_callback_manager_for_config,
    patch_config,
    run_in_executor,
)
from pydantic import BaseModel, ConfigDict, Field

from ragtune.chains.answer import NOT_FOUND, Answer, Citation
from ragtune.chains.citations import cited_numbers, clean_citations, resolve, segments
from ragtune.chains.context import ContextBlock, ContextOptions, assemble
from ragtune.chains.grounding.bound import default_verifier
from ragtune.chains.grounding.extract import ExtractOptions
from ragtune.chains.grounding.likelihood import QuestionLikelihood
from ragtune.chains.grounding.policy import Grounding, apply_grounding, is_not_found
from ragtune.chains.grounding.verifier import EmbeddingSimilarity, Verifier
from ragtune.chains.models import ChainModel
from ragtune.chains.prompt import Prompts
from ragtune.chains.synthesis import MODES, ExtractSynthesizer, Meter, Synthesizer, call_model
from ragtune.chains.synthesis.base import SynthesisResult
from ragtune.embeddings.base import Embedder
from ragtune.errors import ConfigError
from ragtune.routing.decision import CHAIN_ROUTES, DIRECT, FINETUNED, HYBRID, RAG, RouteDecision
from ragtune.routing.router import Router, SearchRetriever
from ragtune.schema import Hit

if TYPE_CHECKING:
    from ragtune.llm.pricing import PriceTable

ChainInput = Union[str, dict[str, Any]]
ChainOutput = Union[str, Answer]
Retrieve = Callable[[str], list[Hit]]

_DONE = object()


class ChainConfig(BaseModel):
    """How the chain synthesises answers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["auto", "stuff", "refine", "map_reduce", "extract"] = "stuff"
    """``stuff`` (one prompt), ``refine`` or ``map_reduce`` (context larger than the window),
    ``extract`` (quote the best passage sentences; no generator call), or ``auto`` (see
    :func:`resolve_mode`)."""
    context: ContextOptions = Field(default_factory=ContextOptions)
    """Dedupe, merge and token budget of the context."""
    grounding: Grounding = "strict"
    """What happens to claims the shown passages do not support: ``off`` (nothing is checked),
    ``annotate`` (marked ``[unsupported]``) or ``strict`` (removed; with nothing left, the answer
    quotes the passages or says the documents do not contain it)."""
    extract: ExtractOptions = Field(default_factory=ExtractOptions)
    """Sentences, length and relevance of extractive answers (``mode="extract"`` and the ``strict`` fallback)."""


def resolve_mode(mode: str, base_model_id: str, grounding: str) -> str:
    """``auto``: ``extract`` for the packaged SmolLM2-135M under ``strict`` grounding, else ``stuff``.

    The 135M model's drafts rarely survive the strict check, which then quotes the passages
    anyway: generating them costs seconds and buys nothing. Any other model, or a policy that
    shows the model's own words, generates.
    """
    if mode != "auto":
        return mode
    from ragtune.llm.registry import LOCAL_MODEL_ID

    return "extract" if base_model_id == LOCAL_MODEL_ID and grounding == "strict" else "stuff"


MAX_QUESTION_CHARS = 20_000
"""Longest question accepted; longer input is rejected before any model runs."""


def _check_question(question: str) -> str:
    if not question.strip():
        raise ConfigError("The question is empty; ask something, e.g. 'How long is the refund window?'")
    if len(question) > MAX_QUESTION_CHARS:
        msg = (
            f"The question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}. "
            "Shorten it, or ingest the long text as a document and ask about it."
        )
        raise ConfigError(msg)
    return question


def _parse(value: ChainInput) -> tuple[str, str | None]:
    if isinstance(value, str):
        return _check_question(value), None
    if isinstance(value, dict):
        question = value.get("question", value.get("query", value.get("input")))
        route = value.get("route")
        if isinstance(question, str) and question.strip():
            _check_question(question)
            if route in (None, "", "auto"):
                return question, None
            if route not in CHAIN_ROUTES:
                msg = f"Unknown route {route!r}; use auto, {', '.join(CHAIN_ROUTES)}"
                raise ConfigError(msg)
            return question, str(route)
    msg = f"Chain input must be a question or {{'question': ..., 'route': ...}}; got {value!r}"
    raise ConfigError(msg)


class RagChain(Runnable[ChainInput, Answer]):
    """Routes each question and answers it with citations, usage and the reason for the route.

    Args:
        base: the base model (``rag`` and ``direct`` routes).
        finetuned: the fine-tuned model (``finetuned`` and ``hybrid``); ``None`` falls back to ``base``.
        router: decides the route; ``None`` sends every question to ``rag`` unless the input names a route.
        retriever: ``query -> hits`` for the retrieval routes (e.g. ``searcher.search``).
        prompts: override any prompt (see :class:`~ragtune.chains.prompt.Prompts`).
        config: synthesis mode and context options.
        prices: a :class:`~ragtune.llm.PriceTable` for cost estimates (default: the packaged one).
        embedder: enables embedding-cosine dedupe when ``config.context.cosine`` is set, and is the
            default verifier's and extractive mode's model.
        verifier: checks claims against the shown passages (default:
            :func:`~ragtune.chains.grounding.default_verifier` on ``embedder``: embedding similarity, or
            word overlap without one, and each claim's values bound to its own subject).
        likelihood: settles near ties between passages in extractive answers (``extract`` mode and
            the ``strict`` fallback); ``build_chain`` passes the packaged SmolLM2's
            :class:`~ragtune.chains.grounding.likelihood.LocalQuestionLikelihood`. ``None``: not asked.

    Example:
        >>> chain = RagChain(base=ChainModel.of(LocalChatModel()), router=router, retriever=searcher.search)
        >>> answer = chain.invoke("How do I rotate the API key?")
        >>> for piece in chain.stream({"question": "Hi!", "route": "direct"}):
        ...     print(piece if isinstance(piece, str) else f"\\n[{piece.route}]", end="")
    """

    def __init__(
        self,
        *,
        base: ChainModel,
        finetuned: ChainModel | None = None,
        router: Router | None = None,
        retriever: Retrieve | None = None,
        prompts: Prompts | None = None,
        config: ChainConfig | None = None,
        prices: PriceTable | None = None,
        embedder: Embedder | None = None,
        verifier: Verifier | None = None,
        likelihood: QuestionLikelihood | None = None,
    ) -> None:
        self.base = base
        self.finetuned = finetuned
        self.router = router
        self.retriever = retriever
        self.prompts = prompts or Prompts()
        self.config = config or ChainConfig()
        mode = resolve_mode(self.config.mode, base.model_id, self.config.grounding)
        if mode != self.config.mode:
            self.config = self.config.model_copy(update={"mode": mode})
        if prices is None:
            from ragtune.llm.pricing import PriceTable

            prices = PriceTable.default()
        self.prices: PriceTable = prices
        self.embedder = embedder
        self.similarity = EmbeddingSimilarity(embedder) if embedder is not None else None
        self.verifier: Verifier = verifier or default_verifier(self.similarity)
        self.likelihood = likelihood
        self.synthesizer: Synthesizer
        if self.config.mode == "extract":
            self.synthesizer = ExtractSynthesizer(
                self.prompts,
                self.config.context,
                similarity=self.similarity,
                extract=self.config.extract,
                likelihood=likelihood,
            )
        else:
            self.synthesizer = MODES[self.config.mode](self.prompts, self.config.context)

    # -- one run, as a generator --------------------------------------------------------------------
    def _decide(self, question: str, forced: str | None, meter: Meter) -> RouteDecision:
        if forced is not None:
            return RouteDecision(route=forced, confidence=1.0, reason="route chosen by the caller", strategy="forced")
        if self.router is None:
            return RouteDecision(
                route=RAG, confidence=1.0, reason="no router: every question retrieves", strategy="none"
            )
        started = time.perf_counter()
        decision = self.router.invoke(question, meter.config)  # a child run; its searches are retriever runs
        meter.step("route", (time.perf_counter() - started) * 1000)
        return decision

    def _target(self, decision: RouteDecision) -> str:
        route = decision.route
        if self.router is not None and route in self.router.routes:
            route = self.router.routes[route].runs
        if route not in CHAIN_ROUTES:
            msg = f"Route {decision.route!r} runs {route!r}, not a chain route; set its target to one of {CHAIN_ROUTES}"
            raise ConfigError(msg)
        return route

    def _model_for(self, route: str, decision: RouteDecision) -> tuple[ChainModel, RouteDecision]:
        if route not in (FINETUNED, HYBRID):
            return self.base, decision
        if self.finetuned is not None:
            return self.finetuned, decision
        note = f"No 'finetuned' model is registered, so the {route} route ran on 'base'."
        return self.base, decision.model_copy(update={"reason": f"{decision.reason} {note}".strip()})

    def _retrieve(self, question: str, decision: RouteDecision, meter: Meter) -> list[Hit]:
        if decision.hits:
            return list(decision.hits)
        if self.retriever is None:
            raise ConfigError("The rag and hybrid routes need a retriever: pass retriever=searcher.search")
        started = time.perf_counter()
        hits = SearchRetriever(search=self.retriever).hits(question, meter.config)  # a child retriever run
        meter.step("retrieve", (time.perf_counter() - started) * 1000)
        return hits

    def _synthesize(
        self, question: str, blocks: list[ContextBlock], model: ChainModel, meter: Meter
    ) -> Generator[str, None, SynthesisResult]:
        """The synthesizer's run as a child chain run ``synthesize``; its model calls nest under it."""
        manager = get_callback_manager_for_config(ensure_config(meter.config))
        inputs = {"question": question, "mode": self.config.mode, "passages": [b.text for b in blocks]}
        run = manager.on_chain_start(None, inputs, name="synthesize")
        outer = meter.config
        meter.config = patch_config(outer, callbacks=run.get_child())
        try:
            result = yield from self.synthesizer.run(question, blocks, model, meter)
        except BaseException as exc:
            run.on_chain_error(exc)
            raise
        finally:
            meter.config = outer
        run.on_chain_end({"text": result.text, "shown": sorted({b.number for b in result.shown})})
        return result

    def run(self, value: ChainInput, config: RunnableConfig | None = None) -> Generator[str, None, Answer]:
        """Yield answer tokens and return the :class:`Answer` (the one implementation of a run)."""
        question, forced = _parse(value)
        meter = Meter(self.prices, config)
        decision = self._decide(question, forced, meter)
        route = self._target(decision)
        model, decision = self._model_for(route, decision)
        base: dict[str, Any] = {"question": question, "route": route, "decision": decision, "model": model.model_id}
        if decision.abstain:
            yield NOT_FOUND
            return Answer(text=NOT_FOUND, abstained=True, usage=meter.usage(), **base)
        if route in (DIRECT, FINETUNED):
            template = self.prompts.direct if route == DIRECT else self.prompts.finetuned
            prefix = ""
            if decision.not_found:
                prefix = NOT_FOUND + " "
                yield prefix
            text = yield from call_model(model, template.format_messages(question=question), meter, "generate")
            return Answer(text=prefix + text.strip(), unsourced=True, usage=meter.usage(), **base)
        hits = self._retrieve(question, decision, meter)
        if not hits:
            yield NOT_FOUND
            return Answer(text=NOT_FOUND, abstained=True, mode=self.config.mode, usage=meter.usage(), **base)
        blocks, duplicates = assemble(hits, self.config.context, embedder=self.embedder)
        result = yield from self._synthesize(question, blocks, model, meter)
        if self.config.mode == "extract":
            base["model"] = None  # no generator wrote it
        answer = self._answer(result, duplicates, meter, hybrid=route == HYBRID, **base)
        return self._ground(answer, result, meter, hybrid=route == HYBRID)

    def _ground(self, answer: Answer, result: SynthesisResult, meter: Meter, *, hybrid: bool) -> Answer:
        """The grounding post-step (see :func:`~ragtune.chains.grounding.apply_grounding`)."""
        started = time.perf_counter()
        grounded = apply_grounding(
            answer,
            result.shown,
            policy=self.config.grounding,
            verifier=self.verifier,
            similarity=self.similarity,
            extract=self.config.extract,
            hybrid=hybrid,
            likelihood=self.likelihood,
        )
        if self.config.grounding != "off":
            meter.step("verify", (time.perf_counter() - started) * 1000)
            grounded.usage = meter.usage()
        return grounded

    def _answer(
        self, result: SynthesisResult, duplicates: list[Any], meter: Meter, *, hybrid: bool, **base: Any
    ) -> Answer:
        shown: dict[int, Citation] = {}
        for block in result.shown:
            shown.setdefault(block.number, block.citation())
        text, invalid = clean_citations(result.text.strip(), set(shown))
        return Answer(
            text=text,
            mode=self.config.mode,
            citations=resolve(cited_numbers(text), shown),
            context=list(shown.values()),
            invalid_citations=list(dict.fromkeys(result.invalid_citations + invalid)),
            dropped_context=[*duplicates, *result.dropped],
            segments=segments(text, set(shown)) if hybrid else [],
            abstained=is_not_found(text),
            usage=meter.usage(),
            **base,
        )

    # -- runnable ------------------------------------------------------------------------------------
    @staticmethod
    def _child(run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> RunnableConfig:
        return patch_config(config, callbacks=run_manager.get_child())

    def _invoke(self, value: ChainInput, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Answer:
        generator = self.run(value, self._child(run_manager, config))
        while True:
            try:
                next(generator)
            except StopIteration as stop:
                return cast(Answer, stop.value)

    def _transform(
        self, values: Iterator[ChainInput], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[ChainOutput]:
        for value in values:
            answer = yield from self.run(value, self._child(run_manager, config))
            yield answer

    def invoke(self, input: ChainInput, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        """Answer one question (``str`` or ``{"question": ..., "route": ...}``)."""
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    def stream(  # type: ignore[override]
        self, input: ChainInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[ChainOutput]:
        """Yield the answer's tokens as they are generated, then the final :class:`Answer`."""
        transform = cast(Any, self._transform)
        yield from cast(Iterator[ChainOutput], self._transform_stream_with_config(iter([input]), transform, config))

    async def astream(  # type: ignore[override]
        self, input: ChainInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[ChainOutput]:
        """Async twin of :meth:`stream`: the same run, stepped in a worker thread."""
        iterator = self.stream(input, config, **kwargs)
        while True:
            item = await run_in_executor(config, next, iterator, _DONE)
            if item is _DONE:
                return
            yield cast(ChainOutput, item)

    # ainvoke and abatch: Runnable's defaults run invoke in a context-copying executor.


__all__ = ["MAX_QUESTION_CHARS", "ChainConfig", "ChainInput", "ChainOutput", "RagChain", "is_not_found", "resolve_mode"]
