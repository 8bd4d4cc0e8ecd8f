"""What to load and how: :class:`LoadOptions`, and :class:`LoadFailure` for what could not be loaded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MAX_FILE_BYTES = 200 * 1024 * 1024
"""Files (and URL responses) above this size are refused rather than read into memory."""


class LoadOptions(BaseModel):
    """How files, folders and records become documents.

    Example:
        ```python
        options = LoadOptions(text_fields=["title", "text"], id_field="_id")
        docs, failures = load_documents(["data/scifact/corpus.jsonl"], options)
        ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    text_fields: list[str] = Field(default_factory=list)
    """JSON/JSONL/CSV fields joined in this order (with a blank line) into the document text.

    Empty: the first of ``text``, ``content``, ``body``, ``page_content`` that a record has."""
    id_field: str | None = None
    """JSON/JSONL/CSV field whose value becomes ``Document.id``; values must be unique within a file."""
    metadata_fields: list[str] | None = None
    """Record fields kept as metadata. ``None``: every other scalar field; ``[]``: none."""
    include: list[str] = Field(default_factory=list)
    """Globs a file inside a folder must match (any of them) to be loaded; empty: every file.

    A glob without ``/`` matches the file name (``*.md``); one with ``/`` matches the path relative to the
    folder (``docs/**/*.md``)."""
    exclude: list[str] = Field(default_factory=list)
    """Globs of files or folders inside a folder to skip (``drafts``, ``*.log``, ``build/**``)."""
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, gt=0)
    """Larger files and URL responses are refused with a failure instead of being read."""


class LoadFailure(BaseModel):
    """A file, record or URL that could not be loaded, with a plain-English reason.

    ``path`` is the same string the documents of that source carry as ``Document.source``
    (the absolute path or the URL), so callers can match failures to sources.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    """Absolute path (or URL) of the source that failed."""
    reason: str
    """What was wrong and, where possible, how to fix it."""
    line: int | None = None
    """1-based line of the record that failed (JSONL, CSV, JSON syntax errors)."""

    def __str__(self) -> str:
        where = f"{self.path} line {self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


__all__ = ["DEFAULT_MAX_FILE_BYTES", "LoadFailure", "LoadOptions"]
