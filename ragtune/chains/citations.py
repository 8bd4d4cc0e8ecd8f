"""Citations in answer text: find ``[n]`` markers, drop the invalid ones, find uncited sentences."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from ragtune.chains.answer import Citation, Segment
from ragtune.chains.context import split_sentences

CITATION = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")
"""``[1]``, ``[1, 2]`` or ``[1;2]``."""


def cited_numbers(text: str) -> list[int]:
    """Every citation number in ``text``, in order of first appearance."""
    seen: dict[int, None] = {}
    for match in CITATION.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            seen.setdefault(int(part), None)
    return list(seen)


def clean_citations(text: str, valid: Collection[int]) -> tuple[str, list[int]]:
    """``text`` with numbers outside ``valid`` removed from every marker, and the removed numbers.

    ``[1, 9]`` with 9 invalid becomes ``[1]``; ``[9]`` alone disappears (with the space before it).
    """
    invalid: dict[int, None] = {}

    def fix(match: re.Match[str]) -> str:
        numbers = [int(p) for p in re.split(r"[,;]", match.group(1))]
        good = [n for n in numbers if n in valid]
        for n in numbers:
            if n not in valid:
                invalid.setdefault(n, None)
        if not good:
            return ""
        return "[" + ", ".join(str(n) for n in good) + "]"

    cleaned = CITATION.sub(fix, text)
    if invalid:
        cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
        cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return cleaned, list(invalid)


def resolve(numbers: list[int], blocks: Mapping[int, Citation]) -> list[Citation]:
    """The citations for ``numbers`` (unknown numbers skipped), in order."""
    return [blocks[n] for n in numbers if n in blocks]


_LEADING = re.compile(r"^(?:\[\s*\d+\s*(?:[,;]\s*\d+\s*)*\][ \t]*)+")


def segments(text: str, valid: Collection[int]) -> list[Segment]:
    """Sentences of ``text`` with the valid citations each carries.

    A citation placed after the full stop (``"... fact. [2] Next ..."``) belongs to the sentence
    before it.
    """
    out: list[Segment] = []
    offset = 0
    for piece in split_sentences(text):
        start = offset + (len(piece) - len(piece.lstrip()))
        body = piece.strip()
        offset += len(piece)
        lead = _LEADING.match(body)
        if lead and out:
            numbers = tuple(n for n in cited_numbers(lead.group(0)) if n in valid)
            previous = out[-1]
            end = start + len(lead.group(0).rstrip())
            merged = tuple(dict.fromkeys(previous.citations + numbers))
            out[-1] = previous.model_copy(update={"end": end, "text": text[previous.start : end], "citations": merged})
            start += len(lead.group(0))
            body = body[len(lead.group(0)) :]
        if not body:
            continue
        numbers = tuple(n for n in cited_numbers(body) if n in valid)
        out.append(Segment(text=body, start=start, end=start + len(body), citations=numbers))
    return out


__all__ = ["CITATION", "cited_numbers", "clean_citations", "resolve", "segments"]
