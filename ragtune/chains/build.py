"""``build_chain``: a ready :class:`RagChain` over a workspace, its registry and its index."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ragtune.chains.models import ChainModel
from ragtune.chains.prompt import Prompts
from ragtune.chains.rag_chain import ChainConfig, RagChain
from ragtune.retrievers.search import SearchOptions
from ragtune.routing.router import RouterConfig, build_router
from ragtune.routing.routes import Route, RouteSet
from ragtune.workspace import Workspace

log = logging.getLogger(__name__)


def registry_staleness(workspace: Workspace, entry: Any) -> Callable[[], set[str]]:
    """A freshness hook: doc ids whose current hash differs from the fine-tuned model's snapshot."""

    def stale() -> set[str]:
        if not entry.snapshot:
            return set()
        current = {doc_id: state.doc_hash for doc_id, state in workspace.index.documents().items()}
        return set(entry.stale_documents(current))

    return stale


def build_chain(
    workspace: Workspace,
    routes: RouteSet | Sequence[Route] | str | Path | None = None,
    *,
    config: ChainConfig | None = None,
    router_config: RouterConfig | None = None,
    search: SearchOptions | None = None,
    rules: Sequence[Any] = (),
    llm_router: bool = False,
    semantic: dict[str, Any] | None = None,
    labelled: Iterable[Any] | None = None,
    prompts: Prompts | None = None,
    max_new_tokens: int | None = 256,
    stale_docs: Callable[[], Iterable[str]] | Iterable[str] | None = None,
    prices: Any = None,
) -> RagChain:
    """A chain whose models come from the workspace's registry (``base``, ``finetuned``).

    Args:
        workspace: the store: index, embedder and model registry.
        routes: a :class:`RouteSet`, routes, a JSON file, or ``None`` for the packaged routes.
        config: synthesis mode and context options.
        router_config: no-confident-route policy, retrieval threshold, freshness depth.
        search: retrieval options (k, mode, filters ...).
        rules: keyword/regex overrides checked before the semantic strategy.
        llm_router: add the llm strategy (on the base model) after the semantic one.
        semantic: options of the semantic strategy (threshold, k, knn_weight ...).
        labelled: labelled queries to fit the semantic strategy on before use.
        prompts: prompt overrides.
        max_new_tokens: longest reply of each model call.
        stale_docs: freshness hook; default compares the ``finetuned`` entry's snapshot with the index.
        prices: a price table (default: the packaged one).

    Example:
        >>> with Workspace.open(store="my-store") as ws:
        ...     chain = build_chain(ws, "routes.json")
        ...     print(chain.invoke("What does the guide say about backups?").text)
    """
    from ragtune.llm.registry import ModelRegistry

    registry = ModelRegistry(workspace.registry_path)
    base = ChainModel.from_registry(registry.get("base"), workspace.settings, max_new_tokens=max_new_tokens)
    finetuned = None
    if "finetuned" in registry:
        entry = registry.get("finetuned")
        finetuned = ChainModel.from_registry(entry, workspace.settings, max_new_tokens=max_new_tokens)
        if stale_docs is None and entry.snapshot:
            stale_docs = registry_staleness(workspace, entry)
    else:
        log.info("no 'finetuned' model in %s: the finetuned and hybrid routes run on 'base'", registry.path)
    searcher = workspace.searcher(search)
    router = build_router(
        routes,
        embedder=workspace.embedder,
        rules=rules,
        llm=base.chat if llm_router else None,
        semantic=semantic,
        config=router_config,
        retriever=searcher.search,
        stale_docs=stale_docs,
    )
    if labelled is not None:
        router.fit(labelled)
    return RagChain(
        base=base,
        finetuned=finetuned,
        router=router,
        retriever=searcher.search,
        prompts=prompts,
        config=config,
        prices=prices,
        embedder=workspace.embedder,
    )


__all__ = ["build_chain", "registry_staleness"]
