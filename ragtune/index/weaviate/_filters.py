"""Translate ragtune filter trees into ``weaviate.classes.query.Filter`` (no I/O).

The result keeps the reference semantics of :func:`ragtune.filters.matches`:

* a field names a chunk attribute (:data:`ragtune.index.fields.FILTERABLE_FIELDS`)
  or else a metadata key, which may live
  in several typed ``meta_<key>__<kind>`` properties; a comparison holds when
  it holds in any of them (``ne``: in all of them);
* a value whose type cannot equal the property's (``"3"`` against a number)
  never matches, so ``eq``/``lt``/``in``/``contains`` become *false* and ``ne``
  *true*; a field no chunk has behaves the same;
* ``contains`` is a substring test on text (``like *value*``) and element
  membership on lists; ``in`` is ``contains_any``.

Constant parts are folded away: :func:`translate` returns ``True`` (no filter
needed), ``False`` (nothing can match) or a Weaviate filter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Union

from weaviate.classes.query import Filter
from weaviate.collections.classes.filters import FilterReturn

from ragtune.filters import And, Comparison, FilterExpr, Op
from ragtune.index.weaviate._schema import FIELD_PROPERTIES, FIELD_TYPES, META_KINDS, meta_property

Translated = Union[FilterReturn, bool]

BUILTIN_TYPES: dict[str, str] = {prop: data_type.value for prop, data_type in FIELD_TYPES.items()}
"""Property -> data type name of each filterable chunk attribute."""


def targets(field: str, types: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(property, data type)`` pairs a filter field is stored in."""
    if field in FIELD_PROPERTIES:
        prop = FIELD_PROPERTIES[field]
        return [(prop, BUILTIN_TYPES[prop])]
    found = []
    for kind, data_type in META_KINDS.items():
        name = meta_property(field, kind)
        if name in types:
            found.append((name, data_type.value))
    return found


def unknown_fields(expr: FilterExpr, types: Mapping[str, str]) -> set[str]:
    """Metadata keys the filter names that no property holds (yet)."""
    if isinstance(expr, Comparison):
        return set() if targets(expr.field, types) else {expr.field}
    out: set[str] = set()
    for part in expr.filters:
        out |= unknown_fields(part, types)
    return out


def translate(expr: FilterExpr, types: Mapping[str, str]) -> Translated:
    if isinstance(expr, Comparison):
        found = [_compare(prop, data_type, expr.op, expr.value) for prop, data_type in targets(expr.field, types)]
        if expr.op is Op.NE:
            return _all(found)
        return _any(found)
    parts = [translate(part, types) for part in expr.filters]
    return _all(parts) if isinstance(expr, And) else _any(parts)


def _all(parts: list[Translated]) -> Translated:
    if any(p is False for p in parts):
        return False
    kept = [p for p in parts if p is not True]
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else Filter.all_of(kept)  # type: ignore[arg-type]


def _any(parts: list[Translated]) -> Translated:
    if any(p is True for p in parts):
        return True
    kept = [p for p in parts if p is not False]
    if not kept:
        return False
    return kept[0] if len(kept) == 1 else Filter.any_of(kept)  # type: ignore[arg-type]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _compare(prop: str, data_type: str, op: Op, value: Any) -> Translated:
    by = Filter.by_property(prop)
    if op is Op.IN:
        values = value if isinstance(value, list) else [value]
        cast = [c for c in (_cast(data_type, v) for v in values) if c is not None]
        return by.contains_any(cast) if cast else False
    if op is Op.CONTAINS:
        if data_type == "text":
            return by.like(f"*{value}*")
        if data_type == "text[]" and isinstance(value, str):
            return by.contains_any([value])
        return False
    if data_type == "text[]" and op not in (Op.EQ, Op.NE):
        return False  # ordering a list against a scalar is a TypeError in the reference semantics
    if data_type == "int" and _is_number(value) and op not in (Op.EQ, Op.NE):
        return _int_range(by, op, float(value))
    cast = _cast(data_type, value)
    if cast is None:
        return op is Op.NE
    if data_type == "boolean" and op not in (Op.EQ, Op.NE):
        return False
    ops: dict[Op, Callable[[Any], FilterReturn]] = {
        Op.EQ: by.equal,
        Op.NE: by.not_equal,
        Op.LT: by.less_than,
        Op.LTE: by.less_or_equal,
        Op.GT: by.greater_than,
        Op.GTE: by.greater_or_equal,
    }
    return ops[op](cast)


def _int_range(by: Any, op: Op, value: float) -> FilterReturn:
    """``page < 2.5`` on an int property: compare with the nearest ints instead."""
    if op is Op.LT:
        return by.less_than(int(value)) if value.is_integer() else by.less_or_equal(math.floor(value))
    if op is Op.LTE:
        return by.less_or_equal(math.floor(value))
    if op is Op.GT:
        return by.greater_than(int(value)) if value.is_integer() else by.greater_or_equal(math.ceil(value))
    return by.greater_or_equal(math.ceil(value))


def _cast(data_type: str, value: Any) -> Any:
    """``value`` as the property's type, or ``None`` when no stored value can equal it."""
    base = data_type.removesuffix("[]")
    if base == "text":
        return value if isinstance(value, str) else None
    if base == "int":
        return int(value) if _is_number(value) and float(value).is_integer() else None
    if base == "number":
        return float(value) if _is_number(value) else None
    if base == "boolean":
        return value if isinstance(value, bool) else None
    return None


__all__ = ["BUILTIN_TYPES", "Translated", "targets", "translate", "unknown_fields"]
