"""Read training records from JSONL and CSV files, one :class:`RawRecord` each.

Reading never fails on a bad record: a line that is not valid JSON comes back
with ``error`` set so prepare can reject it with its file and line. Only a
file that cannot be opened at all raises :class:`~ragtune.errors.InputError`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from ragtune.errors import InputError
from ragtune.finetune.records import RawRecord

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv", ".tsv"}


def read_records(paths: Iterable[str | Path]) -> Iterator[RawRecord]:
    """Yield every record of every file, in file order then line order.

    Args:
        paths: JSONL (``.jsonl``, ``.ndjson``, ``.json`` with one object per line)
            or CSV/TSV files; a folder is read file by file in sorted order.

    Raises:
        InputError: a path does not exist or has an unsupported suffix.

    Example:
        >>> records = list(read_records(["data/faq.jsonl"]))  # doctest: +SKIP
    """
    for path in expand_paths(paths):
        suffix = path.suffix.lower()
        if suffix in JSONL_SUFFIXES:
            yield from _read_jsonl(path)
        else:
            yield from _read_csv(path, delimiter="\t" if suffix == ".tsv" else ",")


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The data files named by ``paths`` (folders expanded), checked to exist.

    Raises:
        InputError: a path does not exist or has an unsupported suffix.
    """
    return list(_expand(paths))


def _expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in JSONL_SUFFIXES | CSV_SUFFIXES)
            yield from files
        elif not path.is_file():
            raise InputError(f"{path}: no such file. Pass JSONL or CSV files (or a folder of them).", path=str(path))
        elif path.suffix.lower() not in JSONL_SUFFIXES | CSV_SUFFIXES:
            msg = f"{path}: unsupported file type {path.suffix!r}; expected .jsonl, .json, .csv or .tsv."
            raise InputError(msg, path=str(path))
        else:
            yield path


def _read_jsonl(path: Path) -> Iterator[RawRecord]:
    name = str(path)
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                error = f"invalid JSON: {exc.msg} at column {exc.colno}"
                yield RawRecord(file=name, line=number, text=text, error=error)
                continue
            yield RawRecord(file=name, line=number, data=data)


def _read_csv(path: Path, *, delimiter: str) -> Iterator[RawRecord]:
    name = str(path)
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{path}: unreadable CSV header: {exc}", path=name) from exc
        columns = [h.strip() for h in header]
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRecord(file=name, line=start, text=None, error=f"invalid CSV: {exc}")
                start = reader.line_num + 1
                continue
            if not any(cell.strip() for cell in row):
                start = reader.line_num + 1
                continue
            if len(row) != len(columns):
                text = delimiter.join(row)
                error = f"invalid CSV row: {len(row)} fields, header has {len(columns)}"
                yield RawRecord(file=name, line=start, text=text, error=error)
            else:
                yield RawRecord(file=name, line=start, data=dict(zip(columns, row, strict=True)))
            start = reader.line_num + 1


def records_at(path: str | Path, lines: set[int]) -> dict[int, object]:
    """The records starting at ``lines`` of one file, as read (a second, targeted pass).

    Lets callers keep only line numbers in memory and fetch the few records they
    report on (rejected duplicates) at the end.
    """
    wanted = set(lines)
    found: dict[int, object] = {}
    source = Path(path)
    if source.suffix.lower() in JSONL_SUFFIXES:
        with source.open("r", encoding="utf-8", errors="replace", newline="") as handle:
            for number, line in enumerate(handle, start=1):
                if number in wanted:
                    text = line.rstrip("\r\n")
                    try:
                        found[number] = json.loads(text)
                    except json.JSONDecodeError:
                        found[number] = text
                    if len(found) == len(wanted):
                        break
        return found
    for raw in read_records([source]):
        if raw.line in wanted:
            found[raw.line] = raw.as_read
    return found


__all__ = ["expand_paths", "read_records", "records_at"]
