"""Which parser reads which file extension or HTTP content type."""

from __future__ import annotations

from ragtune.loaders.base import Parser
from ragtune.loaders.docx import DocxParser
from ragtune.loaders.html import HtmlParser
from ragtune.loaders.markdown import MarkdownParser
from ragtune.loaders.pdf import PdfParser
from ragtune.loaders.records import CsvParser, JsonlParser, JsonParser
from ragtune.loaders.text import TextParser

PARSERS: tuple[Parser, ...] = (
    TextParser(),
    MarkdownParser(),
    HtmlParser(),
    PdfParser(),
    JsonParser(),
    JsonlParser(),
    CsvParser(),
    DocxParser(),
)
"""Every built-in parser; each reads the suffixes and content types it declares."""

_BY_SUFFIX = {suffix: parser for parser in PARSERS for suffix in parser.suffixes}
_BY_CONTENT_TYPE = {content_type: parser for parser in PARSERS for content_type in parser.content_types}


def supported_suffixes() -> list[str]:
    """Every file extension a parser reads, sorted (``[".csv", ".docx", ...]``)."""
    return sorted(_BY_SUFFIX)


def parser_for_suffix(suffix: str) -> Parser | None:
    """The parser for a file extension such as ``".md"`` (case-insensitive), or ``None``."""
    return _BY_SUFFIX.get(suffix.lower())


def parser_for_content_type(content_type: str) -> Parser | None:
    """The parser for an HTTP ``Content-Type`` value (parameters ignored), or ``None``."""
    return _BY_CONTENT_TYPE.get(content_type.split(";", 1)[0].strip().lower())


def unsupported_reason(suffix: str) -> str:
    """Plain reason for a file nobody reads, listing what is supported."""
    kind = f"file type {suffix.lower()}" if suffix else "file type (no extension)"
    supported = ", ".join(supported_suffixes())
    return f"unsupported {kind}; supported: {supported}. Rename or convert the file, or exclude it"


__all__ = ["PARSERS", "parser_for_content_type", "parser_for_suffix", "supported_suffixes", "unsupported_reason"]
