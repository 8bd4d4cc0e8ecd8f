"""The router: stacked strategies, a no-confident-route policy, and retrieval-aware adjustments.

Order of a decision:

0. **One embedding**: every question is embedded once (a batch in one call, ``embed_queries``);
   the semantic strategy scores that vector, and the retriever searches with it
   (``retriever(query, query_vector=...)``), so routing adds no second embedding.
1. **Strategies**, in the order given (typically rules, then semantic, then llm): the first
   *confident* proposal wins. Non-confident proposals are kept for their scores.
2. **No confident route**: ``no_route="fallback"`` sends the query to ``fallback``;
   ``no_route="abstain"`` sends it to ``abstain_route`` (``rag``: retrieval runs and the answer
   may decline) with the weak-retrieval check forced on.
3. **Freshness**: a ``finetuned`` decision whose top retrieved documents are stale for the
   fine-tuned model (``stale_docs``) goes to ``rag`` instead.
4. **Retrieval confidence**: for ``rag``/``hybrid`` decisions, when the best retrieval similarity
   is under ``retrieval_threshold``, ``rag`` goes to ``direct`` (answer prefixed with "I could
   not find this in the documents") or abstains; ``hybrid`` goes to ``finetuned`` or abstains.
   With ``answerable_threshold``, a ``direct`` decision whose best retrieval similarity reaches
   it goes to ``rag``: the index answers it.

Hits retrieved during 3 and 4 (and the query vector) travel on the decision so the chain neither
searches nor embeds twice. Each search runs as a LangChain retriever (:class:`SearchRetriever`), a
child of the router's run: callbacks and ``astream_events`` see ``on_retriever_start/end`` with
the documents.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np
from langchain_core.callbacks import CallbackManagerForChainRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config
from pydantic import BaseModel, ConfigDict, Field

from ragtune.errors import ConfigError
from ragtune.retrievers.langchain import hit_to_langchain
from ragtune.routing.base import RoutingStrategy
from ragtune.routing.decision import DIRECT, FINETUNED, HYBRID, RAG, RouteDecision
from ragtune.routing.fitting import FitReport
from ragtune.routing.routes import RouteSet
from ragtune.routing.semantic import SemanticOptions, SemanticStrategy
from ragtune.schema import Hit

if TYPE_CHECKING:
    from ragtune.routing.rules import Rule

RouterInput = Union[str, dict[str, Any]]
Retrieve = Callable[..., list[Hit]]
"""``retriever(query) -> hits``; one taking ``query_vector=`` (``Searcher.search``) reuses the router's embedding."""
StaleDocs = Union[Callable[[], Iterable[str]], Iterable[str]]


class RouterConfig(BaseModel):
    """What the router does beyond its strategies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    no_route: Literal["fallback", "abstain"] = "fallback"
    """When no strategy is confident: go to ``fallback``, or run retrieval and let the answer abstain."""
    fallback: str = RAG
    """The route of the ``fallback`` policy."""
    abstain_route: str = RAG
    """The route of the ``abstain`` policy (it must retrieve)."""
    retrieval_threshold: float | None = None
    """Minimum best retrieval similarity (``1 - distance``) for ``rag``/``hybrid``; ``None`` = no check."""
    on_weak_retrieval: Literal["direct", "abstain"] = "abstain"
    """Weak retrieval: ``direct`` answers without documents and says so; ``abstain`` declines."""
    freshness_k: int = Field(default=2, ge=1)
    """How many top documents the freshness check looks at."""
    answerable_threshold: float | None = None
    """Best retrieval similarity at which the index answers the question: a ``direct`` decision goes to ``rag``."""


def retrieval_confidence(hits: Sequence[Hit]) -> float | None:
    """Best cosine similarity of the hits (``1 - distance``), else their best score; ``None`` without hits."""
    if not hits:
        return None
    similarities = [1.0 - h.distance for h in hits if h.distance is not None]
    return max(similarities) if similarities else max(h.score for h in hits)


def _takes_query_vector(retriever: Retrieve | None) -> bool:
    if retriever is None:
        return False
    try:
        parameters = inspect.signature(retriever).parameters.values()
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return False
    return any(p.name == "query_vector" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


class SearchRetriever(BaseRetriever):
    """A ``retriever(query) -> hits`` callable as a LangChain retriever, so each search traces as a child run.

    :meth:`hits` runs it under a parent's config and hands back the :class:`~ragtune.schema.Hit`
    objects; callbacks see the same hits as LangChain documents.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    search: Any
    """``search(query) -> hits`` (e.g. ``searcher.search``)."""
    takes_vector: bool = False
    """``search`` takes ``query_vector=`` (then a known query embedding is reused)."""

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        query_vector: Any = None,
        sink: list[Hit] | None = None,
    ) -> list[Document]:
        if self.takes_vector and query_vector is not None:
            found = list(self.search(query, query_vector=query_vector))
        else:
            found = list(self.search(query))
        if sink is not None:
            sink.extend(found)
        return [hit_to_langchain(h) for h in found]

    def hits(self, query: str, config: RunnableConfig | None = None, *, query_vector: Any = None) -> list[Hit]:
        """The hits of one search, run as a retriever under ``config`` (its callbacks see the documents)."""
        sink: list[Hit] = []
        self.invoke(query, config, query_vector=query_vector, sink=sink)
        return sink


def _question(value: RouterInput) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("question", "query", "input"):
            if isinstance(value.get(key), str):
                return str(value[key])
    msg = f"Router input must be a question string or a dict with 'question'; got {type(value).__name__}"
    raise ConfigError(msg)


class Router(Runnable[RouterInput, RouteDecision]):
    """Decides the route of each question; a LangChain runnable returning :class:`RouteDecision`.

    Args:
        routes: the routes the strategies choose among.
        strategies: tried in order; the first confident one decides.
        config: the no-confident-route policy and retrieval checks.
        retriever: ``query -> hits`` (e.g. ``searcher.search``) for the freshness and retrieval checks;
            when it takes ``query_vector=``, it searches with the router's own query embedding.
        stale_docs: doc ids the fine-tuned model is stale for, or a callable returning them
            (called per decision, so it can follow the index); see
            :func:`ragtune.finetune.freshness.stale_checker`.
        embedder: embeds each question once for every strategy and the retriever (default: the
            semantic strategy's embedder).

    Example:
        >>> router = Router(routes, [RulesStrategy(routes, rules), SemanticStrategy(routes, embedder)],
        ...                 config=RouterConfig(retrieval_threshold=0.3), retriever=searcher.search)
        >>> router.invoke("what does section 3 of the handbook say?").route
        'rag'
    """

    def __init__(
        self,
        routes: RouteSet,
        strategies: Sequence[RoutingStrategy],
        *,
        config: RouterConfig | None = None,
        retriever: Retrieve | None = None,
        stale_docs: StaleDocs | None = None,
        embedder: Any = None,
    ) -> None:
        if not strategies:
            raise ConfigError("A Router needs at least one strategy (rules, semantic or llm)")
        self.routes = routes
        self.strategies = list(strategies)
        self.config = config or RouterConfig()
        self.retriever = retriever
        self.stale_docs = stale_docs
        if embedder is None:
            embedder = next((getattr(s, "embedder", None) for s in self.strategies if s.uses_query_vectors), None)
        self.embedder = embedder
        self._retriever_takes_vector = _takes_query_vector(retriever)
        needs = {
            "retrieval_threshold": self.config.retrieval_threshold,
            "answerable_threshold": self.config.answerable_threshold,
        }
        for name, value in needs.items():
            if value is not None and retriever is None:
                raise ConfigError(f"{name} needs a retriever: pass retriever=searcher.search")

    @classmethod
    def semantic(cls, routes: RouteSet, embedder: Any, **options: Any) -> Router:
        """A router with one semantic strategy (keyword options go to :class:`Router`)."""
        return cls(routes, [SemanticStrategy(routes, embedder)], **options)

    # -- deciding ---------------------------------------------------------------------------------
    def route(self, query: str, *, query_vector: Any = None, config: RunnableConfig | None = None) -> RouteDecision:
        """The decision for one query (``query_vector``: its ``embed_query`` embedding, when already known).

        ``config``: the parent run's config; the router's searches run as its child retrievers.
        """
        vectors = None if query_vector is None else np.asarray(query_vector, dtype=np.float32)[None, :]
        return self.route_many([query], query_vectors=vectors, config=config)[0]

    def embed(self, queries: Sequence[str]) -> np.ndarray | None:
        """One embedding per query, in one call, when a strategy or the retriever uses it (else ``None``)."""
        wanted = any(s.uses_query_vectors for s in self.strategies) or self._retriever_takes_vector
        if not queries or self.embedder is None or not wanted:
            return None
        return np.asarray(self.embedder.embed_queries(list(queries)), dtype=np.float32)

    def route_many(
        self, queries: Sequence[str], *, query_vectors: Any = None, config: RunnableConfig | None = None
    ) -> list[RouteDecision]:
        """Decisions for many queries: embedded in one call, scored in one batch by the semantic strategy.

        ``query_vectors`` (one ``embed_queries`` row per query) skips the embedding call; ``config``
        is the parent run's config (searches run as its child retrievers).
        """
        started = time.perf_counter()
        vectors = self.embed(queries) if query_vectors is None else np.asarray(query_vectors, dtype=np.float32)
        embedding_ms = (time.perf_counter() - started) * 1000 / max(len(queries), 1) if query_vectors is None else 0.0
        pending = list(range(len(queries)))
        decided: list[RouteDecision | None] = [None] * len(queries)
        best_guess: list[RouteDecision | None] = [None] * len(queries)
        for strategy in self.strategies:
            if not pending:
                break
            subset = None if vectors is None or not strategy.uses_query_vectors else vectors[pending]
            proposals = strategy.propose_many([queries[i] for i in pending], subset)
            still = []
            for i, proposal in zip(pending, proposals, strict=True):
                if proposal is not None and proposal.confident:
                    decided[i] = proposal
                else:
                    still.append(i)
                    if proposal is not None and best_guess[i] is None:
                        best_guess[i] = proposal
            pending = still
        for i in pending:
            decided[i] = self._no_route(best_guess[i])
        adjusted = []
        for i, (query, decision) in enumerate(zip(queries, decided, strict=True)):
            assert decision is not None
            vector = None if vectors is None else vectors[i]
            adjusted.append(self._adjust(query, decision.model_copy(update={"query_vector": vector}), config))
        per_query_ms = (time.perf_counter() - started) * 1000 / max(len(queries), 1)
        timing = {"latency_ms": per_query_ms, "embedding_ms": embedding_ms}
        return [d.model_copy(update=timing) for d in adjusted]

    def _no_route(self, guess: RouteDecision | None) -> RouteDecision:
        policy = self.config.no_route
        target = self.config.fallback if policy == "fallback" else self.config.abstain_route
        scores = guess.scores if guess else {}
        why = guess.reason if guess else "no strategy had an opinion"
        if policy == "fallback":
            reason = f"{why}; no confident route, so the fallback route {target!r}"
        else:
            reason = f"{why}; no confident route, so retrieval runs and the answer may abstain"
        return RouteDecision(
            route=target,
            confidence=guess.confidence if guess else 0.0,
            scores=scores,
            reason=reason,
            strategy=f"{guess.strategy if guess else 'none'}+{policy}",
            confident=False,
        )

    def _retrieve(self, query: str, decision: RouteDecision, config: RunnableConfig | None) -> list[Hit]:
        if decision.hits or self.retriever is None:
            return list(decision.hits)
        retrieval = SearchRetriever(search=self.retriever, takes_vector=self._retriever_takes_vector)
        return retrieval.hits(query, config, query_vector=decision.query_vector)

    def _stale(self) -> set[str]:
        if self.stale_docs is None:
            return set()
        found = self.stale_docs() if callable(self.stale_docs) else self.stale_docs
        return set(found)

    def _adjust(self, query: str, decision: RouteDecision, config: RunnableConfig | None) -> RouteDecision:
        cfg = self.config
        if decision.route == FINETUNED and self.stale_docs is not None and self.retriever is not None:
            stale = self._stale()
            if stale:
                hits = self._retrieve(query, decision, config)
                top_docs = list(dict.fromkeys(h.doc_id for h in hits))[: cfg.freshness_k]
                changed = [d for d in top_docs if d in stale]
                decision = decision.model_copy(update={"hits": hits})
                if changed:
                    decision = decision.with_route(
                        RAG,
                        reason=f"Sent to 'rag': the fine-tuned model is stale for top documents {changed}.",
                        strategy=f"{decision.strategy}+freshness",
                    )
        if decision.route == DIRECT and cfg.answerable_threshold is not None and self.retriever is not None:
            hits = self._retrieve(query, decision, config)
            best = retrieval_confidence(hits)
            decision = decision.model_copy(update={"retrieval_score": best})
            if best is not None and best >= cfg.answerable_threshold:
                return decision.with_route(
                    RAG,
                    reason=f"Sent to 'rag': the index answers it (best similarity {best:.3f} >= "
                    f"{cfg.answerable_threshold:.3f}).",
                    strategy=f"{decision.strategy}+retrieval",
                    hits=hits,
                )
            return decision
        check = cfg.retrieval_threshold is not None or (cfg.no_route == "abstain" and not decision.confident)
        if decision.route in (RAG, HYBRID) and self.retriever is not None:
            hits = self._retrieve(query, decision, config)  # the chain reuses them: one search, one embedding
            best = retrieval_confidence(hits)
            decision = decision.model_copy(update={"hits": hits, "retrieval_score": best})
        if decision.route in (RAG, HYBRID) and check and self.retriever is not None:
            best = decision.retrieval_score
            floor = cfg.retrieval_threshold if cfg.retrieval_threshold is not None else float("-inf")
            if best is None or best < floor:
                shown = "no hits" if best is None else f"best similarity {best:.3f} < {floor:.3f}"
                if cfg.on_weak_retrieval == "abstain":
                    decision = decision.with_route(
                        decision.route,
                        reason=f"Weak retrieval ({shown}): the answer abstains.",
                        strategy=f"{decision.strategy}+retrieval",
                        abstain=True,
                    )
                else:
                    target = DIRECT if decision.route == RAG else FINETUNED
                    decision = decision.with_route(
                        target,
                        reason=f"Weak retrieval ({shown}): answered without documents, saying so.",
                        strategy=f"{decision.strategy}+retrieval",
                        not_found=True,
                    )
        return decision

    # -- runnable ---------------------------------------------------------------------------------
    def invoke(self, input: RouterInput, config: RunnableConfig | None = None, **kwargs: Any) -> RouteDecision:
        """The decision for one question, traced as a chain run whose searches are child retriever runs."""
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    def _invoke(
        self, value: RouterInput, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> RouteDecision:
        return self.route(_question(value), config=patch_config(config, callbacks=run_manager.get_child()))

    def batch(
        self,
        inputs: list[RouterInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[RouteDecision]:
        if return_exceptions or isinstance(config, list):
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)  # type: ignore[call-overload,no-any-return]
        return self.route_many([_question(v) for v in inputs], config=config)

    def route_batch(self, queries: Sequence[str]) -> list[RouteDecision]:
        """Alias of :meth:`route_many`: the whole batch is embedded in one call."""
        return self.route_many(queries)

    # -- fitting and evaluation --------------------------------------------------------------------
    def fit(self, labelled: Iterable[Any], **options: Any) -> list[FitReport]:
        """Fit every semantic strategy on labelled queries (see :meth:`SemanticStrategy.fit`).

        ``labelled`` holds ``{"query", "route"}`` dicts or ``(query, route)`` pairs. The fallback
        route of the ``fallback`` policy counts as right for its own queries.
        """
        from ragtune.routing.evaluate import as_examples

        examples = as_examples(labelled)
        queries = [e.query for e in examples]
        labels = [e.route for e in examples]
        options.setdefault("fallback", self.config.fallback if self.config.no_route == "fallback" else None)
        reports = [s.fit(queries, labels, **options) for s in self.strategies if isinstance(s, SemanticStrategy)]
        if not reports:
            raise ConfigError("Nothing to fit: the router has no semantic strategy")
        return reports

    def evaluate(self, labelled: Iterable[Any], **options: Any) -> Any:
        """Accuracy, confusion matrix and (with qualities and costs) regret; see :func:`evaluate_router`."""
        from ragtune.routing.evaluate import evaluate_router

        return evaluate_router(self, labelled, **options)


def build_router(
    routes: RouteSet | str | Any | None = None,
    *,
    embedder: Any = None,
    rules: Sequence[Rule] = (),
    llm: Any = None,
    semantic: SemanticOptions | Mapping[str, Any] | None = None,
    config: RouterConfig | None = None,
    retriever: Retrieve | None = None,
    stale_docs: StaleDocs | None = None,
) -> Router:
    """A router stacking rules, then semantic (when an embedder is given), then llm (when a model is given).

    Args:
        routes: a :class:`RouteSet`, the JSON shape, a file path, or ``None`` for the packaged defaults.
        embedder: enables the semantic strategy; ``semantic`` holds its options: a
            :class:`~ragtune.routing.semantic.SemanticOptions` or the same fields as a mapping.
        rules: :class:`~ragtune.routing.rules.Rule` overrides, checked first.
        llm: a chat model: enables the llm strategy, asked when the earlier ones are not confident.
        config, retriever, stale_docs: see :class:`Router`.
    """
    from ragtune.routing.llm import LLMStrategy
    from ragtune.routing.routes import as_route_set
    from ragtune.routing.rules import RulesStrategy

    route_set = as_route_set(routes)
    strategies: list[RoutingStrategy] = []
    if rules:
        strategies.append(RulesStrategy(route_set, rules))
    if embedder is not None:
        options = semantic.strategy_kwargs() if isinstance(semantic, SemanticOptions) else dict(semantic or {})
        strategies.append(SemanticStrategy(route_set, embedder, **options))
    if llm is not None:
        strategies.append(LLMStrategy(route_set, llm))
    return Router(route_set, strategies, config=config, retriever=retriever, stale_docs=stale_docs)


__all__ = [
    "Retrieve",
    "Router",
    "RouterConfig",
    "RouterInput",
    "SearchRetriever",
    "StaleDocs",
    "build_router",
    "retrieval_confidence",
]
