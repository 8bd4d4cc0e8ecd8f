"""Rival values: a claim is refused when the evidence fits it better with another of its values in place.

"Starter workspaces can make 300 API requests a minute" shares every word but one with "Starter
workspaces may send 60 API requests per minute" and every word but one with "Business workspaces may
send 300 API requests per minute", so a similarity score supports it. Put each other value of the
same kind that the evidence holds in the claim's place ("Business workspaces ... 300", "Starter
workspaces ... 60") and score the variants with the same verifier: when a variant fits a sentence,
or a clause of one, clearly better than the claim fits any, the evidence gives that value to this
subject, and the claim is unbound. Clauses count on their own, and a unit holding both values is
left out of the comparison where others hold one of them, so that "Exports are kept for 30 days,
and audit logs for 365" answers for audit logs with 365, not with the whole sentence.

This is the contrastive form of QA-based checking (QAGS, QAFactEval): instead of asking an answerer
what fills the gap, the verifier that judged the claim judges each candidate filler, so it needs no
other model. A variant counts only where one sentence or clause holds all its values, so a rival
drawn from an unrelated sentence cannot win on words it shares by chance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ragtune.chains.grounding.binding import TOPIC, Unbound, checked_values
from ragtune.chains.grounding.values import Token, Value, find_values, name_words

MARGIN = 0.05
"""A variant must beat the claim's own best score by more than this (scores in [0, 1]). Chosen with
``exclusive`` on three tuning sets (SQuAD dev articles 16-31, the hand-made pairs of
``tests/test_binding.py``, the railway set of ``benchmarks/data``) by true-accept minus 3 x
false-accept, averaged over the sets: 0.03 0.589, 0.05 0.592, 0.08 0.436."""

_CLAUSE = re.compile(r"\s*(?:[;:]|,\s*(?:and|but|while|whereas|which|who)?\b|\s(?:and|but|while|whereas)\s)\s*")


class Scorer(Protocol):
    def verify(self, claims: Sequence[str], evidence: Sequence[str]) -> np.ndarray: ...


def units(sentences: Sequence[str]) -> dict[str, int]:
    """The evidence sentences and, after each sentence of several clauses, its clauses of 2+ words,
    each with the index of the (first) sentence it comes from."""
    out: dict[str, int] = {}
    for i, sentence in enumerate(sentences):
        out.setdefault(sentence, i)
        parts = [p for p in _CLAUSE.split(sentence) if p and len(p.split()) >= 2]
        if len(parts) > 1:
            for part in parts:
                out.setdefault(part, i)
    return out


def _span(tokens: Sequence[Token], value: Value) -> str:
    return " ".join(t.text for t in tokens[value.start : value.end])


def _put(claim: str, tokens: Sequence[Token], value: Value, text: str) -> str:
    """``claim`` with ``value``'s words replaced by ``text``."""
    pattern = r"\W{0,3}".join(re.escape(t.text) for t in tokens[value.start : value.end])
    return re.sub(pattern, lambda _: text, claim, count=1)


def _holding(held: Sequence[Sequence[Value]], need: Sequence[Value], without: Value | None) -> list[int]:
    """Indices of the units holding every value of ``need`` (and not ``without``)."""
    return [
        j
        for j, vals in enumerate(held)
        if all(any(n.same(x) for x in vals) for n in need) and not (without and any(without.same(x) for x in vals))
    ]


class RivalCheck:
    """Refuses a claim when swapping one of its values for a rival value of the evidence fits the evidence better.

    ``scorer`` is the verifier that judged the claim (its ``verify`` matrix); ``topic`` as in
    :class:`~ragtune.chains.grounding.binding.SubjectBinding`: names more evidence sentences hold
    are the passage's topic and are not swapped. ``exclusive``: the claim and each variant are
    scored on the units holding their own value and not the other one, where there are such units
    ("Oak every 15 minutes, while Pine every 30": a sentence holding both values cannot tell which
    is whose, its clauses can); ``False`` scores both on every unit.

    Example:
        >>> check = RivalCheck(EmbeddingVerifier(embedder))
        >>> check.unbound("Starter workspaces can make 300 API requests a minute.", sentences)
        Unbound(value='Starter', answer='Business', ...)
    """

    def __init__(self, scorer: Scorer, *, margin: float = MARGIN, topic: int = TOPIC, exclusive: bool = True) -> None:
        self.scorer = scorer
        self.margin = margin
        self.topic = topic
        self.exclusive = exclusive

    def unbound(self, claim: str, evidence: Sequence[str]) -> Unbound | None:
        """The first value of ``claim`` a rival of the evidence replaces with a clearly better fit, or ``None``."""
        if not evidence or claim.strip() in {e.strip() for e in evidence}:
            return None
        vocabulary = name_words(evidence)
        tokens, values = find_values(claim, vocabulary | name_words([claim]))
        owner = units(evidence)
        pieces = list(owner)
        parsed = {p: find_values(p, vocabulary) for p in pieces}  # every sentence is a unit: read once
        read = [parsed[e] for e in evidence]
        checked = checked_values(values, [vals for _, vals in read], self.topic)
        if not checked:
            return None
        held = [parsed[p][1] for p in pieces]
        variants: list[tuple[Value, str, str, list[int], list[int]]] = []
        for value in checked:
            fixed = [o for o in checked if o is not value]
            rest = [o for o in values if o is not value]
            seen: set[str] = set()
            for words, found in read:
                for rival in found:
                    if rival.kind != value.kind or rival.same(value) or any(rival.same(o) for o in rest):
                        continue
                    text = _span(words, rival)
                    if text in seen:
                        continue
                    seen.add(text)
                    where = _holding(held, [rival, *fixed], None)
                    if not where:
                        continue
                    own = list(range(len(held)))
                    if self.exclusive:  # units holding one of the two values, not both, where there are any
                        where = _holding(held, [rival, *fixed], value) or where
                        own = _holding(held, [value, *fixed], rival) or own
                    variants.append((value, text, _put(claim, tokens, value, text), where, own))
        if not variants:
            return None
        scores = np.asarray(self.scorer.verify([claim, *(v[2] for v in variants)], pieces), dtype=np.float32)
        for i, (value, text, _, where, own) in enumerate(variants, start=1):
            j = max(where, key=lambda k: float(scores[i, k]))
            mine = max((float(scores[0, k]) for k in own), default=-1.0)
            if float(scores[i, j]) > mine + self.margin:
                return Unbound(_span(tokens, value), text, evidence[owner[pieces[j]]])
        return None


__all__ = ["MARGIN", "RivalCheck", "units"]
