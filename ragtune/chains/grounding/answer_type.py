"""What kind of answer an English question asks for, and whether a sentence holds one.

"When was the franchise founded?" wants a date, "How much did the stadium cost?" a number, "Who
sang the anthem?" a name. A passage sentence that shares the question's words but holds no new
value of that kind restates the question rather than answering it; the extractive answerer
prefers one that does. Questions of other shapes (or languages) get no preference.
"""

from __future__ import annotations

import re
from typing import Literal

from ragtune.chains.grounding.text import names, numbers

AnswerType = Literal["date", "number", "name"]

_DATE_QUESTION = re.compile(
    r"^\s*when\b|\b(what|which|in what|by what)\s+(year|years|date|month|day|century|decade|era|time period)\b",
    re.IGNORECASE,
)
_NUMBER_QUESTION = re.compile(
    r"\bhow\s+(many|much|long|far|old|large|big|high|tall|deep|wide|often|fast|heavy)\b"
    r"|\bwhat\s+(percentage|percent|proportion|share|number|amount|fraction|size|score|population)\b",
    re.IGNORECASE,
)
_NAME_QUESTION = re.compile(r"^\s*(who|whom|whose|where)\b|\bwho\s+(is|was|were|are|did|does)\b", re.IGNORECASE)

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE_VALUE = re.compile(
    rf"\b(1\d{{3}}|20\d{{2}})s?\b|\b({_MONTHS})\b|\b\d+(st|nd|rd|th)\s+century\b|\bcentury\b|\bBC\b|\bAD\b",
    re.IGNORECASE,
)
_MONEY_OR_SHARE = re.compile(r"[$\u20ac\u00a3\u00a5]\s?\d|\d\s?%|\bpercent\b", re.IGNORECASE)


def expected_answer_type(question: str) -> AnswerType | None:
    """The kind of value ``question`` asks for, or ``None`` when its shape says nothing."""
    if _DATE_QUESTION.search(question):
        return "date"
    if _NUMBER_QUESTION.search(question):
        return "number"
    if _NAME_QUESTION.search(question):
        return "name"
    return None


def holds_answer_type(sentence: str, kind: AnswerType, question: str) -> bool:
    """Whether ``sentence`` holds a value of ``kind`` that the question does not already state."""
    if kind == "date":
        asked = {m.group(0).lower() for m in _DATE_VALUE.finditer(question)}
        return any(m.group(0).lower() not in asked for m in _DATE_VALUE.finditer(sentence))
    if kind == "number":
        return bool(numbers(sentence) - numbers(question)) or bool(_MONEY_OR_SHARE.search(sentence))
    asked_words = {re.sub(r"['\u2019]s?$", "", w.lower()) for w in re.findall(r"[A-Za-z][A-Za-z'\u2019-]*", question)}
    return any(name not in asked_words for name in names(sentence))


__all__ = ["AnswerType", "expected_answer_type", "holds_answer_type"]
