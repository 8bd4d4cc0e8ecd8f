"""The parser extension point: bytes of one source in, documents (and failures) out.

Each file format is one :class:`Parser` subclass implementing ``_parse``; the public
:meth:`Parser.parse` owns the shared checks and turns every error into a :class:`LoadFailure`,
so one bad file never stops a batch.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ragtune.errors import LoaderError
from ragtune.loaders.options import LoadFailure, LoadOptions
from ragtune.schema import Document, MetadataValue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where a parser's bytes came from."""

    source: str
    """``Document.source``: the absolute resolved path, or the URL."""
    stem: str
    """Fallback title: the file name without its extension."""
    modified: float | None = None
    """Modification time (POSIX seconds) where known."""
    charset: str | None = None
    """Encoding declared by the transport (an HTTP ``charset``), tried before detection."""

    def document(
        self, text: str, *, doc_id: str | None = None, title: str | None = None, **metadata: MetadataValue
    ) -> Document:
        """A document of this source; ``doc_id`` defaults to the source itself."""
        return Document(
            id=doc_id or self.source,
            text=text,
            source=self.source,
            title=title or self.stem,
            modified=self.modified,
            metadata=metadata,
        )

    def failure(self, reason: str, *, line: int | None = None) -> LoadFailure:
        return LoadFailure(path=self.source, reason=reason, line=line)


class Parser(ABC):
    """Turns the bytes of one file format into documents.

    Subclasses set ``file_type``, ``suffixes`` and ``content_types`` and implement
    :meth:`_parse`, raising :class:`~ragtune.errors.LoaderError` for bad input (or yielding
    :class:`LoadFailure` for one bad record among good ones).
    """

    file_type: ClassVar[str]
    """Short name stored as ``metadata["file_type"]`` (``"pdf"``, ``"md"``...)."""
    suffixes: ClassVar[tuple[str, ...]]
    """Lower-case file extensions this parser reads, with the dot."""
    content_types: ClassVar[tuple[str, ...]] = ()
    """HTTP content types (without parameters) this parser reads."""

    def parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        """Documents of ``data``; every problem becomes a :class:`LoadFailure`, nothing raises."""
        if not data:
            yield source.failure("empty file")
            return
        try:
            yield from self._parse(data, source, options)
        except LoaderError as exc:
            yield source.failure(exc.message, line=exc.line)
        except Exception as exc:  # a parser library's own, untyped errors
            log.debug("parser %s failed on %s", type(self).__name__, source.source, exc_info=True)
            yield source.failure(f"could not be read as {self.file_type}: {type(exc).__name__}: {exc}")

    @abstractmethod
    def _parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]: ...


def require_text(text: str, what: str = "text") -> str:
    """``text`` stripped; a :class:`LoaderError` when nothing is left."""
    stripped = text.strip()
    if not stripped:
        msg = f"no {what} (the file holds only whitespace or markup)"
        raise LoaderError(msg)
    return stripped


__all__ = ["Parser", "Source", "require_text"]
