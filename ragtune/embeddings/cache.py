"""An on-disk embedding cache keyed by (model id, content hash).

Unchanged chunks are never embedded twice: the sync looks vectors up here
first and embeds only the misses. The cache lives in the store folder, so
the folder is self-contained.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ragtune.embeddings.base import Embedder


class EmbeddingCache:
    """SQLite table of float32 vectors; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (model TEXT NOT NULL, hash TEXT NOT NULL, "
            "vector BLOB NOT NULL, PRIMARY KEY (model, hash))"
        )
        self._conn.commit()

    def get_many(self, model_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        with self._lock:
            for start in range(0, len(unique), 500):
                part = unique[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    f"SELECT hash, vector FROM embeddings WHERE model = ? AND hash IN ({marks})", [model_id, *part]
                ).fetchall()
                for h, blob in rows:
                    found[h] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put_many(self, model_id: str, items: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings (model, hash, vector) VALUES (?, ?, ?)",
                [(model_id, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()],
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class CachedEmbedder:
    """Embeds texts through a cache: only content hashes never seen are sent to the model.

    ``misses`` counts texts actually embedded, for tests and progress reports.
    """

    def __init__(self, embedder: Embedder, cache: EmbeddingCache) -> None:
        self.embedder = embedder
        self.cache = cache
        self.misses = 0

    def embed(self, texts: Sequence[str], hashes: Sequence[str]) -> np.ndarray:
        known = self.cache.get_many(self.embedder.model_id, hashes)
        todo = [i for i, h in enumerate(hashes) if h not in known]
        if todo:
            first: dict[str, int] = {}
            for i in todo:
                first.setdefault(hashes[i], i)
            order = list(first.values())
            vectors = self.embedder.embed_documents([texts[i] for i in order])
            fresh = {hashes[i]: vectors[n] for n, i in enumerate(order)}
            self.cache.put_many(self.embedder.model_id, fresh)
            known.update(fresh)
            self.misses += len(order)
        if not hashes:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([known[h] for h in hashes]).astype(np.float32)


__all__ = ["CachedEmbedder", "EmbeddingCache"]
