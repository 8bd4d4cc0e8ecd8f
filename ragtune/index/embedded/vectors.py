"""The in-memory side of vector search: one contiguous float32 matrix per tenant.

Rows are keyed by the chunk's SQLite rowid. Appends grow a buffer
geometrically and deletes move the last row into the freed slot, so the
live rows are always ``buffer[:size]``: a search is one matrix-vector
product plus an ``argpartition``, and writes never copy the whole matrix.
"""

from __future__ import annotations

import numpy as np

from ragtune.embeddings.base import normalise
from ragtune.errors import ConfigError

as_unit = normalise
"""Kept for existing importers: :func:`ragtune.embeddings.base.normalise`."""


class VectorMatrix:
    """Unit vectors keyed by rowid, searched by exact cosine similarity.

    Example:
        >>> m = VectorMatrix(2)
        >>> m.upsert(7, np.array([1.0, 0.0], dtype=np.float32))
        >>> m.top(np.array([1.0, 0.0], dtype=np.float32), 1)
        (array([7]), array([1.], dtype=float32))
    """

    def __init__(
        self, dim: int, rowids: np.ndarray | None = None, rows: np.ndarray | None = None, *, copy: bool = True
    ) -> None:
        """``copy=False`` makes ``rows`` (writable, C-contiguous float32) the matrix's own buffer, edited in place."""
        self.dim = dim
        count = 0 if rowids is None else len(rowids)
        capacity = max(16, count)
        if not copy and rows is not None and count >= 16 and _adoptable(rows, dim):
            self._rows = rows[:count]  # no second copy: a tenant's vectors are ~150 MB at 100k chunks
        else:
            self._rows = np.zeros((capacity, dim), dtype=np.float32)
            if rows is not None and count:
                self._rows[:count] = rows[:count]
        self._ids = np.zeros(capacity, dtype=np.int64)
        if rowids is not None and count:
            self._ids[:count] = rowids
        self._slot = {int(r): i for i, r in enumerate(self._ids[:count].tolist())}
        self.size = count

    @property
    def rowids(self) -> np.ndarray:
        """Rowids of the live rows, in slot order (a view: copy before keeping)."""
        return self._ids[: self.size]

    @property
    def rows(self) -> np.ndarray:
        """The live rows, contiguous (a view)."""
        return self._rows[: self.size]

    def __len__(self) -> int:
        return self.size

    def __contains__(self, rowid: int) -> bool:
        return rowid in self._slot

    def _grow(self) -> None:
        capacity = max(16, 2 * len(self._rows))
        rows = np.zeros((capacity, self.dim), dtype=np.float32)
        rows[: self.size] = self.rows
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: self.size] = self.rowids
        self._rows, self._ids = rows, ids

    def upsert(self, rowid: int, vector: np.ndarray) -> None:
        """Set the row of ``rowid``, appending it when new. ``vector`` must be unit length."""
        slot = self._slot.get(rowid)
        if slot is None:
            if self.size == len(self._rows):
                self._grow()
            slot = self.size
            self._ids[slot] = rowid
            self._slot[rowid] = slot
            self.size += 1
        self._rows[slot] = vector

    def remove(self, rowid: int) -> bool:
        """Drop the row of ``rowid`` (the last row moves into its slot); False when absent."""
        slot = self._slot.pop(rowid, None)
        if slot is None:
            return False
        last = self.size - 1
        if slot != last:
            moved = int(self._ids[last])
            self._rows[slot] = self._rows[last]
            self._ids[slot] = moved
            self._slot[moved] = slot
        self.size = last
        return True

    def vector(self, rowid: int) -> np.ndarray | None:
        slot = self._slot.get(rowid)
        return None if slot is None else self._rows[slot].copy()

    def check_query(self, query: np.ndarray) -> np.ndarray:
        """The query as a unit float32 vector of this matrix's dimension."""
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dim:
            msg = f"query vector has {vector.shape[0]} dimensions but the index holds {self.dim}-d vectors"
            raise ConfigError(msg)
        return as_unit(vector)[0]

    def top(self, query: np.ndarray, n: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rowids and cosine similarities of the ``n`` nearest rows, best first.

        ``mask`` (booleans in slot order) restricts the search; ties rank by rowid.
        """
        if self.size == 0 or n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if mask is None:
            slots = None
            scores = self.rows @ query
        else:
            slots = np.flatnonzero(mask[: self.size])
            if len(slots) == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            # A sparse filter multiplies only its rows; a dense one is cheaper as a full product.
            scores = self._rows[slots] @ query if len(slots) * 4 < self.size else (self.rows @ query)[slots]
        best = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        ids = self.rowids[best] if slots is None else self.rowids[slots[best]]
        order = np.lexsort((ids, -scores[best]))
        return ids[order], scores[best][order]

    def similarity(self, rowids: list[int], query: np.ndarray) -> np.ndarray:
        """Cosine similarity of the query to each given row (NaN for unknown rowids)."""
        out = np.full(len(rowids), np.nan, dtype=np.float32)
        known = [(i, self._slot[r]) for i, r in enumerate(rowids) if r in self._slot]
        if known:
            positions, slots = zip(*known, strict=True)
            out[list(positions)] = self._rows[list(slots)] @ query
        return out


def _adoptable(rows: np.ndarray, dim: int) -> bool:
    """Whether ``rows`` can become the matrix's own buffer: writable, C-contiguous float32 of the right width."""
    return (
        rows.dtype == np.float32
        and rows.ndim == 2
        and rows.shape[1] == dim
        and rows.flags.c_contiguous
        and rows.flags.writeable
    )


__all__ = ["VectorMatrix", "as_unit"]
