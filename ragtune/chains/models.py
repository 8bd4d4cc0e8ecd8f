"""A chat model together with what the chain must know about it: id, tokenizer, window, price key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel

from ragtune.config import Settings

DEFAULT_OUTPUT_TOKENS = 512


def approximate_count(text: str) -> int:
    """About four characters per token: for models whose tokenizer is unknown."""
    return max(1, (len(text) + 3) // 4) if text else 0


@dataclass
class ChainModel:
    """One chat model as the chain uses it.

    Args:
        chat: the LangChain chat model.
        model_id: priced and tokenised under this id (``ft:`` ids are priced as fine-tuned).
        name: the registry name (``base``, ``finetuned``).
        count_tokens: the model's own tokenizer; default from :func:`ragtune.llm.token_counter`.
        window: the context window in tokens; default from :func:`ragtune.llm.context_window`.
        max_output_tokens: tokens reserved for the reply.
        is_finetuned: the model carries fine-tuned behaviour (an adapter or an ``ft:`` id).
    """

    chat: BaseChatModel
    model_id: str
    name: str = "base"
    provider: str = "local"
    count_tokens: Callable[[str], int] = field(default=approximate_count)
    window: int = 4096
    max_output_tokens: int = DEFAULT_OUTPUT_TOKENS
    is_finetuned: bool = False

    @classmethod
    def of(
        cls,
        chat: BaseChatModel,
        *,
        model_id: str | None = None,
        name: str = "base",
        provider: str | None = None,
        count_tokens: Callable[[str], int] | None = None,
        window: int | None = None,
        is_finetuned: bool = False,
    ) -> ChainModel:
        """Wrap any chat model, filling in id, tokenizer and window where they can be found."""
        from ragtune.llm.registry import LOCAL_MODEL_ID

        found_id = model_id or getattr(chat, "model_name", None) or getattr(chat, "model", None) or "unknown"
        if provider is None:
            provider = "local" if found_id == LOCAL_MODEL_ID else "openai" if _is_openai(chat) else "other"
        if count_tokens is None:
            count_tokens = _counter(str(found_id), provider)
        if window is None:
            from ragtune.llm.tokens import context_window

            window = context_window(str(found_id))
        return cls(
            chat=chat,
            model_id=str(found_id),
            name=name,
            provider=provider,
            count_tokens=count_tokens,
            window=window,
            max_output_tokens=_output_tokens(chat),
            is_finetuned=is_finetuned,
        )

    @classmethod
    def from_registry(
        cls, entry: Any, settings: Settings | None = None, *, max_new_tokens: int | None = None, **kwargs: Any
    ) -> ChainModel:
        """The model a registry entry names (``ragtune.llm.ModelEntry``), built by ``make_chat_model``."""
        from ragtune.llm.factory import make_chat_model
        from ragtune.llm.registry import resolve_entry

        entry = resolve_entry(entry, settings)  # --chat-model replaces ``base`` for the run
        if max_new_tokens is not None:
            kwargs["max_new_tokens" if entry.provider == "local" else "max_tokens"] = max_new_tokens
        chat = make_chat_model(entry, settings, **kwargs)
        return cls.of(
            chat,
            model_id=entry.model_id,
            name=entry.name,
            provider=entry.provider,
            is_finetuned=entry.is_finetuned,
        )


def _is_openai(chat: BaseChatModel) -> bool:
    return "openai" in type(chat).__module__.lower() or "openai" in type(chat).__name__.lower()


def _counter(model_id: str, provider: str) -> Callable[[str], int]:
    if provider in ("local", "openai"):
        from ragtune.llm.tokens import token_counter

        return token_counter(model_id, provider)
    return approximate_count


def _output_tokens(chat: BaseChatModel) -> int:
    for attribute in ("max_new_tokens", "max_tokens", "max_completion_tokens"):
        value = getattr(chat, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_OUTPUT_TOKENS


__all__ = ["DEFAULT_OUTPUT_TOKENS", "ChainModel", "approximate_count"]
