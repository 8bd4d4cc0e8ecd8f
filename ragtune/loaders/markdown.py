"""Markdown files: the text as written (headings drive chunking), titled by the first ``# heading``."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

from ragtune.loaders.base import Parser, Source, require_text
from ragtune.loaders.encoding import decode_text
from ragtune.loaders.options import LoadFailure, LoadOptions
from ragtune.schema import Document

_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def markdown_title(text: str) -> str | None:
    """The first level-1 ATX heading outside code fences, else a front-matter ``title:``."""
    front_title = None
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            match = _FRONT_MATTER_TITLE.search(text, 4, end)
            if match:
                front_title = match.group(1).strip("\"'") or None
    fence: str | None = None
    for raw in io.StringIO(text):
        line = raw.rstrip("\n")
        opening = _FENCE.match(line)
        if opening:
            marker = opening.group(1)
            fence = None if fence == marker else (fence or marker)
            continue
        if fence is None:
            heading = _H1.match(line)
            if heading:
                return heading.group(1).strip()
    return front_title


class MarkdownParser(Parser):
    """``.md``: one document per file, Markdown kept so that chunks follow its headings."""

    file_type = "md"
    suffixes = (".md", ".markdown")
    content_types = ("text/markdown", "text/x-markdown")

    def _parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        text = require_text(decode_text(data, declared=source.charset))
        yield source.document(text, title=markdown_title(text), file_type=self.file_type)


__all__ = ["MarkdownParser", "markdown_title"]
