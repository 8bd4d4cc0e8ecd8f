"""Plain text files: one document per file, titled by the file name."""

from __future__ import annotations

from collections.abc import Iterator

from ragtune.loaders.base import Parser, Source, require_text
from ragtune.loaders.encoding import decode_text
from ragtune.loaders.options import LoadFailure, LoadOptions
from ragtune.schema import Document


class TextParser(Parser):
    """``.txt``: the decoded text, stripped."""

    file_type = "txt"
    suffixes = (".txt", ".text")
    content_types = ("text/plain",)

    def _parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        text = require_text(decode_text(data, declared=source.charset))
        yield source.document(text, file_type=self.file_type)


__all__ = ["TextParser"]
