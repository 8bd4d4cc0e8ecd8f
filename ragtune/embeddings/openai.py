"""OpenAI (or any OpenAI-compatible) embeddings, with retries on transient faults only."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ragtune.embeddings.base import Embedder
from ragtune.errors import EmbeddingError
from ragtune.retry import RetryPolicy, call_openai

log = logging.getLogger(__name__)

OPENAI_EMBEDDING_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


def token_encoding(model: str) -> Any:
    """The tiktoken-compatible encoding for an OpenAI model, from ``bpe-openai`` (offline)."""
    import bpe_openai

    name = (
        "o200k_base"
        if any(model.startswith(p) for p in ("gpt-4o", "gpt-4.1", "o1", "o3", "o4", "gpt-5"))
        else "cl100k_base"
    )
    return bpe_openai.get_encoding(name)


class OpenAIEmbedder(Embedder):
    """``text-embedding-3-small`` by default; ``base_url`` points at any compatible server.

    ``max_retries`` counts retries after the first try on transient faults (``max_retries + 1``
    attempts, see :class:`ragtune.retry.RetryPolicy`); other API errors raise :class:`EmbeddingError`.
    """

    max_tokens = 8191

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        max_retries: int = 5,
        client: Any = None,
    ) -> None:
        import openai

        self.model = model
        self.model_id = f"openai:{model}" + (f":{dimensions}" if dimensions else "")
        self.dimensions = dimensions
        self.dim = dimensions or OPENAI_EMBEDDING_DIMS.get(model, 1536)
        self.batch_size = batch_size
        self.max_retries = max_retries
        self._policy = RetryPolicy.from_retries(max_retries)
        self._client = client or openai.OpenAI(api_key=api_key or "unset", base_url=base_url, max_retries=0)
        self._encoding = token_encoding(model)

    def _call(self, batch: list[str]) -> list[list[float]]:
        kwargs: dict[str, Any] = {"model": self.model, "input": batch}
        if self.dimensions:
            kwargs["dimensions"] = self.dimensions
        response = call_openai(
            self._policy,
            f"embeddings ({self.model})",
            lambda: self._client.embeddings.create(**kwargs),
            fatal=EmbeddingError,
            logger=log,
        )
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            rows.extend(self._call(texts[start : start + self.batch_size]))
        vectors = np.asarray(rows, dtype=np.float32)
        self.dim = int(vectors.shape[1]) if vectors.size else self.dim
        return vectors

    def count_tokens(self, text: str) -> int:
        return len(self._encoding.encode(text))


__all__ = ["OpenAIEmbedder", "token_encoding"]
