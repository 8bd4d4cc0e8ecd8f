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

import re
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
REFRAIN_COPIES = 3
"""A prose line given this many times in one answer is a loop too, even with other lines between."""
MIN_REFRAIN_WORDS = 4
"""...when it has at least this many words (so list items, code and JSON lines such as ``},`` are not)."""
_WORD = re.compile(r"\w+")


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


def _lines(text: str) -> Iterator[tuple[int, str, bool]]:
    """Each line's start, its words lower-cased and joined by spaces, and whether it is complete."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start)
        complete = end >= 0
        end = end if complete else len(text)
        yield start, " ".join(_WORD.findall(text[start:end].lower())), complete
        start = end + 1


def find_refrain(text: str) -> int | None:
    """Where to cut ``text`` when a complete line repeats, word for word, a prose line it already gave twice.

    Small models fall into refrains as well as back-to-back loops ("Abele, the sea's own master,"
    five times in 128 tokens of a sea poem, other lines between): :func:`find_loop` only sees the
    back-to-back kind. The cut keeps everything before the line's third copy.
    """
    seen: dict[str, int] = {}
    for start, words, complete in _lines(text):
        if not complete or len(words.split()) < MIN_REFRAIN_WORDS:
            continue
        seen[words] = seen.get(words, 0) + 1
        if seen[words] >= REFRAIN_COPIES:
            return start
    return None


def refrain_suspect(text: str) -> int | None:
    """Where the unfinished last line begins when it may become a refrain's third copy: not to be streamed yet."""
    counts: dict[str, int] = {}
    last: tuple[int, str] | None = None
    for start, words, complete in _lines(text):
        if complete:
            counts[words] = counts.get(words, 0) + 1
        else:
            last = (start, words)
    if last is None or not last[1]:
        return None
    start, partial = last
    given_twice = (w for w, n in counts.items() if n >= REFRAIN_COPIES - 1 and len(w.split()) >= MIN_REFRAIN_WORDS)
    return start if any(w.startswith(partial) for w in given_twice) else None


__all__ = [
    "MIN_LOOP_CHARS",
    "MIN_SUSPECT_MATCH",
    "MIN_LOOP_COPIES",
    "Repeat",
    "find_loop",
    "find_refrain",
    "refrain_suspect",
    "suspect_start",
    "tail_repeat",
]
