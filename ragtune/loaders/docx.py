"""Word ``.docx`` files: paragraphs and tables in document order, headings as ``#`` lines."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from ragtune.errors import LoaderError
from ragtune.loaders.base import Parser, Source, require_text
from ragtune.loaders.options import LoadFailure, LoadOptions
from ragtune.schema import Document

_HEADING_STYLE = re.compile(r"^Heading (\d)$")


class DocxParser(Parser):
    """``.docx`` via python-docx; title from the core properties, else the file name."""

    file_type = "docx"
    suffixes = (".docx",)
    content_types = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",)

    def _parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        document = _open(data)
        blocks = list(_blocks(document))
        text = require_text("\n\n".join(block for block in blocks if block))
        title = (document.core_properties.title or "").strip() or None
        yield source.document(text, title=title, file_type=self.file_type)


def _open(data: bytes) -> Any:
    import docx

    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # zipfile.BadZipFile, KeyError, ValueError from python-docx
        msg = (
            f"not a valid .docx file ({type(exc).__name__}: {exc}); "
            "if it is an old .doc or corrupt, re-save it as .docx"
        )
        raise LoaderError(msg) from exc


def _blocks(document: Any) -> Iterator[str]:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            yield _paragraph(item)
        elif isinstance(item, Table):
            rows = (" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows)
            yield "\n".join(row for row in rows if row.strip(" |"))


def _paragraph(paragraph: Any) -> str:
    text = paragraph.text.strip()
    style = paragraph.style.name if paragraph.style is not None else ""
    heading = _HEADING_STYLE.match(style or "")
    if text and heading:
        return f"{'#' * min(int(heading.group(1)), 6)} {' '.join(text.split())}"
    if text and style == "Title":
        return f"# {' '.join(text.split())}"
    return text


__all__ = ["DocxParser"]
