"""Which engine runs a local chat model, and the numpy one: prompt, tokens and streamed text without torch.

The packaged SmolLM2 and any other local model whose architecture
:func:`~ragtune.llm.numpy_llama.unsupported` accepts (Llama, Qwen2), with or without a plain LoRA
adapter, generate through :class:`~ragtune.llm.numpy_decoder.NumpyDecoder`: no torch or transformers
import, weights memory-mapped from the model's safetensors (the de-quantized cache for GGUF files),
an adapter merged once and cached (:mod:`ragtune.llm.lora_merge`). Anything else, a GPU
(``RAGTUNE_DEVICE`` other than ``cpu``) or ``RAGTUNE_LOCAL_ENGINE=transformers`` keeps transformers;
an unsupported model says why in one log line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from ragtune.errors import RagtuneError
from ragtune.llm import loader
from ragtune.llm.chat_template import ChatTemplate
from ragtune.llm.numpy_decoder import Decoding, NumpyDecoder
from ragtune.llm.numpy_llama import unsupported

log = logging.getLogger(__name__)

ENGINE_ENV = "RAGTUNE_LOCAL_ENGINE"
"""``auto`` (default: numpy where it can run), ``numpy`` or ``transformers``."""
THREADS_ENV = "RAGTUNE_NUM_THREADS"
WEIGHTS_ENV = "RAGTUNE_LOCAL_WEIGHTS"
"""``blocks`` (default: a GGUF model's own Q4_1/Q8_0 blocks with int8 products,
:mod:`ragtune.llm.block_decoder`; answers not worse beyond the noise on SQuAD, measured), ``float32``
(the de-quantized weights: transformers' greedy output token for token) or ``int8`` (per-channel
int8 weights, for measuring their quality)."""
DEFAULT_WEIGHTS = "blocks"


def weights_choice() -> str:
    """``RAGTUNE_LOCAL_WEIGHTS``, lower-cased (:data:`DEFAULT_WEIGHTS` when unset)."""
    return os.environ.get(WEIGHTS_ENV, "").strip().lower() or DEFAULT_WEIGHTS


_lock = threading.Lock()
_said: set[str] = set()


class NumpyChat:
    """A model folder's decoder, tokenizer and chat template: conversation in, text pieces out."""

    def __init__(self, folder: Path, overrides: tuple[Path, ...] = (), graphs: Path | None = None) -> None:
        """``graphs``: the packaged GGUF's block graphs (:func:`~ragtune.llm.block_decoder.block_graphs`), if used."""
        wanted = os.environ.get(THREADS_ENV)
        # one thread by default: a matrix-vector product per token is memory-bound, and
        # OpenBLAS threads spinning on a shared, busy machine made decoding 3-6x slower (measured)
        self.threads = max(1, int(wanted)) if wanted else 1
        if graphs is not None:
            from ragtune.llm.block_decoder import BlockDecoder

            self.decoder: NumpyDecoder = BlockDecoder(folder, graphs, self.threads)
        else:
            self.decoder = NumpyDecoder(folder, overrides)
            if weights_choice() == "int8":
                self.decoder.quantize_int8()
        self.template = ChatTemplate(folder)

    def prompt_ids(self, conversation: list[dict[str, str]]) -> list[int]:
        return self.decoder.encode(self.template.render(conversation, add_generation_prompt=True))

    @contextlib.contextmanager
    def _blas_threads(self) -> Iterator[None]:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads, user_api="blas"):
            yield

    def pieces(self, prompt: list[int], decoding: Decoding, made: list[int]) -> Iterator[str]:
        """The answer's text as it grows, one piece per token (held while a character is incomplete).

        ``made`` receives every generated id (the end-of-sequence one included), so the caller can
        count them whenever it stops reading. The concatenated pieces are the decoded answer
        without special tokens, as transformers' streamer gives it.
        """
        text = ""
        with self._blas_threads():
            for token in self.decoder.generate(prompt, decoding):
                made.append(token)
                now = self.decoder.decode(made)
                if now.endswith("\ufffd") or not now.startswith(text):
                    continue  # half of a multi-byte character, or a merge that rewrote the tail
                if len(now) > len(text):
                    yield now[len(text) :]
                    text = now
        final = self.decoder.decode(made)
        if len(final) > len(text) and final.startswith(text):
            yield final[len(text) :]


def model_folder(spec: str) -> tuple[Path | None, str]:
    """The folder holding ``spec``'s config, safetensors weights and tokenizer.json, or ``None`` and why not."""
    source = loader.resolve_source(spec)
    if source.is_gguf:
        if not loader.is_warm(spec):
            loader.warm(spec)  # the one-time GGUF conversion needs transformers
        folder = loader.cache_dir(spec)
    elif source.kind == "folder":
        folder = Path(source.location)
    else:
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(source.location, local_files_only=True))
        except Exception as exc:  # not downloaded: transformers gives the full message
            return None, f"it is not in the local Hugging Face cache ({type(exc).__name__})"
    for needed in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / needed).is_file():
            return None, f"its folder has no {needed} (sharded or non-safetensors weights)"
    try:
        why = unsupported(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        return None, f"its config.json cannot be read ({exc})"
    return (None, why) if why else (folder, "")


@lru_cache(maxsize=4)
def _chat(spec: str, adapter: str | None, _stamp: float) -> NumpyChat:
    folder, why = model_folder(spec)
    if folder is None:
        raise ValueError(why)
    overrides: tuple[Path, ...] = ()
    if weights_choice() == "blocks" and loader.resolve_source(spec).is_gguf:
        from ragtune.llm.block_decoder import block_graphs

        try:  # a LoRA adapter runs beside the blocks as peft runs it: a low-rank branch per adapted matrix
            return NumpyChat(folder, graphs=block_graphs(spec, adapter, _stamp))
        except (ValueError, ImportError) as exc:  # not Q4_1/Q8_0 Llama blocks, or no onnxruntime: float32 does
            what = f"{spec} with adapter {adapter}" if adapter else spec
            _say_once(f"blocks|{what}", "Local model %s runs on float32 weights, not its blocks: %s.", what, exc)
    if adapter is not None:
        from ragtune.llm.lora_merge import merged_weights_file

        overrides = (merged_weights_file(folder, Path(adapter), loader.cache_root() / "merged", _stamp),)
    return NumpyChat(folder, overrides)


def _say_once(key: str, message: str, *args: object) -> None:
    if key not in _said:
        _said.add(key)
        log.warning(message, *args)


def numpy_chat(spec: str, adapter_path: str | None = None) -> NumpyChat | None:
    """The numpy engine for this model and adapter, or ``None`` to use transformers (logged once, with why)."""
    choice = os.environ.get(ENGINE_ENV, "auto").strip().lower() or "auto"
    if choice == "transformers":
        return None
    if os.environ.get("RAGTUNE_DEVICE", "cpu") != "cpu" and choice != "numpy":
        return None
    spec = loader.normalize_spec(spec)
    adapter = None
    stamp = 0.0
    if adapter_path is not None:
        folder = Path(adapter_path).expanduser().resolve()
        stamp = loader._adapter_stamp(folder)
        adapter = str(folder)
    with _lock:
        try:
            return _chat(spec, adapter, stamp)
        except (ValueError, KeyError, OSError) as exc:
            what = f"{spec} with adapter {adapter}" if adapter else spec
            _say_once(
                f"{spec}|{adapter}",
                "Local model %s runs on transformers, not the numpy decoder: %s.",
                what,
                exc,
            )
            return None


def warm_in_background(spec: str, adapter_path: str | None = None) -> threading.Thread:
    """Start loading ``spec``'s engine (tokenizer, weights map, ONNX Runtime session) on a daemon thread.

    A command that knows it will generate calls this before importing its chain: the session is
    built in C++ without the GIL, so about a second of loading overlaps the imports. The later
    :func:`numpy_chat` call waits on the same lock and gets the same cached engine; a failure here
    is only logged at debug level, and the real call reports it.
    """

    def load() -> None:
        try:
            numpy_chat(spec, adapter_path)
        except Exception as exc:  # the foreground call raises it with context
            log.debug("Background load of %s failed: %s", spec, exc)

    thread = threading.Thread(target=load, name="ragtune-warm-engine", daemon=True)
    thread.start()
    return thread


@lru_cache(maxsize=4)
def _fast_tokenizer(folder: str) -> tuple[Any, ChatTemplate | None]:
    from tokenizers import Tokenizer

    try:
        template: ChatTemplate | None = ChatTemplate(folder)
    except ValueError:
        template = None
    return Tokenizer.from_file(str(Path(folder) / "tokenizer.json")), template


def fast_tokenizer(spec: str | None) -> tuple[Any, ChatTemplate | None] | None:
    """``spec``'s ``tokenizers`` tokenizer and chat template, read without transformers; ``None`` when not on disk.

    Counting tokens for a local model then costs no transformers import. Only a built cache or a
    model folder qualifies: nothing is converted or downloaded here.
    """
    try:
        source = loader.resolve_source(spec)
        if source.is_gguf and loader.is_warm(spec):
            folder = loader.cache_dir(spec)
        elif source.kind == "folder":
            folder = Path(source.location)
        else:
            return None
    except RagtuneError:
        return None
    if not (folder / "tokenizer.json").is_file():
        return None
    return _fast_tokenizer(str(folder))


def clear() -> None:
    """Forget the loaded numpy models (the merged-adapter cache on disk stays)."""
    with _lock:
        _chat.cache_clear()
        _fast_tokenizer.cache_clear()
        _said.clear()


__all__ = [
    "warm_in_background",
    "ENGINE_ENV",
    "THREADS_ENV",
    "WEIGHTS_ENV",
    "NumpyChat",
    "clear",
    "fast_tokenizer",
    "model_folder",
    "numpy_chat",
]
