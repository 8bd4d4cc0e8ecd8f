"""What a reader needs to check an answer: each claim's verdict and each cited passage, judged.

Shared by ``ragtune eval answers`` and ``ragtune compare`` so both show (and
score) citations the same way: a cited passage is *relevant* when it comes from
a listed source or contains a gold answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ragtune.evaluation.answer_metrics import normalize_answer, source_matches

if TYPE_CHECKING:
    from ragtune.chains.answer import Answer, Citation

PassageText = Callable[[Sequence["Citation"]], dict[int, str]]
"""Text of the given blocks, by block number (what the model was shown)."""


class ClaimCheck(BaseModel):
    """One sentence of an answer and how its verification came out."""

    model_config = ConfigDict(frozen=True)

    text: str
    verdict: str
    """``supported`` or ``unsupported``."""
    support: float = 0.0
    citations: list[int] = []
    """Blocks that support the claim."""
    evidence: str | None = None
    """The best-supporting sentence of the passages shown."""


class CitedPassage(BaseModel):
    """A block the answer cites, and whether it bears on the question."""

    model_config = ConfigDict(frozen=True)

    number: int
    source: str
    chunk_id: str
    relevant: bool | None = None
    """From a listed source or holding a gold answer; ``None`` when the question lists neither."""


def claim_checks(answer: Answer) -> list[ClaimCheck]:
    """The answer's claims as plain records (empty when the chain verified nothing)."""
    return [
        ClaimCheck(text=c.text, verdict=c.verdict, support=c.support, citations=list(c.citations), evidence=c.evidence)
        for c in answer.claims
    ]


def passage_relevant(source: str, text: str, golds: Sequence[str], sources: Sequence[str]) -> bool | None:
    """A passage is relevant when it comes from a listed source or contains a gold answer (whole words)."""
    golds = [g for g in golds if g.strip()]
    sources = [s for s in sources if s]
    if not golds and not sources:
        return None
    if any(source_matches(source, s) for s in sources):
        return True
    padded = f" {normalize_answer(text)} "
    return any(f" {normalize_answer(g)} " in padded for g in golds)


def cited_passages(
    answer: Answer, golds: Sequence[str], sources: Sequence[str], texts: dict[int, str]
) -> list[CitedPassage]:
    """Each distinct cited block with its relevance (``texts``: block text by number)."""
    seen: dict[int, CitedPassage] = {}
    for c in answer.citations:
        if c.number in seen:
            continue
        relevant = passage_relevant(c.source, texts.get(c.number, ""), golds, sources)
        seen[c.number] = CitedPassage(number=c.number, source=c.source, chunk_id=c.chunk_id, relevant=relevant)
    return list(seen.values())


def citation_precision(passages: Sequence[CitedPassage]) -> float | None:
    """Share of cited passages that are relevant; ``None`` when nothing is cited or nothing can be judged."""
    judged = [p.relevant for p in passages if p.relevant is not None]
    if not judged:
        return None
    return sum(1 for r in judged if r) / len(judged)


__all__ = [
    "CitedPassage",
    "ClaimCheck",
    "PassageText",
    "citation_precision",
    "cited_passages",
    "claim_checks",
    "passage_relevant",
]
