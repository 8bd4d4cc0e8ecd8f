"""Answers that must meet a behaviour requirement: the prompt that states it, and value checks for JSON answers.

The format of an answer always comes from the arm's model: nothing here turns text into JSON or
fixes a label. What retrieval adds, for ``format: json`` answers of the retrieving arms (rag and
hybrid alike), is the fact check: the claim of a JSON answer is its answer field's value, bound to
the question it answers, and it is checked against the passages shown with the chain's verifier
(:func:`~ragtune.chains.grounding.verify_claims`). A value that fails is replaced, inside the
structure the model wrote, by the best extractive sentence of those passages (the value the
verifier can stand behind); the field is listed in ``replaced``. A supported value must also be
stated in a sentence the extractive answerer picks for the question (QA-style: the question is
answered from the passages, and the answer must hold the value), so a true sentence given for
another question is not counted as its answer. Answers that do not parse as JSON are left exactly
as written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ragtune.evaluation.expect import Expect, json_values

if TYPE_CHECKING:
    from ragtune.chains.answer import Answer, Claim
    from ragtune.chains.context import ContextBlock
    from ragtune.chains.grounding.verifier import EmbeddingSimilarity, Verifier
    from ragtune.chains.prompt import Prompts

ANSWER_INTRO = "You are a careful assistant. Answer the question using the documents."


def expect_prompts(expect: Expect) -> Prompts:
    """The chain's prompts with the requirement stated: the rag baseline, and the hybrid arm's context prompt.

    The ``finetuned`` prompt stays the bare question, as the fine-tuned model was trained on it.
    """
    from langchain_core.prompts import ChatPromptTemplate

    from ragtune.chains.prompt import DATA_RULE, Prompts

    system = f"{ANSWER_INTRO} {expect.describe()} {DATA_RULE}".replace("{", "{{").replace("}", "}}")
    answer = ChatPromptTemplate.from_messages([("system", system), ("human", "{context}\n\nQuestion: {question}")])
    return Prompts(answer=answer)


def stated_in(value: str, evidence: str) -> bool:
    """Every content word of the value appears in the evidence sentence (the value itself is stated there)."""
    from ragtune.evaluation.answer_metrics import content_tokens

    words = set(content_tokens(value))
    return bool(words) and words <= set(content_tokens(evidence))


def claim_text(question: str, value: str) -> str:
    """A JSON value bound to its subject: the question it answers, then the value."""
    return f"{question.strip()} {value.strip()}"


@dataclass
class GroundedValues:
    """The answer after the value check, and what the check found."""

    text: str
    claims: list[Claim] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)
    """Blocks that support the (possibly replaced) value."""


def ground_values(
    text: str,
    question: str,
    expect: Expect,
    blocks: Sequence[ContextBlock],
    verifier: Verifier,
    similarity: EmbeddingSimilarity | None = None,
) -> GroundedValues:
    """Check the answer field of a JSON answer against ``blocks``; replace a value that fails (see the module docs)."""
    from ragtune.chains.answer import Claim
    from ragtune.chains.grounding import evidence_sentences, pick_sentences, verify_claims
    from ragtune.chains.grounding.verify import Draft

    values = json_values(text)
    name = expect.answer_field()
    if values is None or name is None or not isinstance(values.get(name), str) or not blocks:
        return GroundedValues(text=text)
    value: str = values[name]
    evidence = evidence_sentences(blocks)
    claim = verify_claims([Draft(claim_text(question, value), 0, 0, ())], evidence, verifier)[0]
    picks = pick_sentences(question, blocks, similarity)
    if claim.verdict == "supported" and stated_in(value, claim.evidence or ""):
        if not picks or any(p.evidence.text == claim.evidence or stated_in(value, p.evidence.text) for p in picks):
            return GroundedValues(text=text, claims=[claim], cited=list(claim.citations))
        # A true sentence of the passages, but not the one that answers the question (the audit
        # firm given for the cipher question): the extractive answerer reads the question elsewhere.
        reason = "the value does not answer the question: the passages answer it in another sentence"
        claim = claim.model_copy(update={"verdict": "unsupported", "citations": (), "reason": reason})
    elif claim.verdict == "supported":
        # The question restates the passage, so the bound claim can score high on it while the value
        # itself (a file name, a wrong city) is nowhere in it: that is not support.
        claim = claim.model_copy(
            update={"verdict": "unsupported", "citations": (), "reason": "the value is not stated in the evidence"}
        )
    if not picks:
        return GroundedValues(text=text, claims=[claim])
    best = picks[0].evidence
    replaced: dict[str, Any] = {**values, name: best.text}
    extracted = Claim(
        text=best.text,
        citations=(best.number,),
        support=1.0,
        verdict="supported",
        evidence=best.text,
        passage=best.number,
        origin="extract",
        reason=f"replaced the model's value {value!r}: {claim.reason or 'unsupported'}",
    )
    return GroundedValues(
        text=json.dumps(replaced, ensure_ascii=False), claims=[extracted], replaced=[name], cited=[best.number]
    )


def apply_values(answer: Answer, grounded: GroundedValues) -> Answer:
    """The answer with the checked text, the value claims, and citations to the blocks that support them."""
    shown = {c.number: c for c in answer.context}
    citations = [shown[n] for n in grounded.cited if n in shown]
    supported = [c for c in grounded.claims if c.verdict == "supported"]
    share = len(supported) / len(grounded.claims) if grounded.claims else None
    return answer.model_copy(
        update={
            "text": grounded.text,
            "claims": grounded.claims,
            "citations": citations,
            "supported_share": share,
        }
    )


__all__ = ["GroundedValues", "apply_values", "claim_text", "expect_prompts", "ground_values", "stated_in"]
