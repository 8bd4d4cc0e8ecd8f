"""Token counting with each model's own tokenizer, and context limits.

OpenAI models are counted with ``bpe-openai`` (the tiktoken encodings, bundled,
so nothing is downloaded): ``o200k_base`` for gpt-4o, gpt-4.1, the o-series and
gpt-5, ``cl100k_base`` otherwise. The local model is counted with its own
Hugging Face tokenizer.

Example:
    >>> count = token_counter("gpt-4o-mini")
    >>> count("Hello, world!")
    4
    >>> context_window("ft:gpt-4o-mini-2024-07-18:acme::abc")
    128000
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from ragtune.errors import ConfigError
from ragtune.llm.registry import LOCAL_MODEL_ID

log = logging.getLogger(__name__)

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "o1", "o3", "o4", "gpt-5", "chatgpt-4o")
_DATED_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")
DEFAULT_CONTEXT_WINDOW = 4096

# Context windows (input + output tokens) from OpenAI's model pages and the SmolLM2 config
# (max_position_embeddings = 8192). Looked up exactly, then without a date suffix, then by base for ft: ids.
CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4o-mini": 128_000,
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "gpt-5": 400_000,
    "gpt-5-mini": 400_000,
    "gpt-5-nano": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
    "text-embedding-3-small": 8_191,
    "text-embedding-3-large": 8_191,
    "text-embedding-ada-002": 8_191,
    LOCAL_MODEL_ID: 8_192,
}

# Longest training example OpenAI accepts per fine-tunable model (fine-tuning guide).
TRAINING_TOKEN_LIMITS: dict[str, int] = {
    "gpt-4o-mini": 65_536,
    "gpt-4o": 65_536,
    "gpt-4.1": 65_536,
    "gpt-4.1-mini": 65_536,
    "gpt-4.1-nano": 65_536,
    "gpt-3.5-turbo": 16_385,
    LOCAL_MODEL_ID: 8_192,
}


def _canonical(model_id: str) -> str:
    """Strip provider and ``ft:`` wrappers: ``ft:gpt-4o-mini-2024-07-18:o::x`` -> ``gpt-4o-mini-2024-07-18``."""
    model_id = model_id.removeprefix("openai:").removeprefix("local:")
    if model_id.startswith("ft:"):
        model_id = model_id[3:].split(":", 1)[0]
    return model_id


def _lookup(table: Mapping[str, int], model_id: str) -> int | None:
    name = _canonical(model_id)
    if name in table:
        return table[name]
    return table.get(_DATED_SUFFIX.sub("", name))


def encoding_name(model_id: str) -> str:
    """``o200k_base`` or ``cl100k_base`` for an OpenAI model id (``ft:`` ids use their base)."""
    name = _canonical(model_id)
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    import bpe_openai

    return bpe_openai.get_encoding(name)


def token_counter(model_id: str, provider: str = "openai") -> Callable[[str], int]:
    """A function counting the tokens of a text for ``model_id``.

    Special-token markers in the text (``<|endoftext|>``) count as ordinary text, as they would
    when sent to the API. For ``provider="local"`` the local model's tokenizer is loaded once
    (from the model cache when built, otherwise from the GGUF file, a few seconds).

    Raises:
        ConfigError: unknown provider.
    """
    if provider == "openai":
        encoding = _encoding(encoding_name(model_id))

        def count_openai(text: str) -> int:
            return len(encoding.encode_ordinary(text))

        return count_openai
    if provider == "local":
        from ragtune.llm.loader import load_local_tokenizer
        from ragtune.llm.numpy_chat import fast_tokenizer

        def count_local(text: str) -> int:
            # loaded on the first count (cached per process): a chain that never prompts the model,
            # such as extractive answers, never imports transformers; a model on disk never needs it
            fast = fast_tokenizer(model_id)
            if fast is not None:
                return len(fast[0].encode(text, add_special_tokens=False).ids)
            tokenizer = load_local_tokenizer(model_id)
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

        return count_local
    msg = f"Unknown model provider {provider!r}; expected 'openai' or 'local'."
    raise ConfigError(msg)


def count_chat_tokens(messages: Iterable[Mapping[str, Any]], model_id: str, provider: str = "openai") -> int:
    """Tokens of a chat conversation (``[{"role": ..., "content": ...}]``) as the model sees it.

    OpenAI: OpenAI's cookbook formula (3 tokens per message, 1 per name, 3 to prime the reply).
    Local: the length of the model's chat template applied to the messages.
    """
    msgs = [dict(m) for m in messages]
    if provider == "local":
        from ragtune.llm.loader import load_local_tokenizer
        from ragtune.llm.numpy_chat import fast_tokenizer

        fast = fast_tokenizer(model_id)
        if fast is not None and fast[1] is not None:
            prompt = fast[1].render(msgs, add_generation_prompt=False)
            return len(fast[0].encode(prompt, add_special_tokens=False).ids)
        tokenizer = load_local_tokenizer(model_id)
        text = tokenizer.apply_chat_template(msgs, tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    count = token_counter(model_id, provider)
    total = 3
    for message in msgs:
        total += 3
        for key, value in message.items():
            if isinstance(value, str):
                total += count(value)
            elif value is not None and key in ("content", "tool_calls"):
                total += count(json.dumps(value))
            if key == "name":
                total += 1
    return total


def context_window(model_id: str, default: int | None = DEFAULT_CONTEXT_WINDOW) -> int:
    """The context window of ``model_id`` in tokens (``ft:`` ids use their base model's).

    An unknown model gets ``default`` (a conservative 4096) and one logged warning; pass
    ``default=None`` to raise instead.

    Raises:
        ConfigError: unknown model and ``default`` is ``None``.
    """
    found = _lookup(CONTEXT_WINDOWS, model_id)
    if found is None:
        found = _local_config_window(model_id)
    if found is not None:
        return found
    if default is None:
        known = ", ".join(sorted(CONTEXT_WINDOWS))
        raise ConfigError(f"Unknown context window for model {model_id!r}; known models: {known}.")
    _warn_once(model_id, default)
    return default


def _local_config_window(model_id: str) -> int | None:
    """``max_position_embeddings`` of a local model folder's ``config.json``, when ``model_id`` is one."""
    config = Path(model_id.removeprefix("local:")).expanduser() / "config.json"
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def training_token_limit(model_id: str) -> int | None:
    """The longest fine-tuning example (in tokens) accepted for ``model_id``, or ``None`` when unknown."""
    return _lookup(TRAINING_TOKEN_LIMITS, model_id)


@lru_cache(maxsize=256)
def _warn_once(model_id: str, default: int) -> None:
    log.warning("Unknown context window for model %r; assuming %d tokens.", model_id, default)


__all__ = [
    "CONTEXT_WINDOWS",
    "DEFAULT_CONTEXT_WINDOW",
    "TRAINING_TOKEN_LIMITS",
    "context_window",
    "count_chat_tokens",
    "encoding_name",
    "token_counter",
    "training_token_limit",
]
