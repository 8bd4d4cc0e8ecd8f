"""Behaviour requirements of an evaluation line (``"expect": {...}``) and how an answer is scored against them.

Knowledge asks *what* an answer says; behaviour asks *how*: its format, its labels, its length,
its wording. A requirement is one :class:`Expect`; :func:`check` scores an answer against every
rule it sets, and :func:`knowledge_text` is the part of the answer knowledge is scored on (the
schema's answer field for ``format: json``). Compliance is judged on the answer exactly as the
arm produced it: nothing here repairs, re-parses leniently or rewrites an answer into the format.

Rules (each a key of ``expect``):

===================  ===========================================================================
``format``           ``"json"`` (the whole answer parses as JSON and satisfies ``schema``) or
                     ``"text"`` (it does not parse as a JSON object or list)
``labels``           the answer is exactly one of the listed labels (surrounding whitespace and
                     one trailing period ignored)
``max_words``        at most this many words
``pattern``          a regular expression the whole answer must match
``must_include``     every listed term appears (case-insensitive)
``must_not_include`` none of the listed terms appears (case-insensitive)
===================  ===========================================================================

Example:
    >>> expect = parse_expect({"format": "json", "schema": {"type": "object", "required": ["answer"]}})
    >>> check(expect, '{"answer": "Port Amberly"}')
    {'format': True}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RULES = ("format", "labels", "max_words", "pattern", "must_include", "must_not_include")
"""The rules an ``expect`` object can set, in report order."""
KEYS = (*RULES, "schema")
"""Every key ``expect`` accepts (``schema`` belongs to ``format: json``)."""
ANSWER_FIELDS = ("answer", "label", "value", "result", "output")
"""Property names taken as the schema's answer field, in order of preference."""


class ExpectError(ValueError):
    """An ``expect`` object that cannot be used; ``key`` names the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Expect(BaseModel):
    """One behaviour requirement (see the module docs for each rule)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    format: Literal["json", "text"] | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    labels: tuple[str, ...] | None = None
    max_words: int | None = Field(default=None, ge=1)
    pattern: str | None = None
    must_include: tuple[str, ...] = ()
    must_not_include: tuple[str, ...] = ()

    def rules(self) -> list[str]:
        """The rules this requirement sets, in :data:`RULES` order."""
        present = {
            "format": self.format is not None,
            "labels": self.labels is not None,
            "max_words": self.max_words is not None,
            "pattern": self.pattern is not None,
            "must_include": bool(self.must_include),
            "must_not_include": bool(self.must_not_include),
        }
        return [r for r in RULES if present[r]]

    def answer_field(self) -> str | None:
        """The schema property knowledge is scored on (``format: json``), ``None`` without one."""
        return answer_field(self.json_schema) if self.format == "json" else None

    def describe(self) -> str:
        """The requirement in words, as stated to the rag arm's model."""
        parts: list[str] = []
        if self.format == "json":
            schema = json.dumps(self.json_schema, separators=(",", ":")) if self.json_schema else "{}"
            parts.append(f"Reply with only a JSON object, no other text, matching this JSON Schema: {schema}.")
            example = example_object(self.json_schema or {}, {self.answer_field() or "answer": "..."})
            if example is not None:
                parts.append(f"Example reply: {json.dumps(example)}")
        elif self.format == "text":
            parts.append("Reply in plain text, not JSON.")
        if self.labels is not None:
            parts.append(f"Reply with exactly one of these labels and nothing else: {', '.join(self.labels)}.")
        if self.max_words is not None:
            parts.append(f"Use at most {self.max_words} words.")
        if self.pattern is not None:
            parts.append(f"The whole reply must match the regular expression {self.pattern}.")
        if self.must_include:
            parts.append(f"Include the terms: {', '.join(self.must_include)}.")
        if self.must_not_include:
            parts.append(f"Never use the terms: {', '.join(self.must_not_include)}.")
        return " ".join(parts)


def answer_field(schema: Mapping[str, Any] | None) -> str | None:
    """The property of an object schema that holds the answer: a preferred name, else the first required string."""
    if not schema:
        return None
    properties = schema.get("properties") or {}
    for name in ANSWER_FIELDS:
        if name in properties:
            return name
    required = [r for r in schema.get("required") or [] if isinstance(r, str)]
    strings = [r for r in required if (properties.get(r) or {}).get("type") == "string"]
    chosen = strings or required
    return chosen[0] if chosen else None


def example_object(schema: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any] | None:
    """An object with every property of ``schema`` (``values`` where given, else a typed placeholder)."""
    properties = schema.get("properties")
    if schema.get("type") not in (None, "object") or not isinstance(properties, dict):
        return None
    placeholders: dict[str, Any] = {"string": "...", "integer": 0, "number": 0, "boolean": False, "array": []}
    out: dict[str, Any] = {}
    for name, spec in properties.items():
        if name in values:
            out[name] = values[name]
        else:
            kind = spec.get("type") if isinstance(spec, dict) else None
            out[name] = placeholders.get(kind if isinstance(kind, str) else "string", "...")
    return out


def parse_expect(value: Any) -> Expect:
    """Validate one ``expect`` object.

    Raises:
        ExpectError: an unknown key, a wrong type, an invalid JSON Schema or regular expression
            (``key`` names it).
    """
    if not isinstance(value, Mapping):
        raise ExpectError("expect", f'"expect" must be a JSON object with keys from {", ".join(KEYS)}')
    unknown = [k for k in value if k not in KEYS]
    if unknown:
        raise ExpectError(unknown[0], f'unknown "expect" key "{unknown[0]}"; use {", ".join(KEYS)}')
    from pydantic import ValidationError

    try:
        expect = Expect.model_validate(dict(value))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "expect"
        raise ExpectError(key, f'"expect" key "{key}": {error["msg"]}') from exc
    if expect.json_schema is not None:
        if expect.format != "json":
            raise ExpectError("schema", '"expect" key "schema" needs "format": "json"')
        from jsonschema import exceptions, validators

        try:
            validators.validator_for(expect.json_schema).check_schema(expect.json_schema)
        except exceptions.SchemaError as exc:
            raise ExpectError("schema", f'"expect" key "schema" is not a valid JSON Schema: {exc.message}') from exc
    if expect.pattern is not None:
        try:
            re.compile(expect.pattern)
        except re.error as exc:
            raise ExpectError("pattern", f'"expect" key "pattern" is not a valid regular expression: {exc}') from exc
    if expect.labels is not None and not [lab for lab in expect.labels if lab.strip()]:
        raise ExpectError("labels", '"expect" key "labels" must list at least one label')
    return expect


def _label_form(text: str) -> str:
    return text.strip().removesuffix(".").strip()


def parse_json(text: str) -> Any:
    """The answer parsed as JSON exactly as written (whitespace around it allowed); ``None`` if it does not parse."""
    try:
        return json.loads(text.strip())
    except (json.JSONDecodeError, ValueError):
        return None


def _format_ok(expect: Expect, text: str) -> bool:
    stripped = text.strip()
    if expect.format == "text":
        return not (stripped[:1] in "{[" and parse_json(stripped) is not None) if stripped else False
    parsed = parse_json(stripped)
    if parsed is None:
        return False
    if expect.json_schema is None:
        return isinstance(parsed, (dict, list))
    from jsonschema import validators

    validator = validators.validator_for(expect.json_schema)(expect.json_schema)
    return bool(validator.is_valid(parsed))


def check(expect: Expect, text: str) -> dict[str, bool]:
    """Each rule ``expect`` sets, and whether ``text`` (the answer as the arm produced it) meets it."""
    out: dict[str, bool] = {}
    lowered = text.casefold()
    for rule in expect.rules():
        if rule == "format":
            out[rule] = _format_ok(expect, text)
        elif rule == "labels":
            out[rule] = _label_form(text) in {_label_form(label) for label in expect.labels or ()}
        elif rule == "max_words":
            out[rule] = len(text.split()) <= (expect.max_words or 0)
        elif rule == "pattern":
            out[rule] = re.fullmatch(expect.pattern or "", text.strip(), flags=re.DOTALL) is not None
        elif rule == "must_include":
            out[rule] = all(term.casefold() in lowered for term in expect.must_include)
        elif rule == "must_not_include":
            out[rule] = not any(term.casefold() in lowered for term in expect.must_not_include)
    return out


def json_values(text: str) -> dict[str, Any] | None:
    """The answer's JSON object, or ``None`` when the answer is not one (no lenient parsing)."""
    parsed = parse_json(text)
    return parsed if isinstance(parsed, dict) else None


def knowledge_text(expect: Expect | None, text: str) -> str:
    """The part of an answer knowledge is scored on.

    ``format: json``: the answer field of the JSON object (the whole text when the answer is not
    JSON, so a right fact in the wrong format still counts as knowledge and fails only behaviour);
    ``labels``: the answer without surrounding whitespace or a trailing period; else the text.
    """
    if expect is None:
        return text
    field = expect.answer_field()
    if expect.format == "json":
        values = json_values(text)
        if values is not None and field is not None:
            value = values.get(field)
            return "" if value is None else (value if isinstance(value, str) else json.dumps(value))
        return text
    if expect.labels is not None:
        return _label_form(text)
    return text


def label_correct(expect: Expect, text: str, reference: str) -> bool:
    """Label accuracy: the answer is the line's label (case-insensitive)."""
    return _label_form(text).casefold() == _label_form(reference).casefold()


__all__ = [
    "ANSWER_FIELDS",
    "KEYS",
    "RULES",
    "Expect",
    "ExpectError",
    "answer_field",
    "check",
    "example_object",
    "json_values",
    "knowledge_text",
    "label_correct",
    "parse_expect",
    "parse_json",
]
