"""``extract``: the answer quotes the best passage sentences for the question; no model is called."""

from __future__ import annotations

import time
from collections.abc import Generator

from ragtune.chains.answer import NOT_FOUND
from ragtune.chains.context import ContextBlock, ContextOptions, pack
from ragtune.chains.grounding.extract import ExtractOptions, extractive_text, pick_sentences
from ragtune.chains.grounding.likelihood import QuestionLikelihood
from ragtune.chains.grounding.verifier import EmbeddingSimilarity
from ragtune.chains.models import ChainModel, approximate_count
from ragtune.chains.prompt import Prompts
from ragtune.chains.synthesis.base import Meter, SynthesisResult, Synthesizer


class ExtractSynthesizer(Synthesizer):
    """Quotes 1-2 sentences of the blocks that fit the context budget, each with its ``[n]``.

    Deterministic and fast: one embedding batch (with an embedder) and no generator call; with a
    ``likelihood`` scorer, a small language model settles near ties between passages (one forward
    pass per competing passage). Sentences that give the model orders are never quoted.

    Example:
        >>> chain = RagChain(base=model, retriever=search, config=ChainConfig(mode="extract"), embedder=embedder)
    """

    mode = "extract"

    def __init__(
        self,
        prompts: Prompts | None = None,
        options: ContextOptions | None = None,
        *,
        similarity: EmbeddingSimilarity | None = None,
        extract: ExtractOptions | None = None,
        likelihood: QuestionLikelihood | None = None,
    ) -> None:
        super().__init__(prompts, options)
        self.similarity = similarity
        self.extract = extract or ExtractOptions()
        self.likelihood = likelihood

    def _run(
        self, question: str, blocks: list[ContextBlock], model: ChainModel, meter: Meter
    ) -> Generator[str, None, SynthesisResult]:
        started = time.perf_counter()
        # no prompt is sent: the budget only bounds the text scanned, so an approximate count does
        # (and the local model's tokenizer, with transformers and torch, is never loaded)
        packed = pack(blocks, self.options.max_tokens, approximate_count)
        picks = pick_sentences(question, packed.blocks, self.similarity, self.extract, self.likelihood)
        text = extractive_text(picks) or NOT_FOUND
        meter.step("extract", (time.perf_counter() - started) * 1000)
        yield text
        return SynthesisResult(text=text, shown=packed.blocks, dropped=packed.dropped)


__all__ = ["ExtractSynthesizer"]
