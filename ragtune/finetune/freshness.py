"""Knowledge freshness: link a fine-tuned model to the corpus snapshot it learned from.

When a model is trained on examples generated from indexed documents, its
registry entry records ``snapshot`` (doc id -> content hash at training time)
and ``snapshot_chunks`` (doc id -> chunk ids the examples came from). After a
later ingest, :func:`stale_documents` compares that snapshot with the index:
a document whose hash changed, or that is gone, is stale for the model, and
the router sends questions about it to retrieval (see :func:`stale_checker`).

:func:`stale_documents` is the one freshness check: it reads the index in the
tenant the model learned from (``extra["tenant"]``). The chain
(``build_chain``), ``ragtune models list`` and the router (through
:func:`stale_checker`) all use it. It imports nothing above the index and the
registry, so any layer may call it.

Example:
    >>> stale_documents(registry.get("support-bot"), workspace.index)  # doctest: +SKIP
    {'faq.md': 'changed', 'old.md': 'removed'}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ragtune.finetune.records import Example
from ragtune.index.base import Index
from ragtune.llm.registry import TENANT_KEY, ModelEntry, ModelRegistry, Staleness, snapshot_changes


def corpus_snapshot(
    examples: Iterable[Example], *, index: Index | None = None, tenant: str | None = None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The ``(snapshot, snapshot_chunks)`` of a training set.

    Hashes come from the examples' provenance (recorded when they were
    generated); for examples that name a document but no hash, the index's
    current hash is used when an index is given. Documents known by neither
    are left out: nothing can be said about their freshness.
    """
    snapshot: dict[str, str] = {}
    chunks: dict[str, list[str]] = {}
    missing: set[str] = set()
    for example in examples:
        source = example.source
        if not source.doc_id:
            continue
        if source.doc_hash:
            snapshot.setdefault(source.doc_id, source.doc_hash)
        else:
            missing.add(source.doc_id)
        if source.chunk_id:
            ids = chunks.setdefault(source.doc_id, [])
            if source.chunk_id not in ids:
                ids.append(source.chunk_id)
    missing -= set(snapshot)
    if missing and index is not None:
        states = index.documents(tenant=tenant)
        snapshot.update({doc: states[doc].doc_hash for doc in sorted(missing) if doc in states})
    return dict(sorted(snapshot.items())), {k: sorted(v) for k, v in sorted(chunks.items())}


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


__all__ = [
    "Staleness",
    "TENANT_KEY",
    "corpus_snapshot",
    "new_documents",
    "stale_checker",
    "stale_doc_ids",
    "stale_documents",
]
