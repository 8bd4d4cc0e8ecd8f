"""The embedded index backend: SQLite on disk, numpy vectors in memory, FTS5 BM25.

Example:
    >>> from ragtune.index.embedded import EmbeddedIndex
    >>> index = EmbeddedIndex(".ragtune")
"""

from ragtune.index.embedded.index import EmbeddedIndex
from ragtune.index.embedded.keyword import Analyzer

__all__ = ["Analyzer", "EmbeddedIndex"]
