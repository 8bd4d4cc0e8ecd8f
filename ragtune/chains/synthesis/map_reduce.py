"""``map_reduce``: notes with citations from each group of blocks, then one answer from the notes.

Map steps see blocks under their global numbers and cite them; numbers outside the group a
map step saw are removed from its notes (and reported). The reduce step keeps the notes'
numbers, so the final answer cites the same blocks. Only the reduce step is streamed. Notes
larger than the budget are cut from the end (the notes of the lowest-ranked groups go first).
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from ragtune.chains.citations import clean_citations
from ragtune.chains.context import ContextBlock, group, render_context
from ragtune.chains.models import ChainModel
from ragtune.chains.synthesis.base import Meter, SynthesisResult, Synthesizer, call_model, context_budget

NO_NOTES = "NONE"


class MapReduceSynthesizer(Synthesizer):
    """For context larger than one prompt: one map call per group, one reduce call."""

    mode = "map_reduce"

    def _run(
        self, question: str, blocks: list[ContextBlock], model: ChainModel, meter: Meter
    ) -> Generator[str, None, SynthesisResult]:
        budget = context_budget(model, self.prompts.map, self.options, question=question)
        groups = group(blocks, budget, model.count_tokens)
        dropped = [d for g in groups for d in g.dropped]
        if len(groups) <= 1:  # everything fits one prompt: map-reduce would only add a call
            only = groups[0].blocks if groups else []
            messages = self.prompts.answer.format_messages(context=render_context(only), question=question)
            text = yield from call_model(model, messages, meter, "synthesize")
            return SynthesisResult(text=text, shown=only, dropped=dropped)
        notes: list[str] = []
        shown: list[ContextBlock] = []
        invalid: dict[int, None] = {}
        for i, part in enumerate(groups):
            messages = self.prompts.map.format_messages(context=render_context(part.blocks), question=question)
            raw = yield from call_model(model, messages, meter, f"map[{i}]", emit=False)
            cleaned, bad = clean_citations(raw.strip(), {b.number for b in part.blocks})
            invalid.update(dict.fromkeys(bad))
            if cleaned and cleaned.strip().upper().rstrip(".") != NO_NOTES:
                notes.append(cleaned)
            shown.extend(part.blocks)
        reduce_budget = context_budget(model, self.prompts.reduce, self.options, question=question)
        joined = _fit_notes(notes, reduce_budget, model.count_tokens)
        messages = self.prompts.reduce.format_messages(notes=joined or NO_NOTES, question=question)
        text = yield from call_model(model, messages, meter, "reduce")
        return SynthesisResult(text=text, shown=shown, dropped=dropped, invalid_citations=list(invalid))


def _fit_notes(notes: list[str], budget: int, count: Callable[[str], int]) -> str:
    kept = list(notes)
    while kept and count("\n\n".join(kept)) > budget:
        kept.pop()
    return "\n\n".join(kept)


__all__ = ["MapReduceSynthesizer"]
