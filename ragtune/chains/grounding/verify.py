"""Claims of an answer checked against the sentences of the passages shown, with the rules every verdict obeys.

A claim is ``supported`` by an evidence sentence when the verifier's score reaches its threshold
and the rules hold: every number and name of the claim appears in the sentence (a name that several
sentences hold, the passage's subject, may be left out: see :func:`subject_names`), and claim and
sentence agree on negation. Sentences that give the model orders are never evidence. Citations
come from this check: the block of the best supporting sentence, plus any block the model cited
that also supports the claim; other markers the model wrote are reported in ``corrected``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ragtune.chains.answer import Claim
from ragtune.chains.citations import CITATION, segments
from ragtune.chains.context import ContextBlock, split_sentences
from ragtune.chains.grounding.text import (
    clean_sentence,
    content_stems,
    is_instruction,
    is_statement,
    missing_keys,
    names,
    polarity_conflict,
)
from ragtune.chains.grounding.verifier import Verifier

NEGATION = "negation differs from the evidence"


@dataclass(frozen=True)
class Evidence:
    """One sentence of a shown block."""

    number: int
    text: str


@dataclass(frozen=True)
class Draft:
    """One sentence of the answer text, before verification."""

    text: str
    """Without citation markers."""
    start: int
    end: int
    model_citations: tuple[int, ...]


def evidence_sentences(blocks: Sequence[ContextBlock]) -> list[Evidence]:
    """Statement sentences of the blocks, once each, instructions aimed at the model left out."""
    seen: set[tuple[int, str]] = set()
    out = []
    for block in sorted(blocks, key=lambda b: b.number):
        for piece in split_sentences(block.text):
            sentence = clean_sentence(piece)
            if not is_statement(sentence) or is_instruction(sentence) or (block.number, sentence) in seen:
                continue
            seen.add((block.number, sentence))
            out.append(Evidence(block.number, sentence))
    return out


def strip_markers(text: str) -> str:
    """``text`` without ``[n]`` markers (and the space before them)."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"\s*" + CITATION.pattern, "", text)).strip()


def split_claims(text: str, valid: Collection[int]) -> list[Draft]:
    """The sentences of an answer with the (valid) markers the model wrote for each."""
    out = []
    for seg in segments(text, valid):
        body = strip_markers(seg.text)
        if body:
            out.append(Draft(body, seg.start, seg.end, seg.citations))
    return out


def rule_failure(claim: str, evidence: str, excused: Collection[str] = ()) -> str | None:
    """Why ``evidence`` cannot support ``claim`` whatever its score, or ``None``.

    ``excused``: names of the claim the sentence may leave out (the passage's subject, see
    :func:`subject_names`).
    """
    missing = missing_keys(claim, evidence) - set(excused)
    if missing:
        return "evidence lacks " + ", ".join(sorted(missing))
    if polarity_conflict(claim, evidence):
        return NEGATION
    return None


def _contradiction(
    order: list[int], failures: dict[int, str | None], best: int | None, evidence: Sequence[Evidence]
) -> int | None:
    """A sentence scoring above the best supporting one that says the opposite (negation differs)."""
    for j in order if best is not None else order[:1]:
        if j == best:
            return None
        if failures[j] == NEGATION:
            return j
    return None


def subject_names(claim: str, evidence: Sequence[Evidence], holders: int) -> set[str]:
    """Names of ``claim`` that at least ``holders`` evidence sentences hold: the subject of the passage.

    A question names its subject ("Fresno") where the sentence answering it says "the city"; a name
    several sentences repeat is that subject, not the value the claim asserts. ``holders`` 0: none.
    """
    if holders <= 0:
        return set()
    out = set()
    sides = [({w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'\u2019]*", e.text)}) for e in evidence]
    for name in names(claim):
        if sum(1 for side in sides if name in side) >= holders:
            out.add(name)
    return out


def _judge(draft: Draft, row: np.ndarray, evidence: Sequence[Evidence], threshold: float, subject: int = 0) -> Claim:
    base: dict[str, Any] = {
        "text": draft.text,
        "start": draft.start,
        "end": draft.end,
        "model_citations": draft.model_citations,
    }
    if not evidence or not content_stems(draft.text):
        reason = "no passage sentences to check against" if not evidence else "no content to check"
        return Claim(**base, corrected=draft.model_citations, reason=reason)
    order = sorted(range(len(evidence)), key=lambda j: (-float(row[j]), j))
    excused = subject_names(draft.text, evidence, subject)
    failures = {j: rule_failure(draft.text, evidence[j].text, excused) for j in order}
    passing = [j for j in order if failures[j] is None]
    best = passing[0] if passing else None
    contradiction = _contradiction(order, failures, best, evidence)
    if contradiction is not None:
        j = contradiction
        return Claim(
            **base,
            support=round(float(row[j]), 4),
            evidence=evidence[j].text,
            passage=evidence[j].number,
            corrected=draft.model_citations,
            reason=f"contradicted by block [{evidence[j].number}]: negation differs",
        )
    if best is None or float(row[best]) < threshold:
        shown = order[0] if best is None else best
        reason = rule_failure(draft.text, evidence[shown].text) or f"support {float(row[shown]):.2f} < {threshold:.2f}"
        return Claim(
            **base,
            support=round(float(row[shown]), 4),
            evidence=evidence[shown].text,
            passage=evidence[shown].number,
            corrected=draft.model_citations,
            reason=reason,
        )
    supporting = {evidence[j].number for j in passing if float(row[j]) >= threshold}
    citations = (evidence[best].number, *(n for n in draft.model_citations if n in supporting))
    citations = tuple(dict.fromkeys(citations))
    return Claim(
        **base,
        citations=citations,
        support=round(float(row[best]), 4),
        verdict="supported",
        evidence=evidence[best].text,
        passage=evidence[best].number,
        corrected=tuple(n for n in draft.model_citations if n not in citations),
    )


def _bound(claim: Claim, evidence: Sequence[Evidence], binding: Any) -> Claim:
    """``claim`` unsupported when ``binding`` finds one of its values given to another subject."""
    if claim.verdict != "supported":
        return claim
    found = binding.unbound(claim.text, [e.text for e in evidence])
    if found is None:
        return claim
    passage = next((e.number for e in evidence if e.text == found.evidence), claim.passage)
    return claim.model_copy(
        update={
            "verdict": "unsupported",
            "citations": (),
            "evidence": found.evidence,
            "passage": passage,
            "corrected": claim.model_citations,
            "reason": found.reason(),
        }
    )


def verify_claims(drafts: Sequence[Draft], evidence: Sequence[Evidence], verifier: Verifier) -> list[Claim]:
    """Each draft sentence judged against the evidence (one verifier call for all of them).

    A verifier with a ``binding`` (see :func:`~ragtune.chains.grounding.bound.default_verifier`) also
    vetoes supported claims whose number, date or name the evidence gives to another subject.
    """
    if not drafts:
        return []
    scores = verifier.verify([d.text for d in drafts], [e.text for e in evidence])
    scores = np.asarray(scores, dtype=np.float32).reshape(len(drafts), len(evidence))
    subject = int(getattr(verifier, "subject", 0))
    claims = [_judge(d, scores[i], evidence, verifier.threshold, subject) for i, d in enumerate(drafts)]
    for check in (getattr(verifier, "binding", None), getattr(verifier, "rivals", None)):
        if check is not None:
            claims = [_bound(c, evidence, check) for c in claims]
    return claims


__all__ = ["Draft", "Evidence", "evidence_sentences", "rule_failure", "split_claims", "strip_markers", "verify_claims"]
