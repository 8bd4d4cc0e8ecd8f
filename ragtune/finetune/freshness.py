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

from collections.abc import Iterable

from ragtune.finetune.records import Example
from ragtune.index.base import Index
from ragtune.llm.registry import TENANT_KEY, Staleness
from ragtune.routing.freshness import new_documents, stale_checker, stale_doc_ids, stale_documents


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


__all__ = [
    "Staleness",
    "TENANT_KEY",
    "corpus_snapshot",
    "new_documents",
    "stale_checker",
    "stale_doc_ids",
    "stale_documents",
]
