"""What a chain returns: the answer text, its sources, the route it took and what it cost."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.routing.decision import RouteDecision

NOT_FOUND = "I could not find this in the documents."
"""The answer given when retrieval finds nothing good enough (and the route is allowed to say so)."""
NOT_FROM_DOCUMENTS = "Not from the documents: the model answered on its own."
"""What ``ragtune ask`` shows under an answer written without documents (``Answer.unsourced``)."""


class Citation(BaseModel):
    """One numbered context block, as cited in an answer (``[number]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int
    """The block's number in the prompt; the same number the answer text uses."""
    source: str
    """Source of the document (file path or URL)."""
    chunk_id: str
    """Id of the first chunk of the block (blocks of merged neighbours hold several, see ``chunk_ids``)."""
    doc_id: str
    """Id of the document the block comes from."""
    title: str | None = None
    """Title of the document."""
    page: int | None = None
    """1-based page for paged sources."""
    chunk_ids: tuple[str, ...] = ()
    """Every chunk merged into the block, in document order."""
    score: float | None = None
    """Retrieval score of the best chunk of the block."""


class DroppedChunk(BaseModel):
    """A retrieved chunk that did not reach the prompt (or reached it only in part)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunk_id: str
    doc_id: str
    source: str
    rank: int
    """0-based retrieval rank of the chunk."""
    reason: Literal["duplicate", "budget", "truncated"]
    """``duplicate``: a near-duplicate of a better-ranked chunk; ``budget``: did not fit the token budget;
    ``truncated``: kept, but cut at a sentence boundary to fit."""
    tokens: int = 0
    """Tokens of the chunk's text left out of the prompt."""
    duplicate_of: str | None = None
    """For duplicates: the chunk id that was kept instead."""


class Segment(BaseModel):
    """A sentence of an answer and the citations it carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    start: int
    """Character offset of the sentence in ``Answer.text``."""
    end: int
    citations: tuple[int, ...] = ()
    """Valid citation numbers inside the sentence; empty means the sentence is uncited."""

    @property
    def cited(self) -> bool:
        return bool(self.citations)


Verdict = Literal["supported", "unsupported"]


class Claim(BaseModel):
    """One sentence of an answer, checked against the passages that were shown.

    Citations are attached by the system from this check, whatever markers the model wrote.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    """The sentence, without citation markers."""
    start: int = 0
    """Character offset of the sentence in ``Answer.text``."""
    end: int = 0
    citations: tuple[int, ...] = ()
    """Numbers of the shown blocks that support the claim (empty when unsupported)."""
    support: float = 0.0
    """Support score in [0, 1] of the best-supporting sentence."""
    verdict: Verdict = "unsupported"
    evidence: str | None = None
    """The best-supporting sentence of the passages shown."""
    passage: int | None = None
    """Number of the block that holds ``evidence``."""
    model_citations: tuple[int, ...] = ()
    """Markers the model itself wrote for this sentence (before correction)."""
    corrected: tuple[int, ...] = ()
    """Model-written markers that pointed at a block that does not support the claim."""
    reason: str | None = None
    """Why the claim is unsupported (missing number or name, negation, low support)."""
    origin: Literal["model", "extract"] = "model"
    """``model``: a sentence the model wrote; ``extract``: a sentence quoted from the passages."""
    removed: bool = False
    """True when the ``strict`` policy left the claim out of ``Answer.text`` (``start``/``end`` are then 0)."""


class Usage(BaseModel):
    """Tokens, latency and estimated cost of one answer, all steps together."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: dict[str, float] = Field(default_factory=dict)
    """Wall time per step (``route``, ``retrieve``, ``synthesize``, ``map[0]`` ...) and ``total``."""
    cost_usd: float | None = 0.0
    """Estimated from the price table; ``None`` when a model's price is unknown."""
    models: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Tokens per model id: ``{"gpt-4o-mini": {"input_tokens": ..., "output_tokens": ...}}``."""
    estimated_tokens: bool = False
    """True when a model reported no usage and tokens were counted with its tokenizer instead."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Answer(BaseModel):
    """The result of one question: text, route, citations, usage and what was left out.

    Example:
        >>> answer = chain.invoke("How do I rotate the API key?")
        >>> answer.text, answer.route, [c.source for c in answer.citations]
    """

    model_config = ConfigDict(extra="forbid")

    text: str
    """The answer, with invalid citations removed; valid ones read ``[n]``."""
    question: str = ""
    route: str
    """The route that produced the answer: ``rag``, ``finetuned``, ``hybrid`` or ``direct``."""
    decision: RouteDecision | None = None
    """Why that route: the router's decision (``None`` when the route was forced)."""
    mode: str | None = None
    """Synthesis mode for retrieval routes: ``stuff``, ``refine`` or ``map_reduce``."""
    model: str | None = None
    """Id of the chat model that wrote the answer."""
    citations: list[Citation] = Field(default_factory=list)
    """Blocks the answer cites, by number."""
    context: list[Citation] = Field(default_factory=list)
    """Every block the model was shown, cited or not."""
    invalid_citations: list[int] = Field(default_factory=list)
    """Citation numbers the model wrote that point at no block shown to it (removed from ``text``)."""
    dropped_context: list[DroppedChunk] = Field(default_factory=list)
    """Retrieved chunks that did not reach the prompt, or only in part."""
    segments: list[Segment] = Field(default_factory=list)
    """For hybrid answers: the sentences, each with its valid citations (uncited ones have none)."""
    abstained: bool = False
    """True when the answer declines: nothing relevant was found."""
    unsourced: bool = False
    """True when no documents were shown (``direct``, ``finetuned``): the answer is the model's own,
    uncited by design; ``ragtune ask`` says so under it (:data:`NOT_FROM_DOCUMENTS`)."""
    claims: list[Claim] = Field(default_factory=list)
    """Every sentence of the answer with its verification (routes that show context)."""
    supported_share: float | None = None
    """Share of the claims shown in ``text`` (not ``removed``) judged supported; ``None`` when nothing was verified."""
    grounding: Literal["off", "annotate", "strict"] | None = None
    """Grounding policy applied to the answer (``None``: no context was shown)."""
    usage: Usage = Field(default_factory=Usage)

    @property
    def uncited(self) -> list[Segment]:
        """Sentences of a hybrid answer that carry no valid citation."""
        return [s for s in self.segments if not s.cited]

    def marked_text(self, marker: str = "[uncited]") -> str:
        """The text with ``marker`` after every uncited sentence of a hybrid answer."""
        if not self.segments:
            return self.text
        out: list[str] = []
        cursor = 0
        for seg in self.segments:
            out.append(self.text[cursor : seg.end])
            if not seg.cited:
                out.append(f" {marker}")
            cursor = seg.end
        out.append(self.text[cursor:])
        return "".join(out)


__all__ = [
    "NOT_FOUND",
    "NOT_FROM_DOCUMENTS",
    "Answer",
    "Citation",
    "Claim",
    "DroppedChunk",
    "Segment",
    "Usage",
    "Verdict",
]
