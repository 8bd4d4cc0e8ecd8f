"""Context assembly: near-duplicates out, neighbours merged, blocks numbered and packed under a budget.

Steps, in order:

1. **Dedupe**: a hit whose text is a near-duplicate of a better-ranked one is dropped
   (normalised-text equality, word Jaccard at or above ``jaccard``, or, with an embedder,
   cosine at or above ``cosine``).
2. **Merge**: chunks of one document at consecutive positions become one block, in document
   order, with the overlap between them removed; the block ranks as its best chunk.
3. **Number**: blocks are numbered ``1..n`` by rank. The numbers never change afterwards, so
   citations stay stable across refine and map-reduce steps and through streaming.
4. **Pack** (:func:`pack`): blocks are kept in rank order while they fit the token budget; the
   first that does not fit is cut at a sentence boundary (or dropped when not even one sentence
   fits) and every lower-ranked block is dropped. Everything left out is reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ragtune.chains.answer import Citation, DroppedChunk
from ragtune.embeddings.base import Embedder
from ragtune.schema import Chunk, Hit

TokenCounter = Callable[[str], int]

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])[\"')\]]*\s+|\n\s*\n|\n(?=\s*[-*\u2022]|\s*\d+[.)]\s)")
_ABBREVIATION = re.compile(
    r"(?:^|[\s(.])(?:[A-Za-z]|St|Mr|Mrs|Ms|Dr|Prof|Jr|Sr|vs|No|Nos|Mt|Ft|Inc|Ltd|Co|Corp|Gen|Col|Lt|Sgt|Capt|"
    r"Rev|Gov|Sen|Rep|approx|ca|cf|al|Fig|Vol|pp|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.$"
)
_LOWER_NEXT = re.compile(r"[a-z]")
_FENCE = re.compile(r"<(\s*/?\s*documents?\b)", re.IGNORECASE)


class ContextOptions(BaseModel):
    """How retrieved hits become context blocks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dedupe: bool = True
    """Drop near-duplicate hits (keeping the better-ranked one)."""
    jaccard: float = Field(default=0.9, gt=0.0, le=1.0)
    """Word-set Jaccard similarity at which two hits are duplicates."""
    cosine: float | None = Field(default=None, gt=0.0, le=1.0)
    """Embedding cosine at which two hits are duplicates (needs an embedder); ``None`` = off."""
    merge_adjacent: bool = True
    """Merge chunks of one document at consecutive positions into one block."""
    max_tokens: int | None = Field(default=1500, ge=1)
    """Token budget of the context (on top of the model-derived limit); ``None`` = the model's limit only."""


class ContextBlock(BaseModel):
    """A numbered piece of context: one chunk, or several merged neighbours of one document."""

    model_config = ConfigDict(extra="forbid")

    number: int
    text: str
    chunks: list[Chunk]
    """Member chunks in document order."""
    rank: int
    """Best retrieval rank among the members (0-based)."""
    score: float
    truncated: bool = False
    """True when the text was cut at a sentence boundary to fit the budget."""

    @property
    def first(self) -> Chunk:
        return self.chunks[0]

    def citation(self) -> Citation:
        return Citation(
            number=self.number,
            source=self.first.source,
            chunk_id=self.first.id,
            doc_id=self.first.doc_id,
            title=self.first.title,
            page=self.first.page,
            chunk_ids=tuple(c.id for c in self.chunks),
            score=self.score,
        )


class PackedContext(BaseModel):
    """Blocks that fit, and what was left out."""

    model_config = ConfigDict(extra="forbid")

    blocks: list[ContextBlock]
    dropped: list[DroppedChunk] = Field(default_factory=list)
    tokens: int = 0
    """Tokens of the rendered context."""


# -- text helpers ---------------------------------------------------------------------------------
def normalise_text(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def jaccard(a: str, b: str) -> float:
    sa, sb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def _abbreviation_before(text: str, match: re.Match[str]) -> bool:
    """True when the full stop ending at ``match`` belongs to an abbreviation or an initial, not a sentence.

    ``U.S. troops``, ``46 E. 34th St. in``, ``J. P. Morgan``, ``approx. five``: a single letter or a
    common abbreviation before the stop, or a lower-case word after it, means the sentence goes on.
    """
    gap = match.group(0)
    if gap.strip() or "\n" in gap or text[match.start() - 1] != ".":
        return False  # closing quotes, a line break or no full stop: a real boundary
    if _LOWER_NEXT.match(text, match.end()):
        return True
    return bool(_ABBREVIATION.search(text, 0, match.start()))


def split_sentences(text: str) -> list[str]:
    """Sentences with their trailing whitespace, so ``"".join(split_sentences(t)) == t``."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if _abbreviation_before(text, match):
            continue
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def escape_fence(text: str) -> str:
    """Neutralise ``<documents>``/``<document>`` tags inside data so it cannot close or open the fence."""
    return _FENCE.sub(r"&lt;\1", text)


def _attr(value: str) -> str:
    return escape_fence(value).replace('"', "&quot;").replace("\n", " ")


def render_block(block: ContextBlock) -> str:
    """One block as the model sees it: ``<document index="n" source="...">`` text ``</document>``."""
    chunk = block.first
    attrs = f'index="{block.number}" source="{_attr(chunk.source or chunk.doc_id)}"'
    if chunk.title:
        attrs += f' title="{_attr(chunk.title)}"'
    if chunk.page is not None:
        attrs += f' page="{chunk.page}"'
    return f"<document {attrs}>\n[{block.number}] {escape_fence(block.text)}\n</document>"


def render_context(blocks: Sequence[ContextBlock]) -> str:
    """All blocks inside one ``<documents>`` fence."""
    inner = "\n".join(render_block(b) for b in blocks)
    return f"<documents>\n{inner}\n</documents>" if blocks else "<documents>\n</documents>"


# -- assembly -------------------------------------------------------------------------------------
def _join(a: str, b: str) -> str:
    """Concatenate consecutive chunks, removing the text they share (chunk overlap)."""
    limit = min(len(a), len(b), 2000)
    for size in range(limit, 19, -1):
        if a.endswith(b[:size]):
            return a + b[size:]
    return a.rstrip() + " " + b.lstrip()


def dedupe(
    hits: Sequence[Hit], options: ContextOptions, embedder: Embedder | None = None
) -> tuple[list[Hit], list[DroppedChunk]]:
    """Drop hits that near-duplicate a better-ranked hit."""
    ordered = sorted(hits, key=lambda h: h.rank)
    if not options.dedupe:
        return list(ordered), []
    vectors = None
    if options.cosine is not None and embedder is not None and ordered:
        vectors = embedder.embed_documents([h.text for h in ordered])
    kept: list[int] = []
    dropped: list[DroppedChunk] = []
    norms = [normalise_text(h.text) for h in ordered]
    for i, hit in enumerate(ordered):
        twin = None
        for j in kept:
            same = norms[i] == norms[j] or jaccard(hit.text, ordered[j].text) >= options.jaccard
            if not same and vectors is not None and options.cosine is not None:
                same = float(np.dot(vectors[i], vectors[j])) >= options.cosine
            if same:
                twin = ordered[j]
                break
        if twin is None:
            kept.append(i)
        else:
            dropped.append(
                DroppedChunk(
                    chunk_id=hit.chunk_id,
                    doc_id=hit.doc_id,
                    source=hit.source,
                    rank=hit.rank,
                    reason="duplicate",
                    duplicate_of=twin.chunk_id,
                )
            )
    return [ordered[i] for i in kept], dropped


def merge_adjacent(hits: Sequence[Hit], options: ContextOptions) -> list[ContextBlock]:
    """Blocks in rank order; with ``merge_adjacent``, consecutive chunks of a document share one block."""
    groups: list[list[Hit]] = []
    if options.merge_adjacent:
        by_doc: dict[str, list[Hit]] = {}
        for hit in hits:
            by_doc.setdefault(hit.doc_id, []).append(hit)
        for members in by_doc.values():
            members.sort(key=lambda h: h.chunk.position)
            run = [members[0]]
            for hit in members[1:]:
                if hit.chunk.position == run[-1].chunk.position + 1:
                    run.append(hit)
                else:
                    groups.append(run)
                    run = [hit]
            groups.append(run)
    else:
        groups = [[h] for h in hits]
    groups.sort(key=lambda g: min(h.rank for h in g))
    blocks = []
    for number, group in enumerate(groups, start=1):
        text = group[0].text
        for hit in group[1:]:
            text = _join(text, hit.text)
        blocks.append(
            ContextBlock(
                number=number,
                text=text,
                chunks=[h.chunk for h in group],
                rank=min(h.rank for h in group),
                score=max(h.score for h in group),
            )
        )
    return blocks


def assemble(
    hits: Sequence[Hit], options: ContextOptions | None = None, *, embedder: Embedder | None = None
) -> tuple[list[ContextBlock], list[DroppedChunk]]:
    """Dedupe, merge and number hits (steps 1-3); nothing is dropped for budget here."""
    options = options or ContextOptions()
    kept, dropped = dedupe(hits, options, embedder)
    return merge_adjacent(kept, options), dropped


def _dropped(block: ContextBlock, reason: str, tokens: int) -> list[DroppedChunk]:
    return [
        DroppedChunk(
            chunk_id=c.id,
            doc_id=c.doc_id,
            source=c.source,
            rank=block.rank,
            reason=reason,  # type: ignore[arg-type]
            tokens=tokens if i == 0 else 0,
        )
        for i, c in enumerate(block.chunks if reason == "budget" else block.chunks[:1])
    ]


def cut_to_fit(block: ContextBlock, budget: int, count: TokenCounter) -> ContextBlock | None:
    """The block cut after its last whole sentence that fits ``budget`` tokens, or ``None`` if none fits."""
    sentences = split_sentences(block.text)
    best = None
    low, high = 1, len(sentences) - 1
    while low <= high:  # longest prefix of whole sentences that fits (rendered cost grows with length)
        middle = (low + high) // 2
        trial = block.model_copy(update={"text": "".join(sentences[:middle]).rstrip(), "truncated": True})
        if count(render_block(trial)) <= budget:
            best, low = trial, middle + 1
        else:
            high = middle - 1
    return best


def pack(blocks: Sequence[ContextBlock], budget: int | None, count: TokenCounter) -> PackedContext:
    """Keep blocks in rank order under ``budget`` tokens of rendered context (see module docs)."""
    ordered = sorted(blocks, key=lambda b: b.rank)
    if budget is None:
        return PackedContext(blocks=list(ordered), tokens=count(render_context(ordered)))
    fence = count(render_context([]))
    used = fence
    kept: list[ContextBlock] = []
    dropped: list[DroppedChunk] = []
    full = False
    for block in ordered:
        cost = count(render_block(block)) + 1
        if not full and used + cost <= budget:
            kept.append(block)
            used += cost
            continue
        if not full:
            full = True
            cut = cut_to_fit(block, budget - used - 1, count)
            if cut is not None:
                kept.append(cut)
                used += count(render_block(cut)) + 1
                removed = block.text[len(cut.text) :]
                dropped.extend(_dropped(block, "truncated", count(removed)))
                continue
        dropped.extend(_dropped(block, "budget", count(block.text)))
    total = count(render_context(kept))
    while kept and total > budget:  # tokenizers are not exactly additive: trim until the whole fits
        last = kept.pop()
        dropped.extend(_dropped(last, "budget", count(last.text)))
        total = count(render_context(kept))
    return PackedContext(blocks=kept, dropped=dropped, tokens=total)


def _split_block(block: ContextBlock, budget: int, count: TokenCounter) -> tuple[list[ContextBlock], int]:
    """Parts of a block, each fitting ``budget`` on its own, cut at sentence boundaries (same number).

    Returns the parts and the tokens of sentences too long to fit anywhere (left out).
    """
    if count(render_block(block)) <= budget:
        return [block], 0
    parts: list[ContextBlock] = []
    lost = 0
    current = ""
    for sentence in split_sentences(block.text):
        trial = block.model_copy(update={"text": (current + sentence).rstrip(), "truncated": True})
        if count(render_block(trial)) <= budget:
            current += sentence
            continue
        if current:
            parts.append(block.model_copy(update={"text": current.rstrip(), "truncated": True}))
        alone = block.model_copy(update={"text": sentence.rstrip(), "truncated": True})
        if count(render_block(alone)) <= budget:
            current = sentence
        else:
            current = ""
            lost += count(sentence)
    if current.strip():
        parts.append(block.model_copy(update={"text": current.rstrip(), "truncated": True}))
    return parts, lost


def group(blocks: Sequence[ContextBlock], budget: int | None, count: TokenCounter) -> list[PackedContext]:
    """Consecutive groups of blocks in rank order, each under ``budget``, for refine and map-reduce.

    Nothing is dropped: a block too large for one group continues, cut at sentence boundaries and
    under the same number, in the next. Only a single sentence larger than the budget is left out
    (reported as ``truncated``).
    """
    ordered = sorted(blocks, key=lambda b: b.rank)
    if budget is None:
        return [pack(ordered, None, count)] if ordered else []
    room = budget - count(render_context([])) - 1
    groups: list[PackedContext] = []
    current: list[ContextBlock] = []
    dropped: list[DroppedChunk] = []
    used = 0
    for block in ordered:
        parts, lost = _split_block(block, room, count)
        if lost:
            dropped.extend(_dropped(block, "truncated", lost))
        for part in parts:
            cost = count(render_block(part)) + 1
            if current and used + cost > room:
                groups.append(PackedContext(blocks=current, dropped=dropped, tokens=count(render_context(current))))
                current, dropped, used = [], [], 0
            current.append(part)
            used += cost
    if current or dropped:
        groups.append(PackedContext(blocks=current, dropped=dropped, tokens=count(render_context(current))))
    return groups


__all__ = [
    "ContextBlock",
    "ContextOptions",
    "PackedContext",
    "TokenCounter",
    "assemble",
    "cut_to_fit",
    "dedupe",
    "escape_fence",
    "group",
    "jaccard",
    "merge_adjacent",
    "normalise_text",
    "pack",
    "render_block",
    "render_context",
    "split_sentences",
]
