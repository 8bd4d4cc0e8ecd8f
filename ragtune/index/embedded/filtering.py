"""Evaluating ``ragtune.filters`` trees over a tenant's chunks, vectorised.

A chunk's filterable fields are :func:`ragtune.index.fields.filter_fields`:
its metadata plus the attributes in :data:`~ragtune.index.fields.FILTERABLE_FIELDS`
(an attribute wins over a metadata key of the same name). For each field the
table keeps a column in rowid order (its own, so that BM25 can filter without
the vector matrix being loaded), dictionary-encoded: the distinct values plus an int code per row.
A comparison is decided once per distinct value with :func:`ragtune.filters.matches`
(so the semantics are exactly the reference ones) and spread to rows with one
numpy gather; ``and``/``or`` combine the boolean masks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import numpy as np

from ragtune.filters import And, Comparison, FilterExpr, Or, matches
from ragtune.index.fields import FILTERABLE_FIELDS, filter_fields

TOP_LEVEL_FIELDS = tuple(FILTERABLE_FIELDS)
"""Chunk attributes that filters can name directly, beside any metadata key (kept for importers)."""

FILTER_CACHE_SIZE = 64
"""Filters a :class:`FilterCache` remembers before dropping the oldest."""

V = TypeVar("V")


class FilterCache(Generic[V]):
    """Values computed per filter, keyed by the filter's JSON; the oldest is dropped once the cache is full.

    The index holds its lock around every use, so no lock of its own.
    """

    def __init__(self, size: int = FILTER_CACHE_SIZE) -> None:
        self.size = size
        self._items: dict[str, V] = {}

    def get(self, expr: FilterExpr, compute: Callable[[], V]) -> V:
        """The value for ``expr``, computed (and remembered) on a miss."""
        key = expr.model_dump_json()
        if key in self._items:
            return self._items[key]
        if len(self._items) >= self.size:
            self._items.pop(next(iter(self._items)))
        value = self._items[key] = compute()
        return value

    def clear(self) -> None:
        self._items.clear()


def _key(value: Any) -> tuple[str, Any]:
    if isinstance(value, list):
        return ("list", tuple(value))
    return (type(value).__name__, value)


class _Column:
    __slots__ = ("codes", "values")

    def __init__(self, raw: list[Any]) -> None:
        index: dict[tuple[str, Any], int] = {}
        self.values: list[Any] = []
        codes = np.empty(len(raw), dtype=np.int64)
        for i, value in enumerate(raw):
            key = _key(value)
            code = index.get(key)
            if code is None:
                code = index[key] = len(self.values)
                self.values.append(value)
            codes[i] = code
        self.codes = codes


class FieldTable:
    """Filter fields of one tenant's chunks, by rowid, with cached columns and passing rowids.

    Columns and masks are in ascending rowid order; :meth:`mask` maps a result
    to any other order (the vector matrix's slots). Every :meth:`set` or
    :meth:`remove` drops the caches.
    """

    def __init__(self, fields: Mapping[int, dict[str, Any]]) -> None:
        self._fields: dict[int, dict[str, Any]] = dict(fields)
        self._rowids: np.ndarray | None = None
        self._columns: dict[str, _Column] = {}
        self._passing: FilterCache[np.ndarray] = FilterCache()

    def set(self, rowid: int, fields: dict[str, Any]) -> None:
        self._fields[rowid] = fields
        self.invalidate()

    def remove(self, rowid: int) -> None:
        self._fields.pop(rowid, None)
        self.invalidate()

    def invalidate(self) -> None:
        self._rowids = None
        self._columns.clear()
        self._passing.clear()

    @property
    def rowids(self) -> np.ndarray:
        """Every rowid of the table, ascending."""
        if self._rowids is None:
            self._rowids = np.array(sorted(self._fields), dtype=np.int64)
        return self._rowids

    def passing(self, expr: FilterExpr) -> np.ndarray:
        """Ascending rowids of the chunks that pass the filter (cached per filter; do not modify)."""
        return self._passing.get(expr, lambda: self.rowids[self._evaluate(expr, self.rowids)])

    def mask(self, expr: FilterExpr, rowids: np.ndarray) -> np.ndarray:
        """Booleans in the order of ``rowids``: which rows pass the filter (a rowid without fields: all None)."""
        allowed = self.passing(expr)
        out = np.isin(rowids, allowed)
        known = np.isin(rowids, self.rowids)
        if not known.all():  # not in the table: every field reads as missing, as for a chunk without metadata
            out[~known] = matches(expr, {})
        return out

    def _evaluate(self, expr: FilterExpr, rowids: np.ndarray) -> np.ndarray:
        if isinstance(expr, And):
            out = np.ones(len(rowids), dtype=bool)
            for part in expr.filters:
                out &= self._evaluate(part, rowids)
            return out
        if isinstance(expr, Or):
            out = np.zeros(len(rowids), dtype=bool)
            for part in expr.filters:
                out |= self._evaluate(part, rowids)
            return out
        return self._compare(expr, rowids)

    def _compare(self, expr: Comparison, rowids: np.ndarray) -> np.ndarray:
        column = self._columns.get(expr.field)
        if column is None:
            raw = [self._fields.get(r, {}).get(expr.field) for r in rowids.tolist()]
            column = self._columns[expr.field] = _Column(raw)
        truth = np.fromiter(
            (matches(expr, {expr.field: v}) for v in column.values), dtype=bool, count=len(column.values)
        )
        return truth[column.codes]


__all__ = ["FILTER_CACHE_SIZE", "TOP_LEVEL_FIELDS", "FieldTable", "FilterCache", "filter_fields"]
