"""``ragtune doctor``: reconcile the document records with what the index holds, and repair.

The check reads every chunk (with its vector) of every tenant and compares
it with the document records that ingest writes last:

* ``missing_chunks``: a recorded document lacks some of its chunks (counted per document);
* ``orphan_chunks``: a chunk of a document the index has no record of (a batch that failed part-way);
* ``stale_chunks``: a chunk of a recorded document that its current version does not list;
* ``wrong_dimension``: a vector whose length is not the index's dimension;
* ``hash_mismatch``: chunk text that no longer matches its recorded content hash (edited out of band).

Repair takes the cheapest correct action for each: stale and orphan chunks
are deleted; documents with missing, damaged or wrong-dimension chunks are
re-synced from their recorded source (re-embedding only what the embedding
cache lacks). A document whose source is gone is reported as
``source_gone`` and left as it is.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ragtune.index.base import Index
from ragtune.schema import DocumentState, content_hash

if TYPE_CHECKING:
    from ragtune.workspace import Workspace

MISSING_CHUNKS = "missing_chunks"
ORPHAN_CHUNKS = "orphan_chunks"
STALE_CHUNKS = "stale_chunks"
WRONG_DIMENSION = "wrong_dimension"
HASH_MISMATCH = "hash_mismatch"
SOURCE_GONE = "source_gone"
"""Repair only: a document to re-sync whose recorded source no longer exists or no longer yields it."""
PROBLEM_KINDS = (MISSING_CHUNKS, ORPHAN_CHUNKS, STALE_CHUNKS, WRONG_DIMENSION, HASH_MISMATCH)
MAX_EXAMPLES = 20


class DoctorReport(BaseModel):
    """The contract of ``ragtune doctor --json``."""

    ok: bool
    documents: int
    chunks: int
    problems: dict[str, int] = Field(default_factory=dict)
    examples: list[dict[str, Any]] = Field(default_factory=list)
    repaired: dict[str, int] = Field(default_factory=dict)


@dataclass
class TenantFindings:
    """What the check found in one tenant, in the shape repair needs."""

    tenant: str | None
    documents: dict[str, DocumentState]
    chunks: int = 0
    delete: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """Problem kind -> chunk ids to delete (orphans, stale chunks)."""
    resync: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    """Problem kind -> ids of documents to re-sync from their source, with how many problems each has."""


@dataclass
class Findings:
    tenants: list[TenantFindings]
    problems: Counter[str]
    examples: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def report(self, repaired: dict[str, int] | None = None) -> DoctorReport:
        return DoctorReport(
            ok=self.ok,
            documents=sum(len(t.documents) for t in self.tenants),
            chunks=sum(t.chunks for t in self.tenants),
            problems={k: v for k, v in self.problems.items() if v},
            examples=self.examples,
            repaired={k: v for k, v in (repaired or {}).items() if v},
        )


def check_index(index: Index, *, tenant: str | None = None, all_tenants: bool = True) -> Findings:
    """Compare every tenant's chunks with its document records (only ``tenant`` when ``all_tenants`` is off)."""
    names: list[str | None] = [tenant] if not all_tenants or tenant is not None else [None, *index.tenants()]
    fingerprint = index.fingerprint()
    dim = fingerprint.dim if fingerprint is not None else getattr(index, "dim", None)
    problems: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []

    def note(kind: str, tenant_name: str | None, **detail: Any) -> None:
        problems[kind] += 1
        if len(examples) < MAX_EXAMPLES:
            examples.append({"kind": kind, "tenant": tenant_name, **detail})

    results = []
    for name in names:
        found = TenantFindings(name, index.documents(tenant=name))
        expected = {cid: doc for doc, state in found.documents.items() for cid in state.chunk_ids}
        present: set[str] = set()
        for chunk, vector in index.export_chunks(tenant=name):
            if chunk.id in present:
                continue  # a listing that repeats an object (paging while others write)
            found.chunks += 1
            present.add(chunk.id)
            state = found.documents.get(chunk.doc_id)
            if state is None:
                note(ORPHAN_CHUNKS, name, doc_id=chunk.doc_id, chunk_id=chunk.id)
                found.delete[ORPHAN_CHUNKS].append(chunk.id)
                continue
            if expected.get(chunk.id) != chunk.doc_id:
                note(STALE_CHUNKS, name, doc_id=chunk.doc_id, chunk_id=chunk.id)
                found.delete[STALE_CHUNKS].append(chunk.id)
                continue
            if dim is None:
                dim = len(vector)
            if len(vector) != dim:
                note(WRONG_DIMENSION, name, doc_id=chunk.doc_id, chunk_id=chunk.id, dimension=len(vector), expected=dim)
                found.resync[WRONG_DIMENSION][chunk.doc_id] += 1
            if content_hash(chunk.text_for_embedding) != chunk.content_hash:
                note(HASH_MISMATCH, name, doc_id=chunk.doc_id, chunk_id=chunk.id)
                found.resync[HASH_MISMATCH][chunk.doc_id] += 1
        for doc_id, state in found.documents.items():
            missing = [c for c in state.chunk_ids if c not in present]
            if missing:
                note(MISSING_CHUNKS, name, doc_id=doc_id, missing=len(missing), of=len(state.chunk_ids))
                found.resync[MISSING_CHUNKS][doc_id] += 1
        results.append(found)
    return Findings(results, problems, examples)


def repair(
    workspace: Workspace, findings: Findings, *, lock_timeout: float | None = None
) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Fix what :func:`check_index` found; returns repaired counts per kind and the documents left as they are."""
    from ragtune.ingest.lock import write_lock

    repaired: Counter[str] = Counter()
    left: list[dict[str, Any]] = []
    index = workspace.index
    with write_lock(workspace, timeout=lock_timeout):
        for found in findings.tenants:
            for kind, chunk_ids in found.delete.items():
                index.delete_chunks(chunk_ids, tenant=found.tenant)
                repaired[kind] += len(chunk_ids)
            doc_ids = {d for per_doc in found.resync.values() for d in per_doc}
            if not doc_ids:
                continue
            gone = _resync(workspace, found, doc_ids)
            for kind, per_doc in found.resync.items():
                repaired[kind] += sum(n for d, n in per_doc.items() if d not in gone)
            for doc_id, reason in sorted(gone.items()):
                left.append({"kind": SOURCE_GONE, "tenant": found.tenant, "doc_id": doc_id, "reason": reason})
    return repaired, left


def _resync(workspace: Workspace, found: TenantFindings, doc_ids: set[str]) -> dict[str, str]:
    """Re-sync documents from their recorded sources; returns the ids that could not be, with why."""
    from ragtune.chunking import Chunker, ChunkingOptions
    from ragtune.ingest.sync import Syncer
    from ragtune.loaders.url import is_url

    by_source: dict[str, set[str]] = defaultdict(set)
    gone: dict[str, str] = {}
    for doc_id in doc_ids:
        source = found.documents[doc_id].source
        if is_url(source) or Path(source).exists():
            by_source[source].add(doc_id)
        else:
            gone[doc_id] = f"its source {source} no longer exists; restore it and run doctor --repair, or re-ingest"
    if not by_source:
        return gone
    settings = workspace.settings
    options = ChunkingOptions(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    syncer = Syncer(
        workspace.index,
        workspace.cached_embedder,
        Chunker(workspace.embedder.count_tokens, options),
        tenant=found.tenant,
        delete_missing=False,
        force=frozenset(doc_ids),
        only=frozenset(doc_ids),
    )
    result = syncer.run(sorted(by_source))
    for source, ids in by_source.items():
        reasons = "; ".join(e.reason for e in result.errors if e.path == source)
        for doc_id in sorted(ids - syncer.written):
            gone[doc_id] = (
                f"re-syncing {source} failed: {reasons}"
                if reasons
                else f"loading {source} no longer yields this document (ingested with other --text-field/--id-field? "
                "re-ingest it with those options)"
            )
    return gone


__all__ = [
    "HASH_MISMATCH",
    "MISSING_CHUNKS",
    "ORPHAN_CHUNKS",
    "PROBLEM_KINDS",
    "SOURCE_GONE",
    "STALE_CHUNKS",
    "WRONG_DIMENSION",
    "DoctorReport",
    "Findings",
    "check_index",
    "repair",
]
