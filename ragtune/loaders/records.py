"""Record files (JSON, JSONL, CSV/TSV): one document per record.

The text is the record's text fields joined in order with a blank line; the id field
(when given) becomes ``Document.id`` verbatim, else the id is ``<path>#<n>`` where ``n`` is
the 1-based line (JSONL), data row (CSV) or list position (JSON). A bad record is one
:class:`LoadFailure` with its line; the other records of the file still load.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from ragtune.errors import LoaderError
from ragtune.loaders.base import Parser, Source
from ragtune.loaders.encoding import decode_text
from ragtune.loaders.options import LoadFailure, LoadOptions
from ragtune.schema import Document, MetadataValue

DEFAULT_TEXT_FIELDS = ("text", "content", "body", "page_content")
"""Tried in this order when ``LoadOptions.text_fields`` is empty; the first one a record has is used."""
TITLE_FIELD = "title"


class RecordBuilder:
    """Turns the records of one file into documents, checking ids for uniqueness."""

    def __init__(self, source: Source, options: LoadOptions) -> None:
        self.source = source
        self.options = options
        self._seen_ids: dict[str, str] = {}

    def build(self, record: Any, position: int, *, line: int | None, where: str) -> Document | LoadFailure:
        """Document of ``record`` (the ``position``-th of the file, at ``where``), or why it failed."""
        if not isinstance(record, Mapping):
            return self.source.failure(
                f"{where}: expected an object with fields, got {type(record).__name__}", line=line
            )
        try:
            text, used = self._text(record)
            doc_id = self._id(record, position, where)
        except LoaderError as exc:
            return self.source.failure(f"{where}: {exc.message}", line=line)
        title = record.get(TITLE_FIELD)
        return Document(
            id=doc_id,
            text=text,
            source=self.source.source,
            title=title.strip() if isinstance(title, str) and title.strip() else self.source.stem,
            modified=self.source.modified,
            metadata=self._metadata(record, used),
        )

    def _text(self, record: Mapping[str, Any]) -> tuple[str, set[str]]:
        fields = self.options.text_fields
        if not fields:
            fields = [
                next((name for name in DEFAULT_TEXT_FIELDS if _as_text(record.get(name))), DEFAULT_TEXT_FIELDS[0])
            ]
        parts = [_as_text(record.get(name)) for name in fields]
        text = "\n\n".join(part for part in parts if part)
        if not text:
            have = ", ".join(f'"{name}"' for name in record if isinstance(name, str)) or "none"
            if self.options.text_fields:
                wanted = ", ".join(f'"{name}"' for name in fields)
                msg = (
                    f"no text in the text fields {wanted} (the record's fields are {have}); "
                    "fix the record or the text fields"
                )
            else:
                wanted = ", ".join(f'"{name}"' for name in DEFAULT_TEXT_FIELDS)
                msg = (
                    f"no text field; looked for {wanted} but the record's fields are {have}. "
                    "Name the fields to use with text_fields (--text-field)"
                )
            raise LoaderError(msg)
        return text, set(fields)

    def _id(self, record: Mapping[str, Any], position: int, where: str) -> str:
        name = self.options.id_field
        if name is None:
            return f"{self.source.source}#{position}"
        value = record.get(name)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value).strip() == "":
            msg = f'missing or empty id field "{name}"; every record needs a unique scalar "{name}"'
            raise LoaderError(msg)
        doc_id = str(value).strip()
        first = self._seen_ids.get(doc_id)
        if first is not None:
            msg = f'duplicate id "{doc_id}" (already used at {first}); ids in "{name}" must be unique within a file'
            raise LoaderError(msg)
        self._seen_ids[doc_id] = where
        return doc_id

    def _metadata(self, record: Mapping[str, Any], used: set[str]) -> dict[str, MetadataValue]:
        wanted = self.options.metadata_fields
        if wanted is None:
            skip = used | {TITLE_FIELD, self.options.id_field}
            return {
                key: value
                for key, value in record.items()
                if isinstance(key, str) and key not in skip and _is_metadata(value)
            }
        metadata: dict[str, MetadataValue] = {}
        for key in wanted:
            value = record.get(key)
            if value is None:
                continue
            metadata[key] = value if _is_metadata(value) else json.dumps(value, ensure_ascii=False, default=str)
        return metadata


def collapse_if_all_failed(items: Iterator[Document | LoadFailure], source: Source) -> Iterator[Document | LoadFailure]:
    """Pass ``items`` through, but when no record loads, report the file once instead of per record.

    Failures are held back until the first document appears (then released in order), so a file
    whose every record misses its text field gives one failure rather than thousands.
    """
    held: list[LoadFailure] = []
    loaded = False
    for item in items:
        if loaded:
            yield item
        elif isinstance(item, LoadFailure):
            held.append(item)
        else:
            loaded = True
            yield from held
            held.clear()
            yield item
    if len(held) == 1:
        yield held[0]
    elif held:
        first = held[0]
        yield source.failure(
            f"none of its {len(held)} records loaded; the first failed with {first.reason}", line=first.line
        )


def _as_text(value: Any) -> str:
    if value is None or isinstance(value, str):
        return (value or "").strip()
    if isinstance(value, (int, float, bool)):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, (str, int, float)) for item in value):
        return "\n".join(str(item).strip() for item in value if str(item).strip())
    return json.dumps(value, ensure_ascii=False, default=str)


def _is_metadata(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool)):
        return True
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


class JsonlParser(Parser):
    """``.jsonl``: one JSON object per line; a broken line fails alone, with its line number."""

    file_type = "jsonl"
    suffixes = (".jsonl", ".ndjson")
    content_types = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines")

    def _parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        return collapse_if_all_failed(self._records(data, source, options), source)

    def _records(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        builder = RecordBuilder(source, options)
        text = decode_text(data, declared=source.charset)
        records = 0
        start = 0
        line_number = 0
        while start <= len(text):  # split("\n") without building the list; JSON may hold raw U+2028
            end = text.find("\n", start)
            end = len(text) if end == -1 else end
            line = text[start:end]
            start = end + 1
            line_number += 1
            if not line.strip():
                continue
            records += 1
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                reason = f"line {line_number}: invalid JSON ({exc.msg} at column {exc.colno}); fix or remove the line"
                yield source.failure(reason, line=line_number)
                continue
            yield builder.build(record, line_number, line=line_number, where=f"line {line_number}")
        if not records:
            raise LoaderError("no records (the file holds only blank lines)")


class JsonParser(Parser):
    """``.json``: a list of objects (one document each) or a single object."""

    file_type = "json"
    suffixes = (".json",)
    content_types = ("application/json",)

    def _parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        return collapse_if_all_failed(self._records(data, source, options), source)

    def _records(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        try:
            value = json.loads(decode_text(data, declared=source.charset))
        except json.JSONDecodeError as exc:
            msg = f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); fix the file"
            raise LoaderError(msg, line=exc.lineno) from exc
        builder = RecordBuilder(source, options)
        if isinstance(value, dict):
            yield builder.build(value, 1, line=None, where="the object")
            return
        if not isinstance(value, list):
            raise LoaderError(f"expected a list of objects or one object, got {type(value).__name__}")
        if not value:
            raise LoaderError("no records (the list is empty)")
        for position, record in enumerate(value, start=1):
            yield builder.build(record, position, line=None, where=f"record {position}")


class CsvParser(Parser):
    """``.csv``/``.tsv`` with a header row; the delimiter is the most frequent of ``, ; tab |`` in the header."""

    file_type = "csv"
    suffixes = (".csv", ".tsv")
    content_types = ("text/csv", "text/tab-separated-values")

    def _parse(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        return collapse_if_all_failed(self._records(data, source, options), source)

    def _records(self, data: bytes, source: Source, options: LoadOptions) -> Iterator[Document | LoadFailure]:
        text = decode_text(data, declared=source.charset)
        header_end = text.find("\n")
        header = text[: header_end if header_end != -1 else len(text)]
        delimiter = max(",\t;|", key=header.count)
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        if not reader.fieldnames or not any(name.strip() for name in reader.fieldnames):
            raise LoaderError("no header row; the first line must name the columns")
        builder = RecordBuilder(source, options)
        row = 0
        try:
            for record in reader:
                row += 1
                where = f"row {row} (line {reader.line_num})"
                yield builder.build(record, row, line=reader.line_num, where=where)
        except csv.Error as exc:
            msg = f"CSV error after row {row} ({exc}); the rest of the file was not loaded, fix the quoting there"
            raise LoaderError(msg, line=reader.line_num) from exc
        if not row:
            raise LoaderError("no records (only a header row)")


__all__ = ["DEFAULT_TEXT_FIELDS", "CsvParser", "JsonParser", "JsonlParser", "RecordBuilder"]
