"""A small filter language shared by every backend and the CLI.

Build filters in code::

    from ragtune.filters import F
    f = (F("source") == "guide.md") & (F("page") >= 3)

or parse them from the CLI's ``--filter`` strings (several are AND-ed)::

    parse_filter("page>=3"), parse_filter("lang in en,de"), parse_filter("tags contains beta")

Backends translate the tree: the embedded store evaluates it on metadata,
Weaviate turns it into ``weaviate.classes.query.Filter``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import Enum
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict

from ragtune.errors import ConfigError

Scalar = Union[str, int, float, bool]


class Op(str, Enum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    IN = "in"
    CONTAINS = "contains"


class Comparison(BaseModel):
    """``field op value``; ``in`` takes a list, ``contains`` matches a list element or substring."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["cmp"] = "cmp"
    field: str
    op: Op
    value: Union[Scalar, list[Scalar]]

    def __and__(self, other: FilterExpr) -> And:
        return And(filters=[self, other])

    def __or__(self, other: FilterExpr) -> Or:
        return Or(filters=[self, other])


class And(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["and"] = "and"
    filters: list[FilterExpr]

    def __and__(self, other: FilterExpr) -> And:
        return And(filters=[*self.filters, other])

    def __or__(self, other: FilterExpr) -> Or:
        return Or(filters=[self, other])


class Or(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["or"] = "or"
    filters: list[FilterExpr]

    def __and__(self, other: FilterExpr) -> And:
        return And(filters=[self, other])

    def __or__(self, other: FilterExpr) -> Or:
        return Or(filters=[*self.filters, other])


FilterExpr = Union[Comparison, And, Or]
And.model_rebuild()
Or.model_rebuild()


class F:
    """Field reference with Python operators: ``F("page") >= 3``."""

    def __init__(self, field: str) -> None:
        self.field = field

    def _cmp(self, op: Op, value: Any) -> Comparison:
        return Comparison(field=self.field, op=op, value=value)

    def __eq__(self, value: Any) -> Comparison:  # type: ignore[override]
        return self._cmp(Op.EQ, value)

    def __ne__(self, value: Any) -> Comparison:  # type: ignore[override]
        return self._cmp(Op.NE, value)

    def __lt__(self, value: Any) -> Comparison:
        return self._cmp(Op.LT, value)

    def __le__(self, value: Any) -> Comparison:
        return self._cmp(Op.LTE, value)

    def __gt__(self, value: Any) -> Comparison:
        return self._cmp(Op.GT, value)

    def __ge__(self, value: Any) -> Comparison:
        return self._cmp(Op.GTE, value)

    def is_in(self, values: list[Scalar]) -> Comparison:
        return self._cmp(Op.IN, list(values))

    def contains(self, value: Scalar) -> Comparison:
        return self._cmp(Op.CONTAINS, value)

    __hash__ = None  # type: ignore[assignment]


_SYMBOL_OPS = [("!=", Op.NE), ("<=", Op.LTE), (">=", Op.GTE), ("==", Op.EQ), ("=", Op.EQ), ("<", Op.LT), (">", Op.GT)]
_WORD_OP = re.compile(r"^\s*([\w.\-]+)\s+(in|contains)\s+(.+?)\s*$", re.IGNORECASE)


def _coerce(raw: str) -> Scalar:
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_filter(text: str) -> FilterExpr:
    """Parse one ``--filter`` expression.

    Accepts ``field=value``, ``!=``, ``<``, ``<=``, ``>``, ``>=``,
    ``field in a,b,c``, ``field contains value`` or a JSON tree such as
    ``{"and": [{"field": "page", "op": "gte", "value": 3}, ...]}``.
    Numbers and ``true``/``false`` are typed; quote a value to keep it a string.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            return filter_from_json(json.loads(stripped))
        except (json.JSONDecodeError, ValueError) as exc:
            msg = f"Invalid JSON filter {text!r}: {exc}"
            raise ConfigError(msg) from exc
    word = _WORD_OP.match(stripped)
    if word:
        field, op, value = word.group(1), word.group(2).lower(), word.group(3)
        if op == "in":
            return Comparison(field=field, op=Op.IN, value=[_coerce(v) for v in value.split(",")])
        return Comparison(field=field, op=Op.CONTAINS, value=_coerce(value))
    for symbol, op in _SYMBOL_OPS:
        if symbol in stripped:
            field, value = stripped.split(symbol, 1)
            if field.strip() and re.fullmatch(r"[\w.\-]+", field.strip()):
                rest = value.lstrip()
                if rest[:1] in ("<", ">", "=", "!"):  # page>>2 is a typo, not page > ">2"
                    at = len(stripped) - len(rest) + 1
                    msg = f"Cannot parse filter {text!r}: unexpected {rest[0]!r} at position {at} after {symbol!r}."
                    raise ConfigError(msg)
                return Comparison(field=field.strip(), op=op, value=_coerce(value))
    msg = (
        f"Cannot parse filter {text!r}. Use field=value, field!=value, field<value, "
        "field<=value, field>value, field>=value, 'field in a,b', 'field contains x' or a JSON tree."
    )
    raise ConfigError(msg)


def filter_from_json(data: Mapping[str, Any]) -> FilterExpr:
    """Build a filter from ``{"and": [...]}``, ``{"or": [...]}`` or ``{"field", "op", "value"}``."""
    if "and" in data:
        return And(filters=[filter_from_json(d) for d in data["and"]])
    if "or" in data:
        return Or(filters=[filter_from_json(d) for d in data["or"]])
    try:
        return Comparison(field=data["field"], op=Op(data["op"]), value=data["value"])
    except (KeyError, ValueError) as exc:
        msg = f"Invalid filter {dict(data)!r}: expected keys field, op ({', '.join(o.value for o in Op)}), value"
        raise ConfigError(msg) from exc


def combine(filters: list[FilterExpr]) -> FilterExpr | None:
    """AND several filters together (``None`` when there are none)."""
    if not filters:
        return None
    if len(filters) == 1:
        return filters[0]
    return And(filters=list(filters))


def _compare(actual: Any, op: Op, expected: Any) -> bool:
    if op is Op.CONTAINS:
        if isinstance(actual, list):
            return expected in actual
        return isinstance(actual, str) and str(expected) in actual
    if op is Op.IN:
        values = expected if isinstance(expected, list) else [expected]
        if isinstance(actual, list):
            return any(a in values for a in actual)
        return actual in values
    if op is Op.EQ:
        return bool(actual == expected) or (isinstance(actual, list) and expected in actual)
    if op is Op.NE:
        return not (actual == expected or (isinstance(actual, list) and expected in actual))
    if actual is None:
        return False
    try:
        if op is Op.LT:
            return bool(actual < expected)
        if op is Op.LTE:
            return bool(actual <= expected)
        if op is Op.GT:
            return bool(actual > expected)
        return bool(actual >= expected)
    except TypeError:
        return False


def matches(expr: FilterExpr | None, fields: Mapping[str, Any]) -> bool:
    """Evaluate a filter against a flat mapping of a chunk's fields and metadata."""
    if expr is None:
        return True
    if isinstance(expr, And):
        return all(matches(f, fields) for f in expr.filters)
    if isinstance(expr, Or):
        return any(matches(f, fields) for f in expr.filters)
    return _compare(fields.get(expr.field), expr.op, expr.value)


__all__ = ["And", "Comparison", "F", "FilterExpr", "Op", "Or", "combine", "filter_from_json", "matches", "parse_filter"]
