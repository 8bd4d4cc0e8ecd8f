"""How ragtune chunks and document states are laid out in Weaviate (no I/O here).

Two collections per index, both multi-tenant:

* ``<collection>`` holds one object per chunk (uuid5 of the chunk id) with the
  self-provided vector named :data:`VECTOR_NAME` (cosine), the chunk's fields
  as properties, ``search_text`` (the text that was embedded) for BM25, and
  ``chunk_json`` so a chunk round-trips exactly;
* ``<collection>_docs`` holds one object per document (uuid5 of the doc id):
  the :class:`~ragtune.schema.DocumentState` incremental sync compares against.

Every scalar metadata key ``k`` is also stored, for filters, in a property
named ``meta_<k>__<kind>`` where kind is ``text``, ``number``, ``boolean`` or
``text_array`` (ints and floats share ``number``), so a key whose values
differ in kind across chunks never makes a batch fail on a type conflict.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
from weaviate.util import generate_uuid5

from ragtune.index.fields import FILTERABLE_FIELDS
from ragtune.schema import Chunk, DocumentState, MetadataValue

VECTOR_NAME = "default"
"""Name of the self-provided vector in the chunk collection."""
DEFAULT_TENANT = "default"
"""The Weaviate tenant that ``tenant=None`` reads and writes."""
FINGERPRINT_TENANT = "ragtune-fingerprint"
"""Reserved tenant of the docs collection holding the embedding fingerprint (never listed as a tenant)."""
FINGERPRINT_ID = "ragtune-fingerprint"

REQUIRED_CHUNK_PROPERTIES = ("chunk_id", "doc_id", "generation", "chunk_json", "search_text")
"""Properties every ragtune chunk collection has: a collection without them belongs to another tool."""

TENANT_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")

META_PREFIX = "meta_"
META_KINDS: dict[str, DataType] = {
    "text": DataType.TEXT,
    "number": DataType.NUMBER,
    "boolean": DataType.BOOL,
    "text_array": DataType.TEXT_ARRAY,
}
FIELD_PROPERTIES: dict[str, str] = {field: "chunk_id" if field == "id" else field for field in FILTERABLE_FIELDS}
"""Filter field -> property: the chunk attributes filters can name (they win over metadata keys)."""
FIELD_TYPES: dict[str, DataType] = {FIELD_PROPERTIES[f]: DataType(t) for f, t in FILTERABLE_FIELDS.items()}
"""Property -> data type of each filterable chunk attribute."""

_SAFE_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


def _exact(name: str, data_type: DataType = DataType.TEXT) -> Property:
    """A filterable property compared as a whole value (``field`` tokenization for text)."""
    tokenization = Tokenization.FIELD if data_type in (DataType.TEXT, DataType.TEXT_ARRAY) else None
    return Property(
        name=name, data_type=data_type, tokenization=tokenization, index_filterable=True, index_searchable=False
    )


def _stored(name: str) -> Property:
    """A property kept for reading back only: not indexed."""
    return Property(name=name, data_type=DataType.TEXT, index_filterable=False, index_searchable=False)


def chunk_properties() -> list[Property]:
    return [
        _stored("text"),
        _stored("embed_text"),
        Property(
            name="search_text",
            data_type=DataType.TEXT,
            tokenization=Tokenization.WORD,
            index_filterable=False,
            index_searchable=True,
        ),
        *(_exact(name, data_type) for name, data_type in FIELD_TYPES.items()),
        _exact("content_hash"),
        _exact("doc_hash"),
        _exact("generation"),
        _stored("chunk_json"),
    ]


def document_properties() -> list[Property]:
    return [
        _exact("doc_id"),
        _exact("source"),
        _exact("doc_hash"),
        Property(name="chunk_ids", data_type=DataType.TEXT_ARRAY, index_filterable=False, index_searchable=False),
    ]


def collection_config(name: str, properties: list[Property], *, vectors: bool) -> dict[str, Any]:
    """Keyword arguments for ``client.collections.create``."""
    config: dict[str, Any] = {
        "name": name,
        "properties": properties,
        "multi_tenancy_config": Configure.multi_tenancy(
            enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
        ),
    }
    index = Configure.VectorIndex.hnsw if vectors else Configure.VectorIndex.flat  # docs hold no vectors
    config["vector_config"] = Configure.Vectors.self_provided(
        name=VECTOR_NAME, vector_index_config=index(distance_metric=VectorDistances.COSINE)
    )
    return config


def docs_collection_name(collection: str) -> str:
    return f"{collection}_docs"


# -- metadata properties ---------------------------------------------------------
def safe_key(key: str) -> str:
    """A metadata key as a Weaviate property name fragment (stable, collision-free)."""
    if _SAFE_NAME.match(key) and "__" not in key:
        return key
    cleaned = re.sub(r"[^0-9A-Za-z]+", "_", key).strip("_") or "key"
    return f"{cleaned}_{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}"


def meta_property(key: str, kind: str) -> str:
    return f"{META_PREFIX}{safe_key(key)}__{kind}"


def meta_property_config(name: str, data_type: DataType) -> Property:
    return _exact(name, data_type)


def value_kind(value: MetadataValue) -> str | None:
    """Which ``meta_*`` property a metadata value goes to (``None``: not stored for filters)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "text_array"
    return None


def meta_properties(metadata: Mapping[str, MetadataValue]) -> dict[str, tuple[DataType, Any]]:
    """``{property: (data type, value)}`` for every filterable metadata value."""
    out: dict[str, tuple[DataType, Any]] = {}
    for key, value in metadata.items():
        kind = value_kind(value)
        if kind is None:
            continue
        stored = float(value) if kind == "number" else value  # type: ignore[arg-type]
        out[meta_property(key, kind)] = (META_KINDS[kind], stored)
    return out


# -- objects ---------------------------------------------------------------------
def chunk_uuid(chunk_id: str) -> str:
    return str(generate_uuid5(chunk_id))


def document_uuid(doc_id: str) -> str:
    return str(generate_uuid5(doc_id))


def chunk_to_properties(chunk: Chunk, generation: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "text": chunk.text,
        "embed_text": chunk.embed_text,
        "search_text": chunk.text_for_embedding,
        **{FIELD_PROPERTIES[field]: getattr(chunk, field) for field in FILTERABLE_FIELDS},
        "content_hash": chunk.content_hash,
        "doc_hash": chunk.doc_hash,
        "generation": generation,
        "chunk_json": chunk.model_dump_json(),
    }
    props.update({name: value for name, (_, value) in meta_properties(chunk.metadata).items()})
    return {k: v for k, v in props.items() if v is not None}


def chunk_from_properties(props: Mapping[str, Any]) -> Chunk:
    return Chunk.model_validate_json(props["chunk_json"])


def chunk_as_stored(props: Mapping[str, Any]) -> Chunk:
    """The chunk with the text Weaviate actually serves and searches (an out-of-band edit shows up
    as text that no longer matches the recorded ``content_hash``)."""
    chunk = chunk_from_properties(props)
    text, search_text = props.get("text"), props.get("search_text")
    if isinstance(text, str) and text != chunk.text:
        return chunk.model_copy(update={"text": text})
    if isinstance(search_text, str) and search_text != chunk.text_for_embedding:
        return chunk.model_copy(update={"text": search_text, "embed_text": None})
    return chunk


def state_to_properties(state: DocumentState) -> dict[str, Any]:
    return {
        "doc_id": state.doc_id,
        "source": state.source,
        "doc_hash": state.doc_hash,
        "chunk_ids": list(state.chunk_ids),
    }


def state_from_properties(props: Mapping[str, Any]) -> DocumentState:
    return DocumentState(
        doc_id=str(props["doc_id"]),
        source=str(props.get("source") or ""),
        doc_hash=str(props.get("doc_hash") or ""),
        chunk_ids=tuple(props.get("chunk_ids") or ()),
    )


def schema_types(properties: Any) -> dict[str, str]:
    """``{name: data type}`` from a ``CollectionConfig``'s properties."""
    return {p.name: p.data_type.value for p in properties}


__all__ = [
    "DEFAULT_TENANT",
    "FIELD_PROPERTIES",
    "FIELD_TYPES",
    "META_KINDS",
    "TENANT_NAME",
    "VECTOR_NAME",
    "chunk_as_stored",
    "chunk_from_properties",
    "chunk_properties",
    "chunk_to_properties",
    "chunk_uuid",
    "collection_config",
    "docs_collection_name",
    "document_properties",
    "document_uuid",
    "meta_properties",
    "meta_property",
    "meta_property_config",
    "safe_key",
    "schema_types",
    "state_from_properties",
    "state_to_properties",
    "value_kind",
]
