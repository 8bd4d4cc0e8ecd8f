"""ragtune: build, compare and combine retrieval-augmented generation and fine-tuning.

Nothing heavy is imported here; public names load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
