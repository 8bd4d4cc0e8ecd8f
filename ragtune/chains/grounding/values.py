"""The values a claim binds to its subject: numbers, dates and names, found as token spans.

"An extra seat costs 14 dollars a month" holds one value, ``14``; "Denver Broncos won Super Bowl
50 in 2016" holds two names and a date. Each value is a span of tokens with a kind and a key that
compares values of one kind (``"1,000"`` and ``"1000"`` are one number; ``"Broncos"`` and
``"Denver Broncos"`` one name). Punctuation and clause words are kept as tokens: they separate
the subject a value belongs to from the next one (see :mod:`~ragtune.chains.grounding.binding`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from ragtune.chains.grounding.text import STOPWORDS

ValueKind = Literal["number", "date", "name"]

_TOKEN = re.compile(
    r"[$\u20ac\u00a3]?\d+(?:[.,:/]\d+)*%?|(?:[A-Z]\.){2,}|[A-Za-z][A-Za-z'\u2019-]*|[,;:()\u2013\u2014.!?\"]"
)
_MONTHS = frozenset(
    re.findall(
        r"\S+",
        """january february march april may june july august september october november december
        jan feb mar apr jun jul aug sep sept oct nov dec""",
    )
)
_NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000",
}  # fmt: skip
_SCALES = frozenset({"million", "billion", "trillion", "thousand", "hundred", "percent"})
_NAME_LINKS = frozenset({"of", "de", "da", "del", "la", "le", "von", "van", "du", "der"})
BOUNDARY_WORDS = frozenset({"and", "but", "while", "whereas", "although", "though", "which", "who", "whom"})
"""Words that open a new clause (or a new item): a value rarely belongs to the words across them."""
_BOUNDARY_MARKS = frozenset(',;:()\u2013\u2014.!?"')
_YEAR = re.compile(r"^(1\d{3}|20\d{2})s?$")
_DIGITS = re.compile(r"^[$\u20ac\u00a3]?\d")


@dataclass(frozen=True)
class Token:
    text: str
    low: str
    boundary: bool
    """Punctuation or a clause word: adds distance between the words on either side."""
    initial: bool
    """First word of the text or of a sentence (its capital says nothing)."""


@dataclass(frozen=True)
class Value:
    """A number, date or name in a text: ``tokens[start:end]``."""

    kind: ValueKind
    key: tuple[str, ...]
    start: int
    end: int

    def same(self, other: Value) -> bool:
        """One value written two ways: equal keys, or (dates, names) one's words within the other's."""
        if self.kind != other.kind:
            return False
        if self.key == other.key:
            return True
        if self.kind == "number":
            return False
        a, b = set(self.key), set(other.key)
        return a <= b or b <= a


def tokenize(text: str) -> list[Token]:
    """Words, numbers and punctuation of ``text``; sentence-initial words are flagged."""
    out: list[Token] = []
    initial = True
    for raw in _TOKEN.findall(text.replace("\u2019", "'")):
        mark = raw in _BOUNDARY_MARKS
        low = raw.lower()
        out.append(Token(raw, low, mark or low in BOUNDARY_WORDS, initial and not mark))
        if raw in ".!?":
            initial = True
        elif not mark:
            initial = False
    return out


def name_words(texts: Sequence[str]) -> set[str]:
    """Words written with a capital where a capital means a name (not first in a sentence)."""
    found: set[str] = set()
    for text in texts:
        for tok in tokenize(text):
            if not tok.boundary and not tok.initial and tok.text[0].isupper():
                found.add(tok.low)
    return found


def _capital(tok: Token, vocabulary: Collection[str]) -> bool:
    if tok.boundary or not tok.text[0].isupper() or tok.low in _MONTHS or tok.low in STOPWORDS or tok.text == "I":
        return False
    return not tok.initial or tok.low in vocabulary


def _number_key(tokens: Sequence[Token], i: int) -> tuple[int, tuple[str, ...]] | None:
    """The number starting at ``tokens[i]`` (with a scale word after it) and where it ends."""
    tok = tokens[i]
    if _DIGITS.match(tok.text):
        core = tok.low.lstrip("$\u20ac\u00a3").replace(",", "")
    elif tok.low in _NUMBER_WORDS:
        core = _NUMBER_WORDS[tok.low]
    else:
        return None
    end = i + 1
    key = [core]
    if end < len(tokens) and tokens[end].low in _SCALES:
        key.append(tokens[end].low)
        end += 1
    return end, tuple(key)


def find_values(text: str, vocabulary: Collection[str] = ()) -> tuple[list[Token], list[Value]]:
    """The tokens of ``text`` and its values, left to right, none overlapping.

    ``vocabulary``: words known as names (see :func:`name_words`), so a sentence-initial
    ``Denver`` is a name and a sentence-initial ``Monthly`` is not.
    """
    tokens = tokenize(text)
    values: list[Value] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.low in _MONTHS and (tok.text[0].isupper() or tok.low != "may"):
            end, parts = i + 1, [tok.low[:3]]
            while end < len(tokens) and (tokens[end].text == "," or _DIGITS.match(tokens[end].text)):
                if tokens[end].text != ",":
                    parts.append(tokens[end].low)
                end += 1
            end = end if tokens[end - 1].text != "," else end - 1
            values.append(Value("date", tuple(parts), i, end))
            i = end
            continue
        if _YEAR.match(tok.low):
            values.append(Value("date", (tok.low.rstrip("s"),), i, i + 1))
            i += 1
            continue
        number = _number_key(tokens, i)
        if number is not None:
            end, amount = number
            if end < len(tokens) and tokens[end].low in _MONTHS:  # "7 February 2016"
                values.append(Value("date", (tokens[end].low[:3], *amount), i, end + 1))
                i = end + 1
                continue
            values.append(Value("number", amount, i, end))
            i = end
            continue
        if _capital(tok, vocabulary):
            end = i + 1
            while end < len(tokens):
                nxt = tokens[end]
                if _capital(nxt, vocabulary) or (_DIGITS.match(nxt.text) and not _YEAR.match(nxt.low)):
                    end += 1
                elif nxt.low in _NAME_LINKS and end + 1 < len(tokens) and _capital(tokens[end + 1], vocabulary):
                    end += 2
                else:
                    break
            words = tuple(t.low[:-2] if t.low.endswith("'s") else t.low for t in tokens[i:end])
            words = tuple(w for w in words if w not in _NAME_LINKS and w not in STOPWORDS) or words
            values.append(Value("name", words, i, end))
            i = end
            continue
        i += 1
    return tokens, values


__all__ = ["BOUNDARY_WORDS", "Token", "Value", "ValueKind", "find_values", "name_words", "tokenize"]
