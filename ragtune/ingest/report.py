"""What an ingest did, in counts: the contract of ``ragtune ingest --json``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IngestError(BaseModel):
    """One file or record that could not be ingested, and why."""

    path: str
    reason: str
    line: int | None = None


class IngestReport(BaseModel):
    """Document counts (``added``/``updated``/``unchanged``/``deleted``), chunk counts and errors."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks_added: int = 0
    """Chunks written for new or changed documents."""
    chunks_deleted: int = 0
    """Chunks removed: of deleted documents, or no longer produced by a changed one."""
    chunks_unchanged: int = 0
    """Chunks of unchanged documents, or of changed documents whose text and position stayed."""
    chunks_embedded: int = 0
    """Chunk texts sent to the embedding model (cache misses); the rest came from the cache."""
    errors: list[IngestError] = Field(default_factory=list)
    tenant: str | None = None
    seconds: float = 0.0

    @property
    def ingested_anything(self) -> bool:
        """True when at least one document was ingested or found unchanged."""
        return (self.added + self.updated + self.unchanged) > 0


__all__ = ["IngestError", "IngestReport"]
