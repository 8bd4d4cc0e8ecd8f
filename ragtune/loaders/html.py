"""HTML pages: visible text only, rendered as light Markdown so headings survive for chunking.

Scripts, styles, templates, ``hidden`` elements and comments are dropped. Headings become
``#`` lines, list items ``- `` lines, and block elements are separated by blank lines;
runs of whitespace inside text collapse as a browser collapses them (except in ``<pre>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ragtune.loaders.base import Parser, Source, require_text
from ragtune.loaders.encoding import decode_text
from ragtune.loaders.options import LoadFailure, LoadOptions
from ragtune.schema import Document

_DROPPED = ("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed", "head")
_BLOCKS = (
    "address", "article", "aside", "blockquote", "dd", "details", "dialog", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "header", "hr", "main", "nav", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "thead", "tfoot", "tr", "ul", "body", "html",
)  # fmt: skip
_CELLS = ("td", "th")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\f\v\r\n\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(markup: str) -> tuple[str, str | None]:
    """Visible text of an HTML page (headings as ``#`` lines) and its ``<title>``.

    Uses the standard library's ``html.parser`` so results do not depend on optional parsers.
    """
    from bs4 import BeautifulSoup, NavigableString

    soup = BeautifulSoup(markup, "html.parser")
    title = _title(soup)
    for special in soup.find_all(string=lambda s: type(s) is not NavigableString):
        special.extract()  # comments, doctype, CDATA, processing instructions: never shown
    for tag in soup.find_all(_DROPPED):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        tag.decompose()
    for string in soup.find_all(string=True):
        if string.find_parent("pre") is None:
            string.replace_with(NavigableString(_SPACES.sub(" ", str(string))))
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            heading = " ".join(tag.get_text(" ").split())
            tag.replace_with(NavigableString(f"\n\n{'#' * level} {heading}\n\n" if heading else "\n\n"))
    for tag in soup.find_all("br"):
        tag.replace_with(NavigableString("\n"))
    for tag in soup.find_all("li"):
        tag.insert_before(NavigableString("\n- "))
    for tag in soup.find_all(_CELLS):
        tag.insert_after(NavigableString(" | "))
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before(NavigableString("\n\n"))
        tag.insert_after(NavigableString("\n\n"))
    text = soup.get_text()
    lines = (line.strip().removesuffix(" |").removesuffix("|").rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip(), title


def _title(soup: Any) -> str | None:
    if soup.title is not None:
        title = " ".join(soup.title.get_text(" ").split())
        if title:
            return title
    h1 = soup.find("h1")
    if h1 is not None:
        return " ".join(h1.get_text(" ").split()) or None
    return None


def _is_hidden(tag: Any) -> bool:
    attrs = tag.attrs
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = attrs.get("style")
    return bool(style) and _HIDDEN_STYLE.search(style) is not None


class HtmlParser(Parser):
    """``.html``/``.htm``: one document per page, titled by ``<title>`` (else the first ``<h1>``)."""

    file_type = "html"
    suffixes = (".html", ".htm", ".xhtml")
    content_types = ("text/html", "application/xhtml+xml")

    def _parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        text, title = html_to_text(decode_text(data, declared=source.charset))
        yield source.document(require_text(text, "visible text"), title=title, file_type=self.file_type)


__all__ = ["HtmlParser", "html_to_text"]
