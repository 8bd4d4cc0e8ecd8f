"""The local chat model: any causal LM transformers can run, by default the packaged SmolLM2-135M-Instruct.

Loading and caching live in :mod:`ragtune.llm.loader` (re-exported here for compatibility);
this module turns a loaded model into a LangChain chat model that streams, counts tokens,
honours stop sequences and does not degenerate: a mild repetition penalty steers greedy
decoding away from loops, and a loop that happens anyway (the tail repeating one phrase,
see :mod:`ragtune.llm.repetition`) stops generation and is trimmed to its first copy.

Example:
    >>> from ragtune.llm.local import LocalChatModel
    >>> LocalChatModel(max_new_tokens=32).invoke("What is the capital of France?").content
    'The capital of France is Paris.'
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    UsageMetadata,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables.config import run_in_executor
from pydantic import Field, field_validator

from ragtune.errors import ModelError
from ragtune.llm.loader import (
    CACHE_MANIFEST,
    GGUF_FILE,
    INSTALL_COMMAND,
    cache_dir,
    clear_loaded_models,
    gguf_path,
    load_local_model,
    load_local_tokenizer,
    normalize_spec,
)
from ragtune.llm.numpy_chat import NumpyChat, numpy_chat
from ragtune.llm.numpy_decoder import Decoding
from ragtune.llm.registry import LOCAL_MODEL_ID
from ragtune.llm.repetition import find_loop, find_refrain, refrain_suspect, suspect_start

log = logging.getLogger(__name__)

DEFAULT_REPETITION_PENALTY = 1.05
"""Mild, and applied to the answer's own tokens only (see :class:`_AnswerRepetitionPenalty`), so
answers copied from the context keep their accuracy (SQuAD "contains" 0.60 as without it; 1.1 gave
0.50); measured in ``benchmarks/local_repetition.py``."""


class _AnswerRepetitionPenalty:
    """transformers' repetition penalty restricted to the generated tokens.

    The stock ``repetition_penalty`` also penalizes every prompt token, which stops a small model
    from copying the answer out of the retrieved context (measured: SQuAD "contains" 0.6 -> 0.3).
    """

    def __init__(self, penalty: float, prompt_length: int) -> None:
        self.penalty = penalty
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        generated = input_ids[:, self.prompt_length :]
        if generated.shape[1] == 0:
            return scores
        picked = torch.gather(scores, 1, generated)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter(1, generated, picked)


@dataclass(frozen=True)
class _Run:
    """One generation under way, whichever engine runs it."""

    n_in: int
    """Prompt tokens."""
    pieces: Iterator[str]
    """The raw answer text as it is made."""
    finish: Callable[[], int]
    """Stops the engine (early, when the reader stopped) and returns the tokens it generated."""


@dataclass(frozen=True)
class GenerationEnd:
    """The last item of :meth:`LocalChatModel._pieces`: token usage and why generation ended."""

    input_tokens: int
    output_tokens: int
    finish_reason: Literal["stop", "length", "loop"]

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


# -- LangChain chat model -------------------------------------------------------------------------


def _message_role_and_text(message: BaseMessage) -> tuple[str, str]:
    text = str(message.text)
    if isinstance(message, SystemMessage):
        return "system", text
    if isinstance(message, AIMessage):
        if message.tool_calls:
            calls = json.dumps([{"name": c["name"], "arguments": c["args"]} for c in message.tool_calls])
            text = f"{text}\n{calls}".strip()
        return "assistant", text
    if isinstance(message, ToolMessage):
        return "user", f"Tool result ({message.name or message.tool_call_id}):\n{text}"
    if isinstance(message, HumanMessage):
        return "user", text
    role = getattr(message, "role", "user")
    return (role if role in ("system", "user", "assistant") else "user"), text


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters of ``text`` could be the start of a stop sequence."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class LocalChatModel(BaseChatModel):
    """LangChain chat model over a local causal LM (default SmolLM2-135M-Instruct), optionally with a LoRA adapter.

    Runs without network access. The packaged model and other Llama-family models generate in
    numpy on the CPU (no torch import, see :mod:`ragtune.llm.numpy_chat`); other models, or
    ``RAGTUNE_DEVICE=cuda``, run on transformers. Greedy decoding at
    ``temperature=0`` makes answers reproducible, and ``stream`` yields exactly the text
    ``invoke`` returns. Usage (input and output tokens) is reported on the message's
    ``usage_metadata``; ``finish_reason`` is ``stop``, ``length`` or ``loop`` (a repeated
    phrase was cut).

    Example:
        >>> model = LocalChatModel(max_new_tokens=64)
        >>> model.invoke([("system", "Answer in one word."), ("user", "Capital of France?")]).content
        'Paris'
    """

    adapter_path: str | None = None
    """LoRA adapter folder loaded on top of the base model (see :func:`load_local_model`)."""
    max_new_tokens: int = Field(default=256, ge=1)
    """Most tokens generated per call."""
    temperature: float = Field(default=0.0, ge=0.0)
    """0 = greedy decoding (deterministic); above 0 samples."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling when ``temperature > 0``."""
    seed: int | None = None
    """Seed for sampling when ``temperature > 0``."""
    repetition_penalty: float = Field(default=DEFAULT_REPETITION_PENALTY, ge=1.0)
    """Penalizes tokens the answer already used (1.0 = off). Unlike transformers' own penalty it
    ignores the prompt, so copying a name or number from the context is not penalized."""
    no_repeat_ngram_size: int = Field(default=0, ge=0)
    """Forbid repeating any n-gram of this many tokens (0 = off; it also blocks quoting the context twice)."""
    stop_loops: bool = True
    """End generation when the answer starts repeating one phrase, and keep its first copy."""
    model_name: str = LOCAL_MODEL_ID
    """The packaged ``smollm2-135m-instruct`` (default), a model folder, a ``.gguf`` file or a Hugging Face id."""

    @field_validator("model_name")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return normalize_spec(value)

    @property
    def _llm_type(self) -> str:
        return "ragtune-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "adapter_path": self.adapter_path,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "ragtune-local"
        params["ls_model_name"] = self.model_name
        return params

    def _transformers_decoding(self, temperature: float, kwargs: dict[str, Any]) -> dict[str, Any]:
        decoding: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": self.top_p}
            if temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        ngram = int(kwargs.get("no_repeat_ngram_size", self.no_repeat_ngram_size))
        if ngram > 0:
            decoding["no_repeat_ngram_size"] = ngram
        return decoding

    def _pieces(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> Iterator[str | GenerationEnd]:
        """Yield text pieces, then one :class:`GenerationEnd` (the one implementation of invoke and stream).

        The engine (numpy, or transformers for what numpy does not implement, see
        :mod:`ragtune.llm.numpy_chat`) produces the raw text; stop sequences and loops are cut here.
        """
        conversation = [dict(zip(("role", "content"), _message_role_and_text(m), strict=True)) for m in messages]
        max_new = int(kwargs.get("max_new_tokens", self.max_new_tokens))
        stop_loops = bool(kwargs.get("stop_loops", self.stop_loops))
        stops = [s for s in (stop or []) if s]
        engine = numpy_chat(self.model_name, self.adapter_path)
        run = self._numpy_run(engine, conversation, kwargs) if engine else self._transformers_run(conversation, kwargs)
        text, emitted = "", 0
        reason: Literal["stop", "length", "loop"] | None = None
        try:
            for piece in run.pieces:
                text += piece
                hits = [i for i in (text.find(s, max(0, emitted - len(s))) for s in stops) if i >= 0]
                if hits:
                    text, reason = text[: max(min(hits), emitted)], "stop"
                    break
                loop = find_loop(text) if stop_loops else None
                if loop is not None:
                    log.info("Local model %s repeated a %d-character phrase; cut it", self.model_name, loop.unit)
                    text, reason = text[: max(loop.keep, emitted)], "loop"
                    break
                refrain = find_refrain(text) if stop_loops else None
                if refrain is not None:
                    log.info("Local model %s gave one line a third time; cut it", self.model_name)
                    text, reason = text[: max(refrain, emitted)], "loop"
                    break
                safe = len(text) - _held_back(text, stops)
                suspects = (suspect_start(text), refrain_suspect(text)) if stop_loops else ()
                for suspect in suspects:
                    if suspect is not None:
                        safe = min(safe, suspect)
                if safe > emitted:
                    yield text[emitted:safe]
                    emitted = safe
            if len(text) > emitted:
                yield text[emitted:]
        finally:
            n_out = run.finish()
        if reason is None:
            reason = "stop" if n_out < max_new else "length"
        yield GenerationEnd(input_tokens=run.n_in, output_tokens=n_out, finish_reason=reason)

    def _decoding(self, kwargs: dict[str, Any]) -> Decoding:
        temperature = float(kwargs.get("temperature", self.temperature))
        return Decoding(
            max_new_tokens=int(kwargs.get("max_new_tokens", self.max_new_tokens)),
            temperature=temperature,
            top_p=self.top_p,
            repetition_penalty=float(kwargs.get("repetition_penalty", self.repetition_penalty)),
            no_repeat_ngram_size=int(kwargs.get("no_repeat_ngram_size", self.no_repeat_ngram_size)),
            seed=self.seed if temperature > 0 else None,
        )

    def _numpy_run(self, engine: NumpyChat, conversation: list[dict[str, str]], kwargs: dict[str, Any]) -> _Run:
        prompt = engine.prompt_ids(conversation)
        made: list[int] = []
        pieces = engine.pieces(prompt, self._decoding(kwargs), made)
        name = self.model_name

        def checked() -> Generator[str, None, None]:
            try:
                yield from pieces
            except (ValueError, FloatingPointError, MemoryError) as exc:
                raise ModelError(f"Local model {name} failed to generate: {exc}") from exc

        stream = checked()

        def finish() -> int:
            stream.close()  # stops the decoder when the reader stopped early
            return len(made)

        return _Run(n_in=len(prompt), pieces=stream, finish=finish)

    def _transformers_run(self, conversation: list[dict[str, str]], kwargs: dict[str, Any]) -> _Run:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        model, tokenizer = load_local_model(self.adapter_path, model=self.model_name)
        prompt = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
        n_in = int(inputs["input_ids"].shape[1])
        max_new = int(kwargs.get("max_new_tokens", self.max_new_tokens))
        temperature = float(kwargs.get("temperature", self.temperature))
        cancel = threading.Event()

        class _Cancelled(StoppingCriteria):
            """Ends generation once the reader saw a stop sequence or a loop, or went away."""

            def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device)

        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        decoding = self._transformers_decoding(temperature, kwargs)
        penalty = float(kwargs.get("repetition_penalty", self.repetition_penalty))
        processors = LogitsProcessorList([_AnswerRepetitionPenalty(penalty, n_in)] if penalty != 1.0 else [])
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                if self.seed is not None and temperature > 0:
                    torch.manual_seed(self.seed)
                with torch.inference_mode():
                    output = cast(Any, model).generate(
                        **inputs,
                        max_new_tokens=max_new,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                        logits_processor=processors,
                        pad_token_id=tokenizer.pad_token_id,
                        **decoding,
                    )
                result["n_out"] = int(output.shape[1]) - n_in
            except BaseException as exc:
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="ragtune-local-generate")
        thread.start()
        name = self.model_name

        def finish() -> int:
            cancel.set()
            thread.join()
            if "error" in result:
                msg = f"Local model {name} failed to generate: {result['error']}"
                raise ModelError(msg) from result["error"]
            return int(result.get("n_out", 0))

        return _Run(n_in=n_in, pieces=iter(streamer), finish=finish)

    def _response_metadata(self, final: GenerationEnd) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_provider": "local", "finish_reason": final.finish_reason}

    @staticmethod
    def _usage(final: GenerationEnd) -> UsageMetadata:
        return UsageMetadata(
            input_tokens=final.input_tokens, output_tokens=final.output_tokens, total_tokens=final.total_tokens
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        parts: list[str] = []
        final = GenerationEnd(0, 0, "stop")
        for item in self._pieces(messages, stop, **kwargs):
            if isinstance(item, GenerationEnd):
                final = item
            else:
                parts.append(item)
        message = AIMessage(
            content="".join(parts), usage_metadata=self._usage(final), response_metadata=self._response_metadata(final)
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Generator[ChatGenerationChunk, None, None]:
        for item in self._pieces(messages, stop, **kwargs):
            if isinstance(item, GenerationEnd):
                last = AIMessageChunk(
                    content="",
                    usage_metadata=self._usage(item),
                    response_metadata=self._response_metadata(item),
                    chunk_position="last",
                )
                yield ChatGenerationChunk(message=last)
                return
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
            if run_manager is not None:
                run_manager.on_llm_new_token(item, chunk=chunk)
            yield chunk

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await run_in_executor(None, self._generate, messages, stop, None, **kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        iterator = self._stream(messages, stop, None, **kwargs)
        try:
            while True:
                chunk: ChatGenerationChunk | None = await run_in_executor(None, next, iterator, None)
                if chunk is None:
                    break
                if run_manager is not None and chunk.text:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        finally:  # stop generation when the consumer stops early
            await run_in_executor(None, iterator.close)


__all__ = [
    "CACHE_MANIFEST",
    "GGUF_FILE",
    "INSTALL_COMMAND",
    "LOCAL_MODEL_ID",
    "GenerationEnd",
    "LocalChatModel",
    "cache_dir",
    "clear_loaded_models",
    "gguf_path",
    "load_local_model",
    "load_local_tokenizer",
]
