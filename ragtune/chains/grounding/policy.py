"""The grounding post-step: verify an answer's claims, attach citations, apply the policy.

``apply_grounding`` is pure: it takes the answer a synthesis mode produced and the blocks that
were shown, and returns the grounded answer. ``invoke`` and ``stream`` both end with it, so a
stream yields the model's tokens and then the same grounded :class:`Answer` ``invoke`` returns.

Policies:

* ``off``: the model's text as written (invalid markers removed), no verification;
* ``annotate``: every claim verified and cited by the system; unsupported claims stay, marked
  ``[unsupported]``;
* ``strict``: unsupported claims are removed; when nothing supported remains, the answer quotes
  the best passage sentences (see :mod:`~ragtune.chains.grounding.extract`) or, when none is
  relevant, says the documents do not contain it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ragtune.chains.answer import NOT_FOUND, Answer, Claim
from ragtune.chains.citations import resolve, segments
from ragtune.chains.context import ContextBlock
from ragtune.chains.grounding.extract import (
    ExtractOptions,
    citation_marker,
    extractive_text,
    pick_sentences,
    with_marker,
)
from ragtune.chains.grounding.likelihood import QuestionLikelihood
from ragtune.chains.grounding.verifier import EmbeddingSimilarity, Verifier
from ragtune.chains.grounding.verify import Draft, evidence_sentences, split_claims, verify_claims

Grounding = Literal["off", "annotate", "strict"]
GROUNDING_POLICIES: tuple[str, ...] = ("off", "annotate", "strict")
UNSUPPORTED = "[unsupported]"
"""Marker the ``annotate`` policy puts on a claim the passages do not support."""


def is_not_found(text: str) -> bool:
    """True when an answer declines with the not-found sentence."""
    return NOT_FOUND.lower().rstrip(".") in " ".join(text.lower().split())


def _render(text: str, drafts: Sequence[Draft], claims: Sequence[Claim], strict: bool) -> tuple[str, list[Claim]]:
    """The answer rebuilt from its claims: system citations, unsupported ones marked or removed."""
    kept: list[tuple[str, str, Claim]] = []
    out: list[Claim] = []
    for i, (draft, claim) in enumerate(zip(drafts, claims, strict=True)):
        gap = text[draft.end : drafts[i + 1].start] if i + 1 < len(drafts) else ""
        gap = gap if gap and not gap.strip() else " "
        if claim.verdict != "supported" and strict:
            out.append(claim.model_copy(update={"start": 0, "end": 0, "removed": True}))
            continue
        marker = citation_marker(claim.citations) if claim.verdict == "supported" else UNSUPPORTED
        kept.append((with_marker(claim.text, marker), gap, claim))
        out.append(claim)
    pieces: list[str] = []
    length = 0
    placed: dict[int, Claim] = {}
    for k, (rendered, gap, claim) in enumerate(kept):
        placed[id(claim)] = claim.model_copy(update={"start": length, "end": length + len(rendered)})
        pieces.append(rendered)
        length += len(rendered)
        if k + 1 < len(kept):
            pieces.append(gap)
            length += len(gap)
    return "".join(pieces), [placed.get(id(c), c) for c in out]


def _extracted(question: str, shown: Sequence[ContextBlock], similarity: EmbeddingSimilarity | None,
               options: ExtractOptions | None,
               likelihood: QuestionLikelihood | None) -> tuple[str, list[Claim]]:  # fmt: skip
    picks = pick_sentences(question, shown, similarity, options, likelihood)
    text = extractive_text(picks)
    claims, cursor = [], 0
    for pick in picks:
        rendered = with_marker(pick.evidence.text, citation_marker([pick.evidence.number]))
        start = text.index(rendered, cursor)
        cursor = start + len(rendered)
        claims.append(
            Claim(
                text=pick.evidence.text,
                start=start,
                end=cursor,
                citations=(pick.evidence.number,),
                support=1.0,
                verdict="supported",
                evidence=pick.evidence.text,
                passage=pick.evidence.number,
                origin="extract",
            )
        )
    return text, claims


def apply_grounding(
    answer: Answer,
    shown: Sequence[ContextBlock],
    *,
    policy: Grounding,
    verifier: Verifier,
    similarity: EmbeddingSimilarity | None = None,
    extract: ExtractOptions | None = None,
    hybrid: bool = False,
    likelihood: QuestionLikelihood | None = None,
) -> Answer:
    """``answer`` verified against the ``shown`` blocks, with ``policy`` applied (see module docs).

    Example:
        >>> grounded = apply_grounding(answer, blocks, policy="strict", verifier=LexicalVerifier())
        >>> [(c.text, c.verdict, c.citations) for c in grounded.claims]
    """
    if policy == "off":
        return answer.model_copy(update={"grounding": "off"})
    if policy not in GROUNDING_POLICIES:
        from ragtune.errors import ConfigError

        raise ConfigError(f"Unknown grounding policy {policy!r}; use one of {', '.join(GROUNDING_POLICIES)}")
    valid = {c.number for c in answer.context}
    drafts = [] if is_not_found(answer.text) else split_claims(answer.text, valid)
    claims = verify_claims(drafts, evidence_sentences(shown), verifier)
    if answer.mode == "extract":
        claims = [c.model_copy(update={"origin": "extract"}) for c in claims]
    text, claims = _render(answer.text, drafts, claims, strict=policy == "strict") if drafts else (answer.text, [])
    if policy == "strict" and not any(c.verdict == "supported" for c in claims):
        quoted, extra = _extracted(answer.question, shown, similarity, extract, likelihood)
        text = quoted or NOT_FOUND
        claims = [*claims, *extra]
    visible = [c for c in claims if not c.removed]
    supported = [c for c in visible if c.verdict == "supported"]
    numbers = list(dict.fromkeys(n for c in supported for n in c.citations))
    by_number = {c.number: c for c in answer.context}
    return answer.model_copy(
        update={
            "text": text,
            "claims": claims,
            "citations": resolve(numbers, by_number),
            "supported_share": round(len(supported) / len(visible), 4) if visible else None,
            "grounding": policy,
            "abstained": is_not_found(text),
            "segments": segments(text, valid) if hybrid else [],
        }
    )


__all__ = ["GROUNDING_POLICIES", "UNSUPPORTED", "Grounding", "apply_grounding", "is_not_found"]
