"""Documents from any LangChain ``BaseLoader`` or LlamaIndex reader.

Framework objects are only touched here, and their packages are imported by the caller,
never by ragtune at import time. Ids must be stable for incremental sync, so a framework
id is kept only when it is not a random UUID (LlamaIndex's default); otherwise the id is
the document's source, with ``#2``, ``#3``... for further documents of the same source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ragtune.errors import LoaderError
from ragtune.schema import Document, MetadataValue

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_SOURCE_KEYS = ("source", "file_path", "url", "filename", "file_name")


def from_langchain_loader(loader: Any) -> Iterator[Document]:
    """Documents of a LangChain ``BaseLoader``, read lazily through ``lazy_load()``.

    ``page_content`` becomes the text, ``metadata["source"]`` the source (an existing local
    path is made absolute), ``metadata["title"]`` the title, and scalar metadata is kept.

    Raises:
        LoaderError: the loader itself failed.

    Example:
        ```python
        from langchain_community.document_loaders import WebBaseLoader
        docs = list(from_langchain_loader(WebBaseLoader("https://example.com")))
        ```
    """
    name = type(loader).__name__
    try:
        items = (
            (item.page_content, dict(item.metadata or {}), getattr(item, "id", None)) for item in loader.lazy_load()
        )
        yield from _convert(items, framework="langchain", name=name)
    except LoaderError:
        raise
    except Exception as exc:
        raise LoaderError(f"LangChain loader {name} failed: {type(exc).__name__}: {exc}") from exc


def from_llamaindex_reader(reader: Any, **load_kwargs: Any) -> Iterator[Document]:
    """Documents of a LlamaIndex reader (``lazy_load_data``, else ``load_data``, with ``load_kwargs``).

    Raises:
        LoaderError: the reader itself failed.

    Example:
        ```python
        from llama_index.core import SimpleDirectoryReader
        docs = list(from_llamaindex_reader(SimpleDirectoryReader("docs/")))
        ```
    """
    name = type(reader).__name__
    try:
        try:
            loaded: Iterable[Any] = reader.lazy_load_data(**load_kwargs)
        except NotImplementedError:
            loaded = reader.load_data(**load_kwargs)
        items = ((item.get_content(), dict(item.metadata or {}), item.id_) for item in loaded)
        yield from _convert(items, framework="llamaindex", name=name)
    except LoaderError:
        raise
    except Exception as exc:
        raise LoaderError(f"LlamaIndex reader {name} failed: {type(exc).__name__}: {exc}") from exc


def _convert(
    items: Iterable[tuple[str, dict[str, Any], str | None]], *, framework: str, name: str
) -> Iterator[Document]:
    per_source: dict[str, int] = {}
    for text, metadata, native_id in items:
        if not text or not text.strip():
            continue
        source = _source(metadata) or f"{framework}:{name}"
        count = per_source[source] = per_source.get(source, 0) + 1
        if native_id and not _UUID.match(native_id):
            doc_id = native_id
        else:
            doc_id = source if count == 1 else f"{source}#{count}"
        title = metadata.get("title")
        yield Document(
            id=doc_id,
            text=text.strip(),
            source=source,
            title=title.strip() if isinstance(title, str) and title.strip() else _stem(source),
            metadata=_metadata(metadata),
        )


def _source(metadata: Mapping[str, Any]) -> str | None:
    for key in _SOURCE_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            if "://" not in value and Path(value).exists():
                return str(Path(value).resolve())
            return value
    return None


def _stem(source: str) -> str:
    return Path(source.rstrip("/")).stem or source


def _metadata(metadata: Mapping[str, Any]) -> dict[str, MetadataValue]:
    kept: dict[str, MetadataValue] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or value is None or key == "title":
            continue
        if isinstance(value, (str, int, float, bool)):
            kept[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            kept[key] = list(value)
        else:
            kept[key] = json.dumps(value, ensure_ascii=False, default=str)
    return kept


__all__ = ["from_langchain_loader", "from_llamaindex_reader"]
