"""Loading entry points: paths (files, folders, URLs) in, documents and failures out."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ragtune.loaders.base import Source
from ragtune.loaders.folder import iter_folder
from ragtune.loaders.options import LoadFailure, LoadOptions
from ragtune.loaders.registry import parser_for_suffix, unsupported_reason
from ragtune.schema import Document

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def iter_documents(
    paths: Sequence[PathLike] | PathLike, options: LoadOptions | None = None
) -> Iterator[Document | LoadFailure]:
    """Load files, folders and ``http(s)`` URLs lazily, one document (or failure) at a time.

    Bad input never raises: each file, record or URL that cannot be loaded is yielded as a
    :class:`LoadFailure` in its place and loading goes on. A file reached twice (listed twice,
    or through a symlink) is loaded once.

    Args:
        paths: Files, folders (walked recursively) and URLs; a single path is accepted too.
        options: Record fields, folder globs and size limit; defaults to ``LoadOptions()``.

    Yields:
        A :class:`~ragtune.schema.Document` per file, PDF page or record, or a :class:`LoadFailure`.

    Example:
        ```python
        for item in iter_documents(["docs/", "https://example.com/faq.html"]):
            if isinstance(item, LoadFailure):
                print("skipped", item)
        ```
    """
    options = options or LoadOptions()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    seen: set[str] = set()
    for raw in paths:
        try:
            yield from _iter_path(os.fspath(raw), options, seen)
        except Exception as exc:  # a bug must not end the batch: report it against the path
            log.exception("unexpected error while loading %s", raw)
            yield LoadFailure(path=str(raw), reason=f"unexpected error ({type(exc).__name__}: {exc})")


def load_documents(
    paths: Sequence[PathLike] | PathLike, options: LoadOptions | None = None
) -> tuple[list[Document], list[LoadFailure]]:
    """Everything :func:`iter_documents` yields, split into documents and failures."""
    documents: list[Document] = []
    failures: list[LoadFailure] = []
    for item in iter_documents(paths, options):
        (failures if isinstance(item, LoadFailure) else documents).append(item)  # type: ignore[arg-type]
    return documents, failures


def source_scope(path: PathLike) -> str:
    """The ``Document.source`` value, or prefix for a folder, that loading ``path`` produces.

    A file gives its absolute resolved path, a folder the absolute resolved folder path (its
    documents' sources start with it plus a separator, see :func:`source_in_scope`), a URL itself.
    Incremental sync uses it to find documents that a path used to hold and no longer does.
    """
    value = os.fspath(path)
    from ragtune.loaders.url import is_url

    if is_url(value):
        return value
    return str(Path(value).expanduser().resolve())


def source_in_scope(source: str, scope: str) -> bool:
    """Whether a document's ``source`` lies within a :func:`source_scope` (the file itself or under the folder)."""
    if source == scope:
        return True
    prefix = scope if scope.endswith(os.sep) else scope + os.sep
    return source.startswith(prefix)


def _iter_path(value: str, options: LoadOptions, seen: set[str]) -> Iterator[Document | LoadFailure]:
    from ragtune.loaders.url import is_url, iter_url

    if is_url(value):
        if value not in seen:
            seen.add(value)
            yield from iter_url(value, options)
        return
    path = Path(value).expanduser()
    if not path.exists():
        reason = "broken symlink (its target does not exist)" if path.is_symlink() else "no such file or folder"
        yield LoadFailure(path=str(path.absolute()), reason=f"{reason}; check the path")
    elif path.is_dir():
        for item in iter_folder(path, options):
            if isinstance(item, LoadFailure):
                yield item
            else:
                yield from _iter_file(item, options, seen)
    else:
        yield from _iter_file(path, options, seen)


def _iter_file(path: Path, options: LoadOptions, seen: set[str]) -> Iterator[Document | LoadFailure]:
    resolved = path.resolve()
    key = str(resolved)
    if key in seen:
        return
    seen.add(key)
    parser = parser_for_suffix(path.suffix) or parser_for_suffix(resolved.suffix)
    if parser is None:
        yield LoadFailure(path=key, reason=unsupported_reason(path.suffix))
        return
    try:
        stat = resolved.stat()
        if not resolved.is_file():
            yield LoadFailure(path=key, reason="not a regular file")
            return
        if stat.st_size > options.max_file_bytes:
            reason = (
                f"file is {stat.st_size / 1e6:.0f} MB, over the {options.max_file_bytes / 1e6:.0f} MB limit; "
                "split it or raise max_file_bytes"
            )
            yield LoadFailure(path=key, reason=reason)
            return
        data = resolved.read_bytes()
    except OSError as exc:
        yield LoadFailure(path=key, reason=f"cannot read the file ({exc.strerror or exc}); check its permissions")
        return
    source = Source(source=key, stem=resolved.stem, modified=stat.st_mtime)
    yield from parser.parse(data, source, options)


__all__ = ["iter_documents", "load_documents", "source_in_scope", "source_scope"]
