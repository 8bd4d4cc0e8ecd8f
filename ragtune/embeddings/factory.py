"""Build the embedder named by settings (``local`` or ``openai:<model>``)."""

from __future__ import annotations

from ragtune.config import Settings
from ragtune.embeddings.base import Embedder
from ragtune.errors import ConfigError

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""The local embedder's model id (:class:`~ragtune.embeddings.local.LocalEmbedder`), here so that naming it
(opening a store checks its record) does not import the encoders."""


def make_embedder(settings: Settings) -> Embedder:
    """The embedder for ``settings.embedding``; a clear error for an unknown name."""
    name = settings.embedding
    if name == "local":
        from ragtune.embeddings.local import LocalEmbedder

        return LocalEmbedder()
    if name.startswith("openai:"):
        from ragtune.embeddings.openai import OpenAIEmbedder

        return OpenAIEmbedder(
            name.split(":", 1)[1] or "text-embedding-3-small",
            api_key=settings.secret("openai_api_key"),
            base_url=settings.openai_base_url,
        )
    msg = f"Unknown embedding {name!r}; use 'local' or 'openai:<model>' (e.g. openai:text-embedding-3-small)"
    raise ConfigError(msg)


def embedding_model_id(settings: Settings) -> str:
    """The ``model_id`` that :func:`make_embedder` would give, without building the embedder."""
    name = settings.embedding
    if name == "local":
        return MINILM_ID
    if name.startswith("openai:"):
        return f"openai:{name.split(':', 1)[1] or 'text-embedding-3-small'}"
    return make_embedder(settings).model_id  # raises the unknown-name error


__all__ = ["MINILM_ID", "embedding_model_id", "make_embedder"]
