"""What every synthesis mode shares: model calls that stream and meter, budgets, the result.

A mode is a generator: it yields the tokens of its final model call as they arrive and returns
a :class:`SynthesisResult`. ``invoke`` and ``stream`` of the chain drive the same generator, so
the streamed text and the final answer come from one run.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from ragtune.chains.answer import DroppedChunk, Usage
from ragtune.chains.context import ContextBlock, ContextOptions
from ragtune.chains.models import ChainModel
from ragtune.chains.prompt import Prompts
from ragtune.errors import ModelError, RagtuneError

if TYPE_CHECKING:
    from ragtune.llm.pricing import PriceTable

Tokens = Generator[str, None, Any]


class SynthesisResult(BaseModel):
    """The final text and which blocks the model saw on the way."""

    model_config = ConfigDict(extra="forbid")

    text: str
    shown: list[ContextBlock] = Field(default_factory=list)
    """Every block shown to the model at any step (a number may appear in several parts)."""
    dropped: list[DroppedChunk] = Field(default_factory=list)
    invalid_citations: list[int] = Field(default_factory=list)
    """Invalid numbers removed from intermediate outputs (map notes)."""


class Meter:
    """Adds up tokens, latency per step and cost over the model calls of one answer."""

    def __init__(self, prices: PriceTable | None = None, config: RunnableConfig | None = None) -> None:
        self.prices = prices
        self.config = config
        """Runnable config for the model calls (callbacks, tags), so they trace under the chain's run."""
        self.latency_ms: dict[str, float] = {}
        self.models: dict[str, dict[str, int]] = {}
        self.estimated = False
        self._started = time.perf_counter()

    def step(self, name: str, elapsed_ms: float) -> None:
        self.latency_ms[name] = round(self.latency_ms.get(name, 0.0) + elapsed_ms, 3)

    def record(self, model: ChainModel, message: BaseMessage | None, prompt: Sequence[BaseMessage], text: str) -> None:
        usage = getattr(message, "usage_metadata", None) or {}
        inp, out = usage.get("input_tokens"), usage.get("output_tokens")
        if inp is None or out is None or (inp == 0 and out == 0 and text):
            self.estimated = True
            inp = sum(model.count_tokens(_text(m.content)) for m in prompt)
            out = model.count_tokens(text)
        totals = self.models.setdefault(model.model_id, {"input_tokens": 0, "output_tokens": 0})
        totals["input_tokens"] += int(inp)
        totals["output_tokens"] += int(out)

    def usage(self) -> Usage:
        latency = dict(self.latency_ms)
        latency["total"] = round((time.perf_counter() - self._started) * 1000, 3)
        cost: float | None = 0.0
        if self.prices is not None:
            cost = sum(self.prices.cost(m, t["input_tokens"], t["output_tokens"]) for m, t in self.models.items())
        return Usage(
            input_tokens=sum(t["input_tokens"] for t in self.models.values()),
            output_tokens=sum(t["output_tokens"] for t in self.models.values()),
            latency_ms=latency,
            cost_usd=cost,
            models={m: dict(t) for m, t in self.models.items()},
            estimated_tokens=self.estimated,
        )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", "")) if isinstance(part, dict) else ""
            for part in content
        )
    return str(content)


def call_model(
    model: ChainModel, messages: list[BaseMessage], meter: Meter, step: str, *, emit: bool = True
) -> Generator[str, None, str]:
    """Stream one model call, yielding its tokens when ``emit``; returns the full text."""
    started = time.perf_counter()
    message: Any = None
    pieces: list[str] = []
    try:
        for chunk in model.chat.stream(messages, config=meter.config):
            piece = _text(chunk.content)
            if piece:
                pieces.append(piece)
                if emit:
                    yield piece
            message = chunk if message is None else message + chunk
    except RagtuneError:
        raise
    except Exception as exc:  # the model's own errors are not typed
        msg = f"Chat model {model.model_id!r} ({model.name}) failed at step {step!r}: {exc}"
        raise ModelError(msg) from exc
    text = "".join(pieces)
    meter.step(step, (time.perf_counter() - started) * 1000)
    meter.record(model, message, messages, text)
    return text


def context_budget(
    model: ChainModel, template: ChatPromptTemplate, options: ContextOptions, *, reserve: int = 0, **variables: str
) -> int:
    """Tokens left for the context: the window minus the prompt around it, the reply and ``reserve``."""
    filled = {name: "" for name in template.input_variables}
    filled.update(variables)
    overhead = sum(model.count_tokens(_text(m.content)) + 4 for m in template.format_messages(**filled))
    room = model.window - overhead - model.max_output_tokens - reserve - 16
    if options.max_tokens is not None:
        room = min(room, options.max_tokens)
    if room < 32:
        msg = (
            f"No room for context in {model.model_id!r}: window {model.window}, prompt {overhead}, "
            f"reply {model.max_output_tokens} tokens. Lower max_new_tokens or shorten the prompt."
        )
        raise ModelError(msg)
    return room


class Synthesizer(ABC):
    """Turns numbered context blocks and a question into answer text with ``[n]`` citations.

    Subclasses implement :meth:`_run`, a generator yielding the tokens of the final call.
    """

    mode: ClassVar[str]

    def __init__(self, prompts: Prompts | None = None, options: ContextOptions | None = None) -> None:
        self.prompts = prompts or Prompts()
        self.options = options or ContextOptions()

    def run(
        self, question: str, blocks: Sequence[ContextBlock], model: ChainModel, meter: Meter
    ) -> Generator[str, None, SynthesisResult]:
        """Yield answer tokens, then return the result (``result = yield from synth.run(...)``)."""
        return (yield from self._run(question, sorted(blocks, key=lambda b: b.rank), model, meter))

    @abstractmethod
    def _run(
        self, question: str, blocks: list[ContextBlock], model: ChainModel, meter: Meter
    ) -> Generator[str, None, SynthesisResult]: ...


__all__ = ["Meter", "SynthesisResult", "Synthesizer", "call_model", "context_budget"]
