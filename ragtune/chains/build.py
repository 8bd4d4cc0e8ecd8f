"""``build_chain``: a ready :class:`RagChain` over a workspace, its registry and its index.

The router it builds (:func:`build_workspace_router`, also behind ``ragtune route``) decides with
what the store really has: routes that need a fine-tuned model are left out while none is
registered, retrieval confidence takes part in every decision, and the fine-tuned model's
freshness is checked in the tenant it learned from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ragtune.chains.models import ChainModel
from ragtune.chains.options import DEFAULT_MAX_NEW_TOKENS, ChainOptions
from ragtune.chains.prompt import Prompts
from ragtune.chains.rag_chain import ChainConfig, RagChain
from ragtune.retrievers.search import SearchOptions
from ragtune.routing.decision import FINETUNED, HYBRID
from ragtune.routing.router import Router, RouterConfig, StaleDocs, build_router
from ragtune.routing.routes import Route, RouteSet, as_route_set
from ragtune.routing.semantic import SemanticOptions
from ragtune.workspace import Workspace

if TYPE_CHECKING:
    from ragtune.llm.pricing import PriceTable
    from ragtune.routing.rules import Rule

log = logging.getLogger(__name__)

Routes = Union[RouteSet, Sequence[Route], str, Path, None]
"""A :class:`RouteSet`, routes, a JSON file, or ``None`` for the packaged routes."""

WEAK_RETRIEVAL = 0.3
"""Best MiniLM similarity under which the index does not answer: ``rag`` answers without documents, saying so."""
ANSWERABLE_RETRIEVAL = WEAK_RETRIEVAL
"""Best MiniLM similarity at which the index answers: a ``direct`` decision goes to ``rag``.

The same bar as :data:`WEAK_RETRIEVAL`: what the index can answer, it answers. Off-topic requests
score at most ~0.2 against the sample corpus ("Write a haiku", "What is the capital of France?"),
while questions whose answer is in the index score from ~0.3 up (on the SQuAD benchmark, factual
questions at 0.30-0.35 that the router took for general knowledge were answered uncited and wrong
at the former 0.35); and a wrong ``rag`` costs little under strict grounding (a quote or "not in the
documents"), whereas a wrong ``direct`` is an uncited, unchecked answer."""
DEFAULT_ROUTER_CONFIG = RouterConfig(
    retrieval_threshold=WEAK_RETRIEVAL, on_weak_retrieval="direct", answerable_threshold=ANSWERABLE_RETRIEVAL
)
"""The decision ``build_chain`` and ``ragtune route`` make without a ``router_config``."""


def registry_staleness(workspace: Workspace, entry: Any) -> Callable[[], set[str]]:
    """A freshness hook for ``entry``: the tenant-aware :func:`ragtune.finetune.freshness.stale_documents`."""
    from ragtune.routing.freshness import stale_documents

    def stale() -> set[str]:
        return set(stale_documents(entry, workspace.index))

    return stale


def runnable_routes(routes: RouteSet, *, finetuned: bool) -> RouteSet:
    """``routes`` without those that run ``finetuned``/``hybrid`` when no fine-tuned model is registered.

    Such routes would run on ``base`` anyway: left in, they only take questions from ``rag`` and
    ``direct``. A route set made only of them is kept whole (there is nothing else to route to).
    """
    if finetuned:
        return routes
    kept = [r for r in routes if r.runs not in (FINETUNED, HYBRID)]
    if not kept or len(kept) == len(routes):
        return routes
    return RouteSet.of(*kept)


def build_workspace_router(
    workspace: Workspace,
    routes: Routes = None,
    *,
    router_config: RouterConfig | None = None,
    search: SearchOptions | None = None,
    rules: Sequence[Rule] = (),
    llm: Any = None,
    semantic: SemanticOptions | Mapping[str, Any] | None = None,
    stale_docs: StaleDocs | None = None,
) -> Router:
    """The router ``build_chain`` uses: store-aware routes, retrieval confidence and freshness.

    Args:
        workspace: the store: index, embedder and model registry.
        routes, rules, semantic: see :func:`ragtune.routing.build_router`.
        router_config: default :data:`DEFAULT_ROUTER_CONFIG` (weak retrieval -> ``direct``,
            confident retrieval -> ``rag``).
        search: retrieval options of the confidence check (the chain retrieves with the same).
        llm: a chat model for the llm strategy, or ``None``.
        stale_docs: freshness hook; default: :func:`ragtune.finetune.freshness.stale_checker` on ``finetuned``.
    """
    from ragtune.routing.freshness import stale_checker

    registry = workspace.registry
    has_finetuned = FINETUNED in registry
    route_set = runnable_routes(as_route_set(routes), finetuned=has_finetuned)
    if has_finetuned and stale_docs is None and registry.get(FINETUNED).snapshot:
        stale_docs = stale_checker(registry, FINETUNED, workspace.index)
    if not has_finetuned:
        log.info("no 'finetuned' model in %s: routing among %s", registry.path, ", ".join(route_set.names))
    searcher = workspace.searcher(search)
    return build_router(
        route_set,
        embedder=workspace.embedder,
        rules=[r for r in rules if getattr(r, "route", None) in route_set],
        llm=llm,
        semantic=semantic,
        config=router_config or DEFAULT_ROUTER_CONFIG,
        retriever=searcher.search,
        stale_docs=stale_docs,
    )


def build_chain(
    workspace: Workspace,
    routes: Routes = None,
    *,
    options: ChainOptions | None = None,
    config: ChainConfig | None = None,
    router_config: RouterConfig | None = None,
    search: SearchOptions | None = None,
    rules: Sequence[Rule] = (),
    llm_router: bool = False,
    semantic: SemanticOptions | Mapping[str, Any] | None = None,
    labelled: Iterable[Any] | None = None,
    prompts: Prompts | None = None,
    max_new_tokens: int | None = DEFAULT_MAX_NEW_TOKENS,
    stale_docs: StaleDocs | None = None,
    prices: PriceTable | None = None,
) -> RagChain:
    """A chain whose models come from the workspace's registry (``base``, ``finetuned``).

    With no options it answers exactly as ``ragtune ask`` does (same :class:`ChainOptions`
    defaults: ``auto`` mode, strict grounding, k=4, 256 new tokens).

    Args:
        workspace: the store: index, embedder and model registry.
        routes: a :class:`RouteSet`, routes, a JSON file, or ``None`` for the packaged routes.
        options: how to build the chain and its router (see :class:`ChainOptions`).
        config, router_config, search, rules, llm_router, semantic, labelled, prompts,
            max_new_tokens, stale_docs, prices: the fields of :class:`ChainOptions` as keywords,
            kept for existing calls; give them or ``options``, not both.

    Raises:
        TypeError: ``options`` and keyword options were both given.

    Example:
        >>> with Workspace.open(store="my-store") as ws:
        ...     chain = build_chain(ws, "routes.json", options=ChainOptions(search=SearchOptions(k=3)))
        ...     print(chain.invoke("What does the guide say about backups?").text)
    """
    keywords = ChainOptions(
        config=config,
        router_config=router_config,
        search=search,
        rules=tuple(rules),
        llm_router=llm_router,
        semantic=SemanticOptions.model_validate(semantic) if isinstance(semantic, Mapping) else semantic,
        labelled=labelled,
        prompts=prompts,
        max_new_tokens=max_new_tokens,
        stale_docs=stale_docs,
        prices=prices,
    )
    if options is None:
        options = keywords
    elif keywords != ChainOptions():
        raise TypeError("build_chain() takes options= or keyword options (config=, search= ...), not both")
    return _build(workspace, routes, options)


def _build(workspace: Workspace, routes: Routes, options: ChainOptions) -> RagChain:
    registry = workspace.registry
    tokens = options.max_new_tokens
    base = ChainModel.from_registry(registry.get("base"), workspace.settings, max_new_tokens=tokens)
    finetuned = None
    if FINETUNED in registry:
        finetuned = ChainModel.from_registry(registry.get(FINETUNED), workspace.settings, max_new_tokens=tokens)
    router = build_workspace_router(
        workspace,
        routes,
        router_config=options.router_config,
        search=options.search,
        rules=options.rules,
        llm=base.chat if options.llm_router else None,
        semantic=options.semantic,
        stale_docs=options.stale_docs,
    )
    if options.labelled is not None:
        router.fit(options.labelled)
    from ragtune.chains.grounding.likelihood import LocalQuestionLikelihood

    return RagChain(
        base=base,
        finetuned=finetuned,
        router=router,
        retriever=workspace.searcher(options.search).search,
        prompts=options.prompts,
        config=options.config,
        prices=options.prices,
        embedder=workspace.embedder,
        likelihood=LocalQuestionLikelihood(),  # loads the packaged SmolLM2 only when passages compete
    )


__all__ = [
    "ANSWERABLE_RETRIEVAL",
    "DEFAULT_ROUTER_CONFIG",
    "WEAK_RETRIEVAL",
    "build_chain",
    "build_workspace_router",
    "registry_staleness",
    "runnable_routes",
]
