"""One factory from a registry entry to a LangChain chat model.

Example:
    >>> from ragtune.llm import ModelRegistry, make_chat_model
    >>> entry = ws.registry.get("finetuned")
    >>> make_chat_model(entry, settings).invoke("Hello").content
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.llm.registry import ModelEntry, resolve_entry


def make_chat_model(entry: ModelEntry, settings: Settings | None = None, **kwargs: Any) -> BaseChatModel:
    """The chat model an entry describes.

    When ``settings.chat_model`` is set (``--chat-model``), it replaces the ``base`` entry.

    Args:
        entry: a registry entry; ``local`` -> :class:`~ragtune.llm.local.LocalChatModel` with the
            entry's adapter, ``openai`` -> :func:`~ragtune.llm.openai_chat.make_openai_chat`.
        settings: supplies ``openai_api_key`` and ``openai_base_url`` (each falls back to the
            ``OPENAI_*`` environment variables).
        **kwargs: passed to the model (``max_new_tokens``, ``temperature``, ``max_retries``...).

    Raises:
        ConfigError: an OpenAI entry with an adapter, or no API key for an OpenAI entry.
    """
    entry = resolve_entry(entry, settings)
    if entry.provider == "local":
        from ragtune.llm.local import LocalChatModel

        return LocalChatModel(model_name=entry.model_id, adapter_path=entry.adapter_path, **kwargs)
    if entry.adapter_path is not None:
        msg = f"Model {entry.name!r}: adapter_path is only for local models; an OpenAI model is fine-tuned by id."
        raise ConfigError(msg)
    from ragtune.llm.openai_chat import make_openai_chat

    return make_openai_chat(
        entry.model_id,
        api_key=settings.secret("openai_api_key") if settings else None,
        base_url=settings.openai_base_url if settings else None,
        **kwargs,
    )


__all__ = ["make_chat_model"]
