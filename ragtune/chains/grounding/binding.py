"""Values bound to their subject: a claim's number, date or name must answer the claim's own question.

"An extra seat costs 14 dollars a month" is not supported by "The Starter plan costs 14 dollars a
month, and an extra seat costs 7 dollars", though every word of it is there. The check follows
QAGS / QAFactEval: mask the value in the claim, ask what fills the gap, answer from the evidence,
and require the same value. The answerer is extractive and needs no model: every value of the same
kind in the evidence is a candidate answer, scored by how well the words around it match the
words around the gap in the claim (each claim word weighted by its rarity in the evidence and by
its closeness to the gap; a clause boundary counts as extra distance), blended with how much of the
masked claim its sentence holds (the sentence relevance the extractive answerer uses). The value
is bound when no other candidate answers clearly better (``margin``).

The check runs only on claims that already passed the verifier, so it costs nothing for the rest;
a claim quoted verbatim from the evidence is bound by construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ragtune.chains.grounding.text import NEGATIONS, STOPWORDS, stem
from ragtune.chains.grounding.values import Token, Value, find_values, name_words

CLAIM_WINDOW = 6.0
"""Decay length (in words) of a claim word's weight with its distance from the value."""
EVIDENCE_WINDOW = 2.0
"""Decay length (in words) of a claim word's match with its distance from a candidate answer."""
BOUNDARY = 3.0
"""Words of distance a clause boundary (comma, ``and``, ``which`` ...) adds."""
VALUE_WEIGHT = 2.0
"""A claim word inside another value (a name, number or date) weighs this much more: the other
values say whose value it is."""
SENTENCE_WEIGHT = 0.3
"""Share of a candidate's score from its sentence's overlap with the masked claim."""
MARGIN = 0.1
"""A value is unbound when another candidate answers better by more than this."""
NameCheck = Literal["always", "alone"]
NAMES: NameCheck = "always"
"""Names are checked in every claim (``"alone"``: only in claims with no number or date, as before)."""
TOPIC = 2
"""A name more evidence sentences hold than this is the passage's topic and is not checked (1 before;
``NAMES`` and ``TOPIC`` were chosen on SQuAD dev articles 16-31: false-accept 0.192 -> 0.162 there)."""


@dataclass(frozen=True)
class _Text:
    tokens: list[Token]
    values: list[Value]
    stems: list[str | None]
    """Content stem of each token, ``None`` for stop words, punctuation and value tokens' digits."""
    gaps: list[float]
    """Cumulative distance before each token (1 per word, plus ``BOUNDARY`` per boundary)."""


def _read(text: str, vocabulary: set[str], boundary: float) -> _Text:
    tokens, values = find_values(text, vocabulary)
    stems: list[str | None] = []
    gaps: list[float] = []
    position = 0.0
    for tok in tokens:
        if tok.boundary:
            position += boundary
            stems.append(None)
        else:
            position += 1.0
            word = tok.low
            content = word not in STOPWORDS and word not in NEGATIONS and (len(word) > 1 or word.isdigit())
            stems.append((stem(word) if word[0].isalpha() else word) if content else None)
        gaps.append(position)
    return _Text(tokens, values, stems, gaps)


def _distance(text: _Text, i: int, value: Value) -> float:
    """Distance from token ``i`` to the nearer end of ``value``'s span (1 for a neighbour)."""
    if i < value.start:
        return text.gaps[value.start] - text.gaps[i]
    return text.gaps[i] - text.gaps[value.end - 1]


def _span(text: _Text, value: Value) -> str:
    return " ".join(t.text for t in text.tokens[value.start : value.end])


def _near(text: _Text, value: Value, window: float) -> dict[str, float]:
    """Each content stem outside ``value``, weighted by closeness to it: ``exp(-(d - 1) / window)``."""
    out: dict[str, float] = {}
    for i, word in enumerate(text.stems):
        if word is None or value.start <= i < value.end:
            continue
        weight = math.exp(-(max(1.0, _distance(text, i, value)) - 1.0) / window)
        out[word] = max(out.get(word, 0.0), weight)
    return out


def checked_values(
    values: Sequence[Value], shown: Sequence[Sequence[Value]], topic: int = TOPIC, names: NameCheck = NAMES
) -> list[Value]:
    """The values a claim asserts: its numbers and dates, and its names that at most ``topic``
    evidence sentences hold (``shown``: the values of each sentence; with ``names="alone"``, names
    only in a claim with no number or date).

    A name many sentences hold is the passage's topic ("Fresno" in an article on Fresno), not a
    value the claim asserts. Names next to a number are checked too (``"always"``): "Woodward Park
    hosts the reenactment in 1990" swaps the park as easily as the year.
    """
    measured = [v for v in values if v.kind != "name"]
    if measured and names == "alone":
        return measured
    out = list(measured)
    for value in values:
        if value.kind != "name":
            continue
        holders = sum(1 for held in shown if any(value.same(c) for c in held))
        if holders <= topic:
            out.append(value)
    return out


@dataclass(frozen=True)
class Unbound:
    """A claim value the evidence gives to another subject."""

    value: str
    answer: str
    """What the evidence answers instead."""
    evidence: str

    def reason(self) -> str:
        return f"the evidence answers {self.answer!r} where the claim says {self.value!r}"


class SubjectBinding:
    """Checks that each number, date and name of a claim is the one the evidence binds to its subject.

    Example:
        >>> SubjectBinding().unbound("An extra seat costs 14 dollars a month.",
        ...     ["The Starter plan costs 14 dollars a month, and an extra seat costs 7 dollars."])
        Unbound(value='14', answer='7', ...)
    """

    def __init__(
        self,
        *,
        claim_window: float = CLAIM_WINDOW,
        evidence_window: float = EVIDENCE_WINDOW,
        boundary: float = BOUNDARY,
        value_weight: float = VALUE_WEIGHT,
        sentence_weight: float = SENTENCE_WEIGHT,
        margin: float = MARGIN,
        names: NameCheck = NAMES,
        topic: int = TOPIC,
    ) -> None:
        self.names: NameCheck = names
        self.topic = topic
        self.claim_window = claim_window
        self.evidence_window = evidence_window
        self.boundary = boundary
        self.value_weight = value_weight
        self.sentence_weight = sentence_weight
        self.margin = margin
        self._last: tuple[tuple[str, ...], tuple[set[str], list[_Text], list[set[str]]]] | None = None

    def unbound(self, claim: str, evidence: Sequence[str]) -> Unbound | None:
        """The first value of ``claim`` the ``evidence`` answers differently, or ``None``."""
        if not evidence or claim.strip() in {e.strip() for e in evidence}:
            return None
        vocabulary, shown, bags = self._evidence(tuple(evidence))
        said = _read(claim, vocabulary | name_words([claim]), self.boundary)
        for value in checked_values(said.values, [t.values for t in shown], self.topic, self.names):
            found = self._check(value, said, shown, bags, evidence)
            if found is not None:
                return found
        return None

    def _evidence(self, evidence: tuple[str, ...]) -> tuple[set[str], list[_Text], list[set[str]]]:
        """The evidence read once for all the claims of an answer (the last evidence is kept)."""
        last = self._last
        if last is not None and last[0] == evidence:
            return last[1]
        vocabulary = name_words(evidence)
        shown = [_read(e, vocabulary, self.boundary) for e in evidence]
        read = (vocabulary, shown, [{w for w in s.stems if w is not None} for s in shown])
        self._last = (evidence, read)
        return read

    def _check(
        self,
        value: Value,
        said: _Text,
        shown: Sequence[_Text],
        bags: Sequence[set[str]],
        evidence: Sequence[str],
    ) -> Unbound | None:
        others = [v for v in said.values if v is not value]
        near = _near(said, value, self.claim_window)
        anchors = {said.stems[i] for o in others for i in range(o.start, o.end)}
        if not near:
            return None
        n = len(shown)
        rarity = {w: math.log(1 + n / max(1, sum(1 for b in bags if w in b))) for w in near}
        weight = {w: k * rarity[w] * (self.value_weight if w in anchors else 1.0) for w, k in near.items()}
        total = sum(weight.values())
        mine, best, answer, where = -1.0, -1.0, "", ""
        for j, text in enumerate(shown):
            sentence = sum(weight[w] for w in weight if w in bags[j]) / total
            for candidate in text.values:
                if candidate.kind != value.kind or any(candidate.same(o) for o in others):
                    continue
                close = _near(text, candidate, self.evidence_window)
                local = sum(wt * close.get(w, 0.0) for w, wt in weight.items()) / total
                score = (1 - self.sentence_weight) * local + self.sentence_weight * sentence
                if candidate.same(value):
                    mine = max(mine, score)
                elif score > best:
                    best, answer, where = score, _span(text, candidate), evidence[j]
        if mine < 0 or best < 0 or best <= mine + self.margin:
            return None
        return Unbound(_span(said, value), answer, where)


__all__ = [
    "BOUNDARY",
    "CLAIM_WINDOW",
    "EVIDENCE_WINDOW",
    "MARGIN",
    "NAMES",
    "TOPIC",
    "NameCheck",
    "checked_values",
    "VALUE_WEIGHT",
    "SENTENCE_WEIGHT",
    "SubjectBinding",
    "Unbound",
]
