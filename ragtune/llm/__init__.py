"""Chat models (local causal LMs, SmolLM2 by default, and OpenAI), the model registry, prices and token counting.

Nothing heavy is imported until a name is used: ``from ragtune.llm import ModelRegistry``
does not load torch or the OpenAI client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragtune._lazy import lazy_getattr

if TYPE_CHECKING:
    from ragtune.llm.factory import make_chat_model
    from ragtune.llm.loader import resolve_source, warm
    from ragtune.llm.local import (
        LocalChatModel,
        cache_dir,
        gguf_path,
        load_local_model,
        load_local_tokenizer,
    )
    from ragtune.llm.openai_chat import RetryingChatOpenAI, make_openai_chat
    from ragtune.llm.pricing import Price, PriceTable
    from ragtune.llm.registry import LOCAL_MODEL_ID, ModelEntry, ModelRegistry, parse_chat_model, resolve_base_entry
    from ragtune.llm.tokens import context_window, count_chat_tokens, token_counter, training_token_limit

_LAZY = {
    "make_chat_model": "ragtune.llm.factory",
    "LOCAL_MODEL_ID": "ragtune.llm.registry",
    "LocalChatModel": "ragtune.llm.local",
    "cache_dir": "ragtune.llm.local",
    "gguf_path": "ragtune.llm.local",
    "load_local_model": "ragtune.llm.local",
    "load_local_tokenizer": "ragtune.llm.local",
    "RetryingChatOpenAI": "ragtune.llm.openai_chat",
    "make_openai_chat": "ragtune.llm.openai_chat",
    "Price": "ragtune.llm.pricing",
    "PriceTable": "ragtune.llm.pricing",
    "ModelEntry": "ragtune.llm.registry",
    "ModelRegistry": "ragtune.llm.registry",
    "parse_chat_model": "ragtune.llm.registry",
    "resolve_base_entry": "ragtune.llm.registry",
    "resolve_source": "ragtune.llm.loader",
    "warm": "ragtune.llm.loader",
    "context_window": "ragtune.llm.tokens",
    "count_chat_tokens": "ragtune.llm.tokens",
    "token_counter": "ragtune.llm.tokens",
    "training_token_limit": "ragtune.llm.tokens",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__all__ = [
    "LOCAL_MODEL_ID",
    "LocalChatModel",
    "ModelEntry",
    "ModelRegistry",
    "Price",
    "PriceTable",
    "RetryingChatOpenAI",
    "cache_dir",
    "context_window",
    "count_chat_tokens",
    "gguf_path",
    "load_local_model",
    "load_local_tokenizer",
    "make_chat_model",
    "make_openai_chat",
    "parse_chat_model",
    "resolve_base_entry",
    "resolve_source",
    "token_counter",
    "training_token_limit",
    "warm",
]
