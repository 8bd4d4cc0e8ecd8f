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

from ragtune.errors import ConfigError, FilterSyntaxError

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


_OPERATORS = ("!=", "<=", ">=", "==", "=", "<", ">")  # longest first
_SYMBOL_OPS = {"!=": Op.NE, "<=": Op.LTE, ">=": Op.GTE, "==": Op.EQ, "=": Op.EQ, "<": Op.LT, ">": Op.GT}
_OP_CHARS = frozenset("=!<>")
_FIELD = re.compile(r"[\w.\-]+")
_WORD = re.compile(r"(in|contains)(?=\s)", re.IGNORECASE)
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
GRAMMAR = (
    "field=value, field!=value, field<value, field<=value, field>value, field>=value, "
    "'field in a,b,c', 'field contains x' or a JSON tree; quote a value (field='a>b') to keep = ! < > in it"
)
"""The filter grammar in one line, for error messages (README, "Filters", has it in full)."""


class _Scanner:
    """A cursor over one filter string; errors name the 1-based position of the problem."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, problem: str, at: int | None = None) -> FilterSyntaxError:
        where = self.pos if at is None else at
        msg = f"Cannot parse filter {self.text!r} at position {where + 1}: {problem}. Use {GRAMMAR}."
        return FilterSyntaxError(msg, text=self.text, position=where + 1)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def field(self) -> str:
        match = _FIELD.match(self.text, self.pos)
        if match is None:
            found = f"{self.peek()!r}" if self.peek() else "the end"
            raise self.fail(f"expected a field name (letters, digits, _ . -), found {found}")
        self.pos = match.end()
        return match.group()

    def operator(self, field: str) -> str:
        spaced = self.pos < len(self.text) and self.text[self.pos].isspace()
        self.skip_spaces()
        for symbol in _OPERATORS:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return symbol
        word = _WORD.match(self.text, self.pos)
        if word is not None and spaced:
            self.pos = word.end()
            return word.group().lower()
        found = f"{self.peek()!r}" if self.peek() else "the end"
        raise self.fail(f"expected an operator after field {field!r}, found {found}")

    def value(self, operator: str, *, in_list: bool = False) -> Scalar:
        """One value: quoted (kept a string) or bare (typed: int, float, true/false, else string)."""
        self.skip_spaces()
        start = self.pos
        if self.at_end() or (in_list and self.peek() == ","):
            raise self.fail(f"expected a value after {operator!r}")
        quote = self.peek()
        if quote in "\"'":
            close = self.text.find(quote, start + 1)
            if close < 0:
                raise self.fail(f"the quote {quote} is never closed", at=start)
            self.pos = close + 1
            self.skip_spaces()
            if not self.at_end() and not (in_list and self.peek() == ","):
                raise self.fail("unexpected text after the quoted value")
            return self.text[start + 1 : close]
        stop = len(self.text)
        if in_list:
            comma = self.text.find(",", start)
            stop = stop if comma < 0 else comma
        for i in range(start, stop):
            if self.text[i] in _OP_CHARS:
                after = "after operator" if i == start else "in the value of"
                raise self.fail(f"unexpected {self.text[i]!r} {after} {operator!r}", at=i)
        self.pos = stop
        return _coerce(self.text[start:stop])


def _coerce(raw: str) -> Scalar:
    text = raw.strip()
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def parse_filter(text: str) -> FilterExpr:
    """Parse one ``--filter`` expression strictly (the grammar: README, "Filters").

    Accepts ``field=value`` (or ``==``), ``!=``, ``<``, ``<=``, ``>``, ``>=``,
    ``field in a,b,c``, ``field contains value`` or a JSON tree such as
    ``{"and": [{"field": "page", "op": "gte", "value": 3}, ...]}``.
    Numbers and ``true``/``false`` are typed; quote a value to keep it a string
    or to use ``= ! < >`` in it. Anything else raises :class:`FilterSyntaxError`
    naming the position, e.g. ``page>>2`` (position 6): never a guess.
    """
    scan = _Scanner(text)
    scan.skip_spaces()
    if scan.peek() == "{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise scan.fail(f"invalid JSON ({exc.msg})", at=exc.pos) from exc
        return _json_filter(data, scan)
    field = scan.field()
    operator = scan.operator(field)
    if operator == "in":
        values = [scan.value(operator, in_list=True)]
        while scan.peek() == ",":
            scan.pos += 1
            values.append(scan.value(operator, in_list=True))
        return Comparison(field=field, op=Op.IN, value=values)
    value = scan.value(operator)
    if not scan.at_end():  # pragma: no cover - value() consumes the rest or fails
        raise scan.fail("unexpected text")
    return Comparison(field=field, op=Op.CONTAINS if operator == "contains" else _SYMBOL_OPS[operator], value=value)


def _json_filter(data: Any, scan: _Scanner) -> FilterExpr:
    try:
        return filter_from_json(data)
    except FilterSyntaxError:
        raise
    except ValueError as exc:
        raise scan.fail(str(exc), at=0) from exc


def filter_from_json(data: Mapping[str, Any], where: str = "filter") -> FilterExpr:
    """Build a filter from ``{"and": [...]}``, ``{"or": [...]}`` or ``{"field", "op", "value"}``.

    Raises:
        ConfigError: a node that is not one of those, naming where it is (``filter.and[1]``).
    """
    expected = f"expected keys field, op ({', '.join(o.value for o in Op)}), value, or a list under and/or"
    if not isinstance(data, Mapping):
        raise ConfigError(f"Invalid filter at {where}: {data!r} is not an object; {expected}")
    for group in ("and", "or"):
        if group in data:
            items = data[group]
            if set(data) != {group} or not isinstance(items, list) or not items:
                raise ConfigError(f"Invalid filter at {where}: {group!r} takes a non-empty list and nothing beside it")
            parts = [filter_from_json(d, f"{where}.{group}[{i}]") for i, d in enumerate(items)]
            return And(filters=parts) if group == "and" else Or(filters=parts)
    try:
        if set(data) != {"field", "op", "value"}:
            raise KeyError(sorted(data))
        return Comparison(field=data["field"], op=Op(data["op"]), value=data["value"])
    except (KeyError, ValueError) as exc:
        msg = f"Invalid filter at {where}: {dict(data)!r}; {expected}"
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


__all__ = [
    "GRAMMAR",
    "And",
    "Comparison",
    "F",
    "FilterExpr",
    "FilterSyntaxError",
    "Op",
    "Or",
    "combine",
    "filter_from_json",
    "matches",
    "parse_filter",
]
