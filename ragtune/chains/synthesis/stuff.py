"""``stuff``: every block that fits the budget in one prompt, one model call."""

from __future__ import annotations

from collections.abc import Generator

from ragtune.chains.context import ContextBlock, pack, render_context
from ragtune.chains.models import ChainModel
from ragtune.chains.synthesis.base import Meter, SynthesisResult, Synthesizer, call_model, context_budget


class StuffSynthesizer(Synthesizer):
    """Packs the best-ranked blocks under the budget (lowest-ranked dropped first) and answers once.

    Example:
        >>> result = yield from StuffSynthesizer().run(question, blocks, model, meter)
    """

    mode = "stuff"

    def _run(
        self, question: str, blocks: list[ContextBlock], model: ChainModel, meter: Meter
    ) -> Generator[str, None, SynthesisResult]:
        budget = context_budget(model, self.prompts.answer, self.options, question=question)
        packed = pack(blocks, budget, model.count_tokens)
        messages = self.prompts.answer.format_messages(context=render_context(packed.blocks), question=question)
        text = yield from call_model(model, messages, meter, "synthesize")
        return SynthesisResult(text=text, shown=packed.blocks, dropped=packed.dropped)


__all__ = ["StuffSynthesizer"]
