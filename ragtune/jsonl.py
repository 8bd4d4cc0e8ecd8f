"""Numbered lines of a JSON Lines input file: the one reader behind every ``--eval``/``--train``-style file.

Each caller validates its own records, but all of them need the same two things first: a missing
file reported as an :class:`~ragtune.errors.InputError` naming it, and the 1-based number of every
non-blank line so that a record's error can say which line to fix.
"""

from __future__ import annotations

from pathlib import Path

from ragtune.errors import InputError


def numbered_lines(path: str | Path, what: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line of ``path``.

    Args:
        path: the file.
        what: how the error names the file ("Evaluation file", "Training file", ...).

    Raises:
        InputError: the file does not exist.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{what} {path} not found.", path=str(path)) from exc
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


__all__ = ["numbered_lines"]
