"""How documents are cut into chunks: :class:`ChunkingOptions`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChunkingOptions(BaseModel):
    """Chunk sizes in the embedder's own tokens.

    Example:
        ```python
        chunker = Chunker(embedder.count_tokens, ChunkingOptions(chunk_size=256, chunk_overlap=32))
        ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunk_size: int = Field(default=200, ge=8)
    """Most tokens in one chunk; a document this long or shorter is a single chunk."""
    chunk_overlap: int = Field(default=0, ge=0)
    """Tokens (about) that consecutive chunks of one text share, so no sentence loses its context.

    None by default: on SciFact (all 809 train queries, 1,425 documents) 32 tokens of overlap cost
    11% more tokens for no better nDCG@10 (0.8076 with 32, 0.8125 with none)."""
    min_chunk_tokens: int = Field(default=24, ge=0)
    """Pieces shorter than this (a lone heading, a trailing sentence) are merged into a neighbour."""
    title_every_chunk: bool = False
    """Prefix the document title to every chunk's embedded text, not only to the first chunk and
    to heading sections (which stand alone; plain-text continuation chunks read on from the one before).

    Off by default: on 1,000 SciFact documents repeating the title cost 8% more tokens for no better
    nDCG@10 (``benchmarks/ingest_throughput.py --arms 200/0/every 200/0/first``)."""
    heading_aware: bool = True
    """Split Markdown, HTML and ``.docx`` documents at their headings and record the heading path."""

    @model_validator(mode="after")
    def _check_sizes(self) -> ChunkingOptions:
        if self.chunk_overlap >= self.chunk_size // 2:
            msg = f"chunk_overlap ({self.chunk_overlap}) must be less than half of chunk_size ({self.chunk_size})"
            raise ValueError(msg)
        if self.min_chunk_tokens > self.chunk_size // 2:
            msg = f"min_chunk_tokens ({self.min_chunk_tokens}) must be at most half of chunk_size ({self.chunk_size})"
            raise ValueError(msg)
        return self


__all__ = ["ChunkingOptions"]
