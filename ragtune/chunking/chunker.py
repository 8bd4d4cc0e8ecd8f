"""The :class:`Chunker`: documents in, stable, token-bounded chunks out."""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from ragtune.chunking.options import ChunkingOptions
from ragtune.chunking.pack import TokenPacker
from ragtune.chunking.sections import Section, split_sections
from ragtune.chunking.tokens import TokenCounter, as_token_counter
from ragtune.schema import Chunk, Document, content_hash

HEADING_FILE_TYPES = frozenset({"md", "markdown", "html", "htm", "docx"})
"""``metadata["file_type"]`` (or source extension) of documents whose ``#`` headings split them."""


class Chunker:
    """Cuts documents into chunks of at most ``chunk_size`` tokens of the embedder's tokenizer.

    - A document of ``chunk_size`` tokens or fewer is exactly one chunk.
    - Markdown, HTML and ``.docx`` documents are cut at headings first; ``Chunk.section``
      holds the heading path (``"Install > Linux"``).
    - Longer text is cut at paragraphs, lines, sentences, then words, with about
      ``chunk_overlap`` tokens shared by neighbours; pieces under ``min_chunk_tokens`` (a lone
      heading, a trailing sentence) are merged into a neighbour, never left alone.
    - ``Chunk.embed_text`` is ``"{title}\\n{text}"`` when the document has a real title
      (not just its file name) that the chunk does not already start with: the first chunk and
      every section chunk (which stands alone), or every chunk with ``title_every_chunk=True``.
    - Chunk ids hash the document id, the position and the embedded text, so chunking the
      same document again gives the same ids.

    Args:
        count_tokens: ``text -> int`` (e.g. ``LocalEmbedder.count_tokens``) or a Hugging Face tokenizer.
        options: Sizes; defaults to ``ChunkingOptions()``.

    Example:
        ```python
        embedder = LocalEmbedder()
        chunker = Chunker(embedder.count_tokens)
        chunks = chunker.split(document)
        ```
    """

    def __init__(self, count_tokens: TokenCounter | Any, options: ChunkingOptions | None = None) -> None:
        self.options = options or ChunkingOptions()
        self.count_tokens = as_token_counter(count_tokens)
        self._packer = TokenPacker(
            self.count_tokens,
            size=self.options.chunk_size,
            overlap=self.options.chunk_overlap,
            min_tokens=self.options.min_chunk_tokens,
        )

    def split(self, document: Document) -> list[Chunk]:
        """The chunks of ``document``, in order (none for a document without text)."""
        title = real_title(document)
        page = document.metadata.get("page")
        chunks: list[Chunk] = []
        for section, text in self._pieces(document):
            position = len(chunks)
            titled = position == 0 or section is not None or self.options.title_every_chunk
            embed_text = with_title(title, text) if titled else None
            digest = content_hash(embed_text if embed_text is not None else text)
            chunks.append(
                Chunk(
                    id=chunk_id(document.id, position, digest),
                    doc_id=document.id,
                    text=text,
                    position=position,
                    source=document.source,
                    title=document.title,
                    section=section,
                    page=page if isinstance(page, int) and not isinstance(page, bool) else None,
                    content_hash=digest,
                    doc_hash=document.content_hash,
                    metadata=dict(document.metadata),
                    embed_text=embed_text,
                )
            )
        return chunks

    def split_text(self, text: str) -> list[str]:
        """Plain token-aware splitting of ``text`` (no headings, no titles)."""
        return [chunk for chunk, _ in self._packer.split(text)]

    def _pieces(self, document: Document) -> list[tuple[str | None, str]]:
        if not document.text.strip():
            return []
        if not (self.options.heading_aware and _has_headings(document)):
            return [(None, text) for text, _ in self._packer.split(document.text)]
        pieces: list[tuple[str | None, str]] = []
        for section, tokens in self._merge_small(split_sections(document.text)):
            pieces.extend((section.label, text) for text, _ in self._packer.split(section.text, tokens))
        return pieces

    def _merge_small(self, sections: list[Section]) -> list[tuple[Section, int]]:
        """Sections with their token counts, each under ``min_chunk_tokens`` merged into a neighbour.

        A merged section's count is the sum of its parts; it is re-counted only when it might fit
        in one chunk, where the exact figure decides.
        """
        minimum = self.options.min_chunk_tokens
        merged: list[tuple[Section, int, bool]] = []
        carry: tuple[Section, int] | None = None
        for index, section in enumerate(sections):
            tokens, exact = self._packer.measure(section.text.strip())
            if carry is not None:
                (section, tokens), exact = _join(carry, (section, tokens)), False
                carry = None
            if tokens < minimum and index + 1 < len(sections):
                carry = (section, tokens)
            elif tokens < minimum and merged:
                previous, previous_tokens, _ = merged.pop()
                merged.append((*_join((previous, previous_tokens), (section, tokens)), False))
            else:
                merged.append((section, tokens, exact))
        limit = self.options.chunk_size + 8
        return [
            (section, tokens if exact or tokens > limit else self.count_tokens(section.text.strip()))
            for section, tokens, exact in merged
        ]


def _join(first: tuple[Section, int], second: tuple[Section, int]) -> tuple[Section, int]:
    """Two adjacent sections as one, labelled by the larger (a lone heading takes its successor's path)."""
    (a, a_tokens), (b, b_tokens) = first, second
    path = b.path if b_tokens >= a_tokens else a.path
    return Section(path, a.text + b.text), a_tokens + b_tokens


def _has_headings(document: Document) -> bool:
    file_type = document.metadata.get("file_type")
    if not isinstance(file_type, str):
        file_type = _suffix(document.source)
    return file_type.lower() in HEADING_FILE_TYPES


def _suffix(source: str) -> str:
    path = urlparse(source).path if "://" in source else source
    return PurePosixPath(path).suffix.lstrip(".")


def real_title(document: Document) -> str | None:
    """The document's title unless it is missing or just its file name."""
    title = " ".join((document.title or "").split())
    if not title:
        return None
    path = PurePosixPath(urlparse(document.source).path if "://" in document.source else document.source)
    if title in (path.stem, path.name):
        return None
    return title


def with_title(title: str | None, text: str) -> str | None:
    """``"{title}\\n{text}"`` when ``title`` is real and ``text`` does not already start with it."""
    if title is None:
        return None
    head = " ".join(text.lstrip("#> \t\n")[: len(title) * 2].split())
    if head.lower().startswith(title.lower()):
        return None
    return f"{title}\n{text}"


def chunk_id(doc_id: str, position: int, digest: str) -> str:
    """Stable chunk id: the same document, position and embedded text give the same id."""
    return hashlib.sha256(f"{doc_id}|{position}|{digest}".encode()).hexdigest()[:32]


__all__ = ["HEADING_FILE_TYPES", "Chunker", "chunk_id", "real_title", "with_title"]
