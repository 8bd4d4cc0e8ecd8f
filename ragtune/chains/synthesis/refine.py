"""``refine``: answer from the first group of blocks, then improve the answer group by group.

Blocks keep their numbers in every step, so a citation written at step 1 still points at the
same block at step 3. Only the last step's tokens are streamed.
"""

from __future__ import annotations

from collections.abc import Generator

from ragtune.chains.context import ContextBlock, group, render_context
from ragtune.chains.models import ChainModel
from ragtune.chains.synthesis.base import Meter, SynthesisResult, Synthesizer, call_model, context_budget


class RefineSynthesizer(Synthesizer):
    """For context larger than one prompt: one call per group of blocks that fits the budget."""

    mode = "refine"

    def _run(
        self, question: str, blocks: list[ContextBlock], model: ChainModel, meter: Meter
    ) -> Generator[str, None, SynthesisResult]:
        budget = context_budget(
            model, self.prompts.refine, self.options, reserve=model.max_output_tokens, question=question
        )
        groups = group(blocks, budget, model.count_tokens)
        shown: list[ContextBlock] = []
        dropped = [d for g in groups for d in g.dropped]
        answer = ""
        for i, part in enumerate(groups):
            last = i == len(groups) - 1
            context = render_context(part.blocks)
            if i == 0:
                messages = self.prompts.answer.format_messages(context=context, question=question)
            else:
                messages = self.prompts.refine.format_messages(
                    context=context, question=question, existing_answer=answer
                )
            answer = yield from call_model(model, messages, meter, f"refine[{i}]", emit=last)
            shown.extend(part.blocks)
        if not groups:
            messages = self.prompts.answer.format_messages(context=render_context([]), question=question)
            answer = yield from call_model(model, messages, meter, "refine[0]")
        return SynthesisResult(text=answer, shown=shown, dropped=dropped)


__all__ = ["RefineSynthesizer"]
