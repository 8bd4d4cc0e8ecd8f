"""Is a fine-tuned model still fresh? Compare its corpus snapshot with the index.

A model trained on examples generated from indexed documents records ``snapshot`` (doc id ->
content hash at training time) in its registry entry. :func:`stale_documents` is the one
freshness check: it reads the index in the tenant the model learned from and reports which
snapshot documents changed or were removed since. The chain (``build_chain``), ``ragtune models
list`` and the router (through :func:`stale_checker`) all use it. It lives below the chains and
imports only the index and the registry, so every layer above may call it.

Example:
    >>> stale_documents(registry.get("support-bot"), workspace.index)  # doctest: +SKIP
    {'faq.md': 'changed', 'old.md': 'removed'}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ragtune.llm.registry import ModelEntry, ModelRegistry, Staleness, snapshot_changes

if TYPE_CHECKING:
    from ragtune.index.base import Index


def stale_documents(entry: ModelEntry, index: Index) -> dict[str, Staleness]:
    """Documents of the model's snapshot that changed or were removed since it was trained.

    The index is read in the tenant the model learned from (:attr:`ModelEntry.tenant`), whatever
    tenant a question is asked in. Returns an empty dict for models without a snapshot (base
    models, or models trained on data that named no documents).
    """
    if not entry.snapshot:
        return {}
    states = index.documents(tenant=entry.tenant)
    return snapshot_changes(entry.snapshot, {doc_id: state.doc_hash for doc_id, state in states.items()})


def new_documents(entry: ModelEntry, index: Index) -> list[str]:
    """Documents in the index the model never saw (empty for models without a snapshot)."""
    if not entry.snapshot:
        return []
    return sorted(set(index.documents(tenant=entry.tenant)) - set(entry.snapshot))


def stale_doc_ids(registry: ModelRegistry, name: str, index: Index) -> set[str]:
    """Ids of documents that are stale for the registered model ``name``.

    Raises:
        ConfigError: no model called ``name`` is registered.
    """
    return set(stale_documents(registry.get(name), index))


def stale_checker(registry: ModelRegistry, name: str, index: Index) -> Callable[[], set[str]]:
    """A zero-argument callable for the router's ``stale_docs`` hook.

    Each call re-reads the registry and the index, so a retrain or an ingest
    is seen without rebuilding the router. A model that is no longer
    registered (or has no snapshot) has nothing stale.
    """

    def stale_docs() -> set[str]:
        if name not in registry:
            return set()
        return stale_doc_ids(registry, name, index)

    return stale_docs


__all__ = ["new_documents", "stale_checker", "stale_doc_ids", "stale_documents"]
