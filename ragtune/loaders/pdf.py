"""PDF files: one document per page with text, ``page`` (1-based) in metadata.

A truncated or corrupt PDF fails as a whole; a PDF whose pages hold no text (a scan)
fails with a hint to run OCR. Pages are read before any is yielded, so a file either
loads or is listed as a failure, never half of it silently.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from ragtune.errors import LoaderError
from ragtune.loaders.base import Parser, Source
from ragtune.loaders.options import LoadFailure, LoadOptions
from ragtune.schema import Document

_FIX = "repair it or export it again"


class PdfParser(Parser):
    """``.pdf`` via pypdf: ids ``<path>#page=N``, title from the PDF's metadata."""

    file_type = "pdf"
    suffixes = (".pdf",)
    content_types = ("application/pdf",)

    def _parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        if b"%PDF-" not in data[:1024]:
            raise LoaderError(f"not a PDF (no %PDF- header); the file is mislabelled or corrupt, {_FIX}")
        if b"%%EOF" not in data[-2048:]:
            raise LoaderError(f"truncated PDF (no %%EOF end marker); the download or copy was cut short, {_FIX}")
        reader = _open(data)
        title = _title(reader) or source.stem
        pages = len(reader.pages)
        results: list[Document | LoadFailure] = []
        for number, page in enumerate(reader.pages, start=1):
            try:
                text = (page.extract_text() or "").strip()
            except Exception as exc:  # pypdf's errors are not one family
                results.append(source.failure(f"page {number}: text could not be extracted ({exc}); {_FIX}"))
                continue
            if text:
                results.append(
                    source.document(
                        text,
                        doc_id=f"{source.source}#page={number}",
                        title=title,
                        file_type=self.file_type,
                        page=number,
                        pages=pages,
                    )
                )
        if not results:
            raise LoaderError("no extractable text on any page; it may be a scanned PDF, run OCR on it first")
        yield from results


def _open(data: bytes) -> Any:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoaderError("encrypted PDF; remove its password (e.g. print it to a new PDF) and load it again")
        pages = len(reader.pages)  # reads the page tree, where damage shows
    except LoaderError:
        raise
    except Exception as exc:  # PdfReadError, and plain ValueError/KeyError on damaged trees
        raise LoaderError(f"corrupt PDF ({type(exc).__name__}: {exc}); {_FIX}") from exc
    if not pages:
        raise LoaderError(f"PDF without pages; {_FIX}")
    return reader


def _title(reader: Any) -> str | None:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # a damaged info dictionary only costs the title
        return None
    if not title:
        return None
    return " ".join(str(title).split()) or None


__all__ = ["PdfParser"]
