"""Loop detection for generated text: find a phrase the model repeats back to back.

Small models decoding greedily fall into loops ("leaves fall, leaves fall, ...") until the
token limit. A loop is a suffix of the text that is periodic: the same unit of ``L``
characters repeated. The chat model stops generating once a loop is long enough and keeps
the first copy only; while a repeat is merely suspected, it holds that text back from the
stream so nothing it later trims was already shown.

Example:
    >>> text = "A haiku: leaves fall, leaves fall, leaves fall, leaves fall, leaves f"
    >>> loop = find_loop(text)
    >>> text[: loop.keep]
    'A haiku: leaves fall,'
    >>> text = "Leaves fall but the fate is determined, " + "a leaf's fate is determined, " * 3 + "a leaf"
    >>> text[: find_loop(text).keep]
    "Leaves fall but the fate is determined, a leaf's fate is determined,"
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MIN_LOOP_COPIES = 3
"""A unit must appear at least this many times in a row to be a loop."""
MIN_LOOP_CHARS = 32
"""...and the repeated run must be at least this long (so "..." or "ha ha" are not loops)."""
MIN_SUSPECT_CHARS = 16
"""Shortest run :func:`tail_repeat` reports."""
MIN_SUSPECT_MATCH = 12
"""Characters the end must repeat from one unit earlier before the stream holds text back."""
MAX_UNIT_CHARS = 400
"""Longest unit checked (a repeated paragraph)."""
_BOUNDARIES = (".", "!", "?", ",", ";", ":", "\n")


@dataclass(frozen=True)
class Repeat:
    """A periodic suffix of the text: ``unit`` characters repeated over the last ``run`` characters."""

    unit: int
    run: int
    length: int
    """Length of the text it was found in."""

    @property
    def copies(self) -> float:
        return self.run / self.unit

    start: int = 0
    """Where the repeated run begins."""
    cut: int | None = None
    """Where to cut the text: after one full copy, at the next phrase boundary (see :func:`tail_repeat`)."""

    @property
    def keep(self) -> int:
        """Where to cut the text to keep the text before the run and one copy of the unit."""
        return self.cut if self.cut is not None else self.start + self.unit

    @property
    def is_loop(self) -> bool:
        return self.run >= MIN_LOOP_COPIES * self.unit and self.run >= MIN_LOOP_CHARS


def _repeats(text: str, max_unit: int = MAX_UNIT_CHARS) -> Iterator[Repeat]:
    """Every unit length whose shift matches the end of ``text``, shortest first, with its periodic run."""
    n = len(text)
    for unit in range(1, min(max_unit, n - 1) + 1):
        i = n - 1 - unit
        if text[i] != text[n - 1]:
            continue
        while i >= 0 and text[i] == text[i + unit]:
            i -= 1
        run = n - 1 - i
        start = n - run
        yield Repeat(unit=unit, run=run, length=n, start=start, cut=_phrase_end(text, start, unit))


def tail_repeat(text: str, *, max_unit: int = MAX_UNIT_CHARS) -> Repeat | None:
    """The shortest unit whose repetition covers the end of ``text`` at least twice, if any."""
    for repeat in _repeats(text, max_unit):
        if repeat.run >= max(2 * repeat.unit, MIN_SUSPECT_CHARS):
            return repeat
    return None


def _phrase_end(text: str, start: int, unit: int) -> int:
    """The first cut after one full copy (trailing spaces aside) that ends at punctuation or a line break."""
    least = start + unit
    while least > start and text[least - 1].isspace():
        least -= 1
    for i in range(max(least - 1, start), min(start + 2 * unit, len(text))):
        if text[i] in _BOUNDARIES:
            return i + 1
    return start + unit


def find_loop(text: str) -> Repeat | None:
    """The loop at the end of ``text`` (see :attr:`Repeat.is_loop`), or ``None``."""
    return next((r for r in _repeats(text) if r.is_loop), None)


def suspect_start(text: str) -> int | None:
    """Where a possible loop would be cut, when that is inside ``text``: text from there should not be streamed yet.

    A repeat is suspected as soon as the end of the text has matched the text one unit earlier
    for :data:`MIN_SUSPECT_MATCH` characters, so the cut point is held back before the second
    copy is complete.
    """
    for repeat in _repeats(text):
        if repeat.run - repeat.unit >= MIN_SUSPECT_MATCH and repeat.keep < repeat.length:
            return repeat.keep
    return None


__all__ = [
    "MIN_LOOP_CHARS",
    "MIN_SUSPECT_MATCH",
    "MIN_LOOP_COPIES",
    "Repeat",
    "find_loop",
    "suspect_start",
    "tail_repeat",
]
