"""Markdown sections: the text cut at ATX (``## Setup``) and setext headings, with heading paths.

Headings inside fenced code blocks and a leading YAML front-matter block are not headings.
Sections are consecutive substrings of the text, so joining them gives the text back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_NOT_SETEXT_TEXT = re.compile(r"^ {0,3}([-*+>]|\d+[.)]|#|`{3}|~{3}|\|)")


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path."""

    path: tuple[str, ...]
    """Heading titles from the top level down to this section's own heading."""
    text: str

    @property
    def label(self) -> str | None:
        """``"Intro > Setup"``, or ``None`` before the first heading."""
        return " > ".join(self.path) if self.path else None


def split_sections(text: str) -> list[Section]:
    """Cut Markdown ``text`` at its headings; the heading line starts its section."""
    lines = text.splitlines(keepends=True)
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    current: list[str] = []
    path: tuple[str, ...] = ()
    fence: str | None = None
    start = _front_matter_end(lines)
    current.extend(lines[:start])

    def flush() -> None:
        if "".join(current).strip():
            sections.append(Section(path, "".join(current)))
        current.clear()

    for line in lines[start:]:
        bare = line.rstrip("\n")
        opening = _FENCE.match(bare)
        if opening:
            marker = opening.group(1)[0] * 3
            fence = None if fence == marker else (fence or marker)
        heading: tuple[int, str, list[str]] | None = None
        if fence is None and not opening:
            atx = _ATX.match(bare)
            if atx:
                heading = (len(atx.group(1)), (atx.group(2) or "").strip(), [line])
            elif _SETEXT.match(bare) and current and _is_setext_text(current[-1]):
                level = 1 if bare.strip().startswith("=") else 2
                previous = current.pop()
                heading = (level, previous.strip(), [previous, line])
        if heading is None:
            current.append(line)
            continue
        level, title, heading_lines = heading
        flush()
        while stack and stack[-1][0] >= level:
            stack.pop()
        if title:
            stack.append((level, title))
        path = tuple(name for _, name in stack)
        current.extend(heading_lines)
    flush()
    return sections


def _front_matter_end(lines: list[str]) -> int:
    if not lines or lines[0].rstrip() != "---":
        return 0
    for index in range(1, min(len(lines), 200)):
        if lines[index].rstrip() in ("---", "..."):
            return index + 1
    return 0


def _is_setext_text(line: str) -> bool:
    return bool(line.strip()) and not _NOT_SETEXT_TEXT.match(line) and not _SETEXT.match(line.rstrip("\n"))


__all__ = ["Section", "split_sections"]
