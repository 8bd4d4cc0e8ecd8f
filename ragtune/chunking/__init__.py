"""Chunking: documents into token-bounded, heading-aware chunks with stable ids.

Example:
    ```python
    from ragtune.chunking import Chunker, ChunkingOptions

    chunker = Chunker(embedder.count_tokens, ChunkingOptions(chunk_size=200, chunk_overlap=32))
    chunks = chunker.split(document)
    ```
"""

from __future__ import annotations

from ragtune.chunking.chunker import Chunker
from ragtune.chunking.options import ChunkingOptions

__all__ = ["Chunker", "ChunkingOptions"]
