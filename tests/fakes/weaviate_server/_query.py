"""Search semantics of the test server: filters, BM25, near_vector and hybrid.

Each follows Weaviate's documented behaviour:

* filters check the filter value's type against the property's data type and
  compare text by the property's tokenization (``field``: the whole value;
  ``word``: lower-cased alphanumeric tokens, all of which must be present);
  array properties match when any element does; ``NotEqual`` is the complement
  of ``Equal``, so objects without the property match it;
* BM25 is Okapi BM25 (``k1``/``b`` from the class config) over the searched
  properties, English stop words removed from the query, idf and average
  length taken over the whole shard; only objects with a matching term return;
* near_vector returns cosine distance ``1 - cos``;
* hybrid runs both searches (each up to ``max(100, offset + limit)`` results),
  then fuses them: ``relativeScore`` min-max normalises each list (all-equal
  scores normalise to 1) and adds ``alpha * vector + (1 - alpha) * keyword``;
  ``ranked`` adds ``weight / (60 + rank)`` with 0-based ranks.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._store import ClassState, Shard, StoredObject, WeaviateError

EN_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
HYBRID_SUB_LIMIT = 100
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# -- tokenization ----------------------------------------------------------
def tokenize(text: str, tokenization: str) -> list[str]:
    if tokenization == "field":
        stripped = text.strip()
        return [stripped] if stripped else []
    if tokenization == "whitespace":
        return text.split()
    if tokenization == "lowercase":
        return text.lower().split()
    return _WORD.findall(text.lower())


# -- filters ---------------------------------------------------------------
@dataclass
class FilterSpec:
    """A decoded filter: operator name, property path, typed value, children."""

    operator: str
    prop: str = ""
    value: Any = None
    value_kind: str = ""
    children: list[FilterSpec] = field(default_factory=list)


def compile_filter(cls: ClassState, spec: FilterSpec | None) -> Callable[[StoredObject], bool]:
    """Check a filter against the class schema and return a predicate over objects."""
    if spec is None:
        return lambda obj: True
    op = spec.operator
    if op in ("And", "Or"):
        parts = [compile_filter(cls, child) for child in spec.children]
        if op == "And":
            return lambda obj: all(p(obj) for p in parts)
        return lambda obj: any(p(obj) for p in parts)
    if op == "Not":
        inner = compile_filter(cls, spec.children[0])
        return lambda obj: not inner(obj)
    if spec.prop == "_id":
        return _id_predicate(op, spec.value)
    prop = cls.prop(spec.prop)
    if prop is None:
        msg = (
            f"no such prop with name '{spec.prop}' found in class '{cls.name}' in the schema. "
            "Check your schema files for which properties in this class are available"
        )
        raise WeaviateError(msg)
    if not prop.get("indexFilterable", True) and op != "IsNull":
        raise WeaviateError(
            f"Filtering by property '{spec.prop}' requires inverted index. Is `indexFilterable` enabled?"
        )
    data_type: str = prop["dataType"][0]
    _check_value_type(spec, data_type)
    tokenization = prop.get("tokenization", "word")
    base_type = data_type.removesuffix("[]")

    def values_of(obj: StoredObject) -> list[Any] | None:
        raw = obj.properties.get(spec.prop)
        if raw is None:
            return None
        return raw if isinstance(raw, list) else [raw]

    if op == "IsNull":
        return lambda obj: (values_of(obj) is None) == bool(spec.value)
    if base_type == "text":
        return _text_predicate(op, spec.value, tokenization, values_of)
    return _scalar_predicate(op, spec.value, values_of)


def _check_value_type(spec: FilterSpec, data_type: str) -> None:
    base = data_type.removesuffix("[]")
    expected = {"text": "text", "uuid": "text", "date": "text", "int": "int", "number": "number", "boolean": "boolean"}
    want = expected.get(base, base)
    if spec.operator == "IsNull":
        return
    kind, _, array = spec.value_kind.partition("_")
    if kind != want:
        have = f"value{kind.title()}{'Array' if array else ''}"
        msg = f'data type filter cannot use "{have}" on type "{data_type}", use "value{want.title()}" instead'
        raise WeaviateError(msg)


def _id_predicate(op: str, value: Any) -> Callable[[StoredObject], bool]:
    values = {str(v) for v in (value if isinstance(value, list) else [value])}
    if op in ("Equal", "ContainsAny", "ContainsAll"):
        return lambda obj: obj.uuid in values
    if op in ("NotEqual", "ContainsNone"):
        return lambda obj: obj.uuid not in values
    raise WeaviateError(f"operator {op} is not supported for id filters")


def _text_predicate(
    op: str, value: Any, tokenization: str, values_of: Callable[[StoredObject], list[Any] | None]
) -> Callable[[StoredObject], bool]:
    def tokens(obj: StoredObject) -> set[str]:
        found = values_of(obj) or []
        return {t for v in found for t in tokenize(str(v), tokenization)}

    def holds(obj: StoredObject, wanted: str) -> bool:
        want = tokenize(wanted, tokenization)
        return bool(want) and set(want) <= tokens(obj)

    if op == "Equal":
        return lambda obj: holds(obj, value)
    if op == "NotEqual":
        return lambda obj: not holds(obj, value)
    if op == "Like":
        pattern = value if tokenization == "field" else value.lower()
        return lambda obj: any(fnmatch.fnmatchcase(t, pattern) for t in tokens(obj))
    if op == "ContainsAny":
        return lambda obj: any(holds(obj, v) for v in value)
    if op == "ContainsAll":
        return lambda obj: all(holds(obj, v) for v in value)
    if op == "ContainsNone":
        return lambda obj: not any(holds(obj, v) for v in value)
    if op in ("LessThan", "LessThanEqual", "GreaterThan", "GreaterThanEqual"):
        return _scalar_predicate(op, value, values_of)
    raise WeaviateError(f"operator {op} is not supported on text properties")


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "LessThan": lambda a, b: a < b,
    "LessThanEqual": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEqual": lambda a, b: a >= b,
}


def _scalar_predicate(
    op: str, value: Any, values_of: Callable[[StoredObject], list[Any] | None]
) -> Callable[[StoredObject], bool]:
    if op == "Equal":
        return lambda obj: value in (values_of(obj) or [])
    if op == "NotEqual":
        return lambda obj: value not in (values_of(obj) or [])
    if op in _ORDER:
        cmp = _ORDER[op]
        return lambda obj: any(cmp(v, value) for v in (values_of(obj) or []))
    if op == "ContainsAny":
        return lambda obj: any(v in value for v in (values_of(obj) or []))
    if op == "ContainsAll":
        return lambda obj: all(v in (values_of(obj) or []) for v in value)
    if op == "ContainsNone":
        return lambda obj: not any(v in value for v in (values_of(obj) or []))
    raise WeaviateError(f"operator {op} is not supported on this property type")


# -- scoring ---------------------------------------------------------------
@dataclass
class Scored:
    obj: StoredObject
    score: float = 0.0
    distance: float | None = None
    explain: str = ""


def keyword_search(
    cls: ClassState,
    shard: Shard,
    query: str,
    properties: Iterable[str],
    allowed: Callable[[StoredObject], bool],
    limit: int,
) -> list[Scored]:
    props = _bm25_properties(cls, properties)
    bm25 = cls.config["invertedIndexConfig"]["bm25"]
    k1, b = float(bm25["k1"]), float(bm25["b"])
    objects = list(shard.objects.values())
    n_docs = len(objects)
    indexed = []
    for name, boost, tokenization in props:
        counts = [Counter(tokenize(_as_text(o.properties.get(name)), tokenization)) for o in objects]
        avg = (sum(sum(c.values()) for c in counts) / n_docs) if n_docs else 0.0
        terms = Counter(t for t in tokenize(query, tokenization) if tokenization == "field" or t not in EN_STOPWORDS)
        df = {term: sum(1 for c in counts if term in c) for term in terms}
        indexed.append((boost, counts, avg, terms, df))
    results: list[Scored] = []
    for i, obj in enumerate(objects):
        if not allowed(obj):
            continue
        total = 0.0
        explain: list[str] = []
        for boost, counts, avg, terms, df in indexed:
            doc_len = sum(counts[i].values())
            for term, repeats in terms.items():
                tf = counts[i].get(term, 0)
                if tf == 0:
                    continue
                idf = math.log(1 + (n_docs - df[term] + 0.5) / (df[term] + 0.5))
                norm = 1 - b + b * (doc_len / avg if avg else 0.0)
                total += repeats * boost * idf * (tf * (k1 + 1)) / (tf + k1 * norm)
                explain.append(f", BM25F_{term}_frequency:{tf}, BM25F_{term}_propLength:{doc_len}")
        if total > 0:
            results.append(Scored(obj=obj, score=total, explain="".join(explain)))
    results.sort(key=lambda s: -s.score)
    return results[:limit]


def _bm25_properties(cls: ClassState, requested: Iterable[str]) -> list[tuple[str, float, str]]:
    wanted = list(requested)
    if not wanted:
        wanted = [
            p["name"]
            for p in cls.config["properties"]
            if p["dataType"][0] in ("text", "text[]") and p.get("indexSearchable", True)
        ]
    out: list[tuple[str, float, str]] = []
    for item in wanted:
        name, _, boost = item.partition("^")
        prop = cls.prop(name)
        if prop is None:
            raise WeaviateError(f"property {name!r} not found in class {cls.name}")
        if not prop.get("indexSearchable", False):
            raise WeaviateError(f"property {name!r} is not indexSearchable, cannot run bm25 on it")
        out.append((name, float(boost) if boost else 1.0, prop.get("tokenization", "word")))
    return out


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def vector_search(
    cls: ClassState,
    shard: Shard,
    vector: np.ndarray,
    target: str,
    allowed: Callable[[StoredObject], bool],
    limit: int,
    *,
    max_distance: float | None = None,
) -> list[Scored]:
    expected = cls.dims.get(target)
    if expected is not None and len(vector) != expected:
        msg = (
            "vector search: knn search: distance between entrypoint and query node: "
            f"vector lengths don't match: {expected} vs {len(vector)}"
        )
        raise WeaviateError(msg)
    results: list[Scored] = []
    q = vector.astype(np.float32)
    q_norm = float(np.linalg.norm(q)) or 1.0
    for obj in shard.objects.values():
        vec = obj.vectors.get(target)
        if vec is None or not allowed(obj):
            continue
        v_norm = float(np.linalg.norm(vec)) or 1.0
        distance = float(1.0 - np.dot(q, vec) / (q_norm * v_norm))
        if max_distance is not None and distance > max_distance:
            continue
        results.append(Scored(obj=obj, distance=distance, score=1.0 - distance))
    results.sort(key=lambda s: s.distance if s.distance is not None else 2.0)
    return results[:limit]


def fuse(vector: list[Scored], keyword: list[Scored], alpha: float, fusion: str) -> list[Scored]:
    """Weaviate's ``rankedFusion`` or ``relativeScoreFusion`` of two result lists."""
    fused: dict[str, Scored] = {}
    order: dict[str, int] = {}
    sets = [("vector,hybridVector", vector, alpha), ("keyword,bm25", keyword, 1 - alpha)]
    for name, results, weight in sets:
        if fusion == "ranked":
            contributions = [weight / (60 + rank) for rank in range(len(results))]
        else:
            scores = [r.score for r in results]
            low, high = (min(scores), max(scores)) if scores else (0.0, 0.0)
            span = high - low
            contributions = [weight * ((s - low) / span if span > 0 else 1.0) for s in scores]
        for result, add in zip(results, contributions, strict=False):
            entry = fused.setdefault(result.obj.uuid, Scored(obj=result.obj))
            order.setdefault(result.obj.uuid, len(order))
            entry.score += add
            entry.explain += (
                f"\n(Result Set {name}) Document {result.obj.uuid}: original score {result.score}, "
                f"normalized score: {add}"
            )
    return sorted(fused.values(), key=lambda s: (-s.score, order[s.obj.uuid]))


__all__ = [
    "EN_STOPWORDS",
    "HYBRID_SUB_LIMIT",
    "FilterSpec",
    "Scored",
    "compile_filter",
    "fuse",
    "keyword_search",
    "tokenize",
    "vector_search",
]
