"""ragtune's own data models: what flows from loaders to index to chains.

Framework types (LangChain ``Document``, LlamaIndex ``NodeWithScore``) appear
only in the adapters; everything inside ragtune speaks these models.
"""

from __future__ import annotations

import hashlib
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field

from ragtune.choices import Fusion, SearchMode

MetadataValue = Union[str, int, float, bool, list[str], None]
"""Metadata values that every backend can store and filter on."""


def content_hash(text: str) -> str:
    """Hex sha256 of a text: the identity of content for caching and sync."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Document(BaseModel):
    """One loaded document (a file, a page of a PDF, a record of a JSONL file).

    ``id`` is stable across runs: the record's id field where one is given,
    else derived from the source path (plus page / record position).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    """Stable document id; re-loading the same source gives the same id."""
    text: str
    """The document's text, decoded and stripped of markup."""
    source: str
    """Where it came from: an absolute file path or a URL."""
    title: str | None = None
    """Title from the file (HTML <title>, first Markdown heading, PDF metadata) or the file name."""
    modified: float | None = None
    """Modification time of the source (POSIX seconds) where known."""
    content_hash: str = ""
    """sha256 of ``text``; filled in automatically when left empty."""
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    """Anything else: page, record fields, loader-specific details."""

    def model_post_init(self, __context: Any) -> None:
        if not self.content_hash:
            self.content_hash = content_hash(self.text)


class Chunk(BaseModel):
    """A piece of a document: what is embedded, indexed and retrieved."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """Stable chunk id derived from document id, position and content."""
    doc_id: str
    """Id of the document this chunk belongs to."""
    text: str
    """The chunk's text as shown to a reader or a model."""
    position: int = 0
    """0-based position of the chunk within its document."""
    source: str = ""
    """Source of the document (file path or URL)."""
    title: str | None = None
    """Title of the document."""
    section: str | None = None
    """Heading path (``"Intro > Setup"``) for heading-aware splitting."""
    page: int | None = None
    """1-based page number for paged sources (PDF)."""
    content_hash: str = ""
    """sha256 of the text that is embedded (see :attr:`embed_text`)."""
    doc_hash: str = ""
    """Content hash of the whole document, used by incremental sync."""
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    """Document metadata carried onto the chunk, filterable."""
    embed_text: str | None = None
    """Text to embed and keyword-index when it differs from ``text`` (e.g. title prefixed)."""

    def model_post_init(self, __context: Any) -> None:
        if not self.content_hash:
            self.content_hash = content_hash(self.text_for_embedding)

    @property
    def text_for_embedding(self) -> str:
        return self.embed_text if self.embed_text is not None else self.text


class Hit(BaseModel):
    """One search result.

    ``score`` is what the results are ranked by (cosine similarity for vector,
    BM25 for bm25, the fused score for hybrid); ``distance`` is the raw cosine
    distance between query and chunk vectors, ``None`` where none was computed.
    """

    model_config = ConfigDict(extra="forbid")

    chunk: Chunk
    score: float
    distance: float | None = None
    rank: int = 0
    """0-based rank in the result list."""

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def chunk_id(self) -> str:
        return self.chunk.id

    @property
    def source(self) -> str:
        return self.chunk.source

    @property
    def text(self) -> str:
        return self.chunk.text


class DocumentState(BaseModel):
    """What the index knows of a document: enough for incremental sync."""

    model_config = ConfigDict(frozen=True)

    doc_id: str
    source: str
    doc_hash: str
    chunk_ids: tuple[str, ...]


class IndexStats(BaseModel):
    """Totals of an index, per tenant where the index has tenants."""

    documents: int
    chunks: int
    tenants: dict[str, dict[str, int]] = Field(default_factory=dict)


__all__ = [
    "Chunk",
    "Document",
    "DocumentState",
    "Fusion",
    "Hit",
    "IndexStats",
    "MetadataValue",
    "SearchMode",
    "content_hash",
]
