"""The chunk attributes a filter can name, defined once for every backend (no I/O).

A filter field is one of :data:`FILTERABLE_FIELDS` or else a metadata key; the
attribute wins over a metadata key of the same name. The embedded index
evaluates filters on :func:`filter_fields`; Weaviate stores each attribute as a
typed property (``id`` as ``chunk_id``) and the metadata in ``meta_*`` properties.
"""

from __future__ import annotations

from typing import Any, Literal

from ragtune.schema import Chunk

FieldType = Literal["text", "int"]
"""How an attribute's values compare: as whole strings or as integers (Weaviate's data type names)."""

FILTERABLE_FIELDS: dict[str, FieldType] = {
    "id": "text",
    "doc_id": "text",
    "source": "text",
    "title": "text",
    "section": "text",
    "page": "int",
    "position": "int",
}
"""Chunk attribute -> the type of its values, for every chunk attribute filters can name directly."""


def filter_fields(chunk: Chunk) -> dict[str, Any]:
    """The flat mapping a filter is evaluated against: the metadata, then the attributes over it."""
    fields: dict[str, Any] = dict(chunk.metadata)
    for name in FILTERABLE_FIELDS:
        fields[name] = getattr(chunk, name)
    return fields


__all__ = ["FILTERABLE_FIELDS", "FieldType", "filter_fields"]
