"""Loaders: files, folders, URLs and framework readers into :class:`~ragtune.schema.Document` s.

Supported: ``.txt``, ``.md``, ``.html``/``.htm``, ``.pdf`` (a document per page), ``.json``/
``.jsonl``/``.csv`` (a document per record), ``.docx``, folders (recursive) and ``http(s)`` URLs,
plus adapters for any LangChain ``BaseLoader`` or LlamaIndex reader. Names load on first use.

Example:
    ```python
    from ragtune.loaders import LoadOptions, load_documents

    docs, failures = load_documents(["docs/"], LoadOptions(exclude=["drafts"]))
    ```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragtune._lazy import lazy_getattr

if TYPE_CHECKING:
    from ragtune.loaders.adapters import from_langchain_loader, from_llamaindex_reader
    from ragtune.loaders.api import iter_documents, load_documents, source_in_scope, source_scope
    from ragtune.loaders.options import LoadFailure, LoadOptions
    from ragtune.loaders.registry import supported_suffixes

_DYNAMIC_IMPORTS = {
    "LoadFailure": "options",
    "LoadOptions": "options",
    "from_langchain_loader": "adapters",
    "from_llamaindex_reader": "adapters",
    "iter_documents": "api",
    "load_documents": "api",
    "source_in_scope": "api",
    "source_scope": "api",
    "supported_suffixes": "registry",
}


__getattr__ = lazy_getattr(__name__, _DYNAMIC_IMPORTS, globals())


def __dir__() -> list[str]:
    return sorted([*globals(), *_DYNAMIC_IMPORTS])


__all__ = [
    "LoadFailure",
    "LoadOptions",
    "from_langchain_loader",
    "from_llamaindex_reader",
    "iter_documents",
    "load_documents",
    "source_in_scope",
    "source_scope",
    "supported_suffixes",
]
