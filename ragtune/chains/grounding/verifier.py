"""Verifiers: how strongly each evidence sentence supports each claim, as a score in [0, 1].

A verifier only scores; the rules every verdict obeys (numbers, names, negation, no instructions
as evidence) live in :mod:`ragtune.chains.grounding.verify`, so they hold for any verifier.

* :class:`LexicalVerifier`: content-word overlap only (no model; used when nothing is loaded).
* :class:`EmbeddingVerifier`: the workspace embedder's cosine blended with content-word overlap
  (the default; claims and sentences are embedded in one batch).
* :class:`CrossEncoderVerifier`: a sentence-transformers ``CrossEncoder`` (NLI models: the
  entailment probability; single-score models: their score).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ragtune.chains.grounding.text import content_stems, overlap
from ragtune.embeddings.base import Embedder
from ragtune.errors import ConfigError, ModelError


@runtime_checkable
class Verifier(Protocol):
    """Scores claims against evidence sentences.

    ``threshold`` is the support score from which a claim that passes the rules is ``supported``.
    """

    threshold: float

    def verify(self, claims: Sequence[str], evidence: Sequence[str]) -> np.ndarray:
        """A ``(len(claims), len(evidence))`` matrix of support scores in [0, 1]."""
        ...


def lexical_matrix(claims: Sequence[str], evidence: Sequence[str]) -> np.ndarray:
    """Share of each claim's content words found in each evidence sentence."""
    sides = [content_stems(e) for e in evidence]
    out = np.zeros((len(claims), len(evidence)), dtype=np.float32)
    for i, claim in enumerate(claims):
        words = content_stems(claim)
        for j, side in enumerate(sides):
            out[i, j] = overlap(words, side)
    return out


class LexicalVerifier:
    """Content-word overlap only: what is left when no model is loaded."""

    def __init__(self, threshold: float = 0.6) -> None:
        self.threshold = threshold

    def verify(self, claims: Sequence[str], evidence: Sequence[str]) -> np.ndarray:
        return lexical_matrix(claims, evidence)


class EmbeddingSimilarity:
    """Cosine similarity with an :class:`Embedder`, with a small cache so a text is embedded once per answer."""

    def __init__(self, embedder: Embedder, cache_size: int = 4096) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Rows for ``texts``; texts not seen recently are embedded together in one call."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        if todo:
            # the query path: claims, sentences and questions are short, and the local model's query
            # encoder (numpy, same vectors) answers without loading torch
            known.update(zip(todo, self.embedder.embed_queries(todo), strict=True))
        with self._lock:
            for text in dict.fromkeys(texts):
                self._cache[text] = known[text]
                self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def matrix(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """Cosines clipped to [0, 1]; both sides embedded in one batch."""
        both = self.vectors([*left, *right])
        a, b = both[: len(left)], both[len(left) :]
        return np.clip(a @ b.T, 0.0, 1.0) if len(left) and len(right) else np.zeros((len(left), len(right)))


class EmbeddingVerifier:
    """``weight`` x embedding cosine + (1 - ``weight``) x content-word overlap.

    Example:
        >>> verifier = EmbeddingVerifier(workspace.embedder)
        >>> verifier.verify(["Refunds within 30 days."], ["Annual plans are refunded within 30 days."])
    """

    def __init__(
        self, embedder: Embedder | EmbeddingSimilarity, *, weight: float = 0.5, threshold: float = 0.55
    ) -> None:
        self.similarity = embedder if isinstance(embedder, EmbeddingSimilarity) else EmbeddingSimilarity(embedder)
        self.weight = weight
        self.threshold = threshold

    def verify(self, claims: Sequence[str], evidence: Sequence[str]) -> np.ndarray:
        cosine = self.similarity.matrix(claims, evidence)
        return self.weight * cosine + (1 - self.weight) * lexical_matrix(claims, evidence)


class CrossEncoderVerifier:
    """A sentence-transformers ``CrossEncoder`` reads each (evidence, claim) pair.

    Args:
        model: a Hugging Face id or a local folder.
        threshold: support score from which a claim is supported.
        entailment_label: label name of an NLI model's entailment class (found in ``id2label``,
            case-insensitive); single-output models use their (sigmoid) score instead.

    Raises:
        ConfigError: the model cannot be loaded (the message names it).

    Example:
        >>> chain.verifier = CrossEncoderVerifier("cross-encoder/nli-deberta-v3-xsmall")
    """

    def __init__(self, model: str, *, threshold: float = 0.5, entailment_label: str = "entail", device: str = "cpu"):
        self.model_name = model
        self.threshold = threshold
        try:
            from sentence_transformers import CrossEncoder

            self.model: Any = CrossEncoder(model, device=device)
        except Exception as exc:  # missing files, bad config, no network: all mean "cannot load"
            msg = (
                f"Cannot load the verifier cross-encoder {model!r}: {exc}. Give a local folder or a Hugging Face id "
                "available offline (a CrossEncoder: NLI with an entailment label, or a single-score model)."
            )
            raise ConfigError(msg) from exc
        labels = {int(k): str(v).lower() for k, v in (self.model.config.id2label or {}).items()}
        self.num_labels = int(self.model.config.num_labels)
        self.entailment = next((i for i, name in labels.items() if entailment_label in name), None)
        if self.num_labels > 1 and self.entailment is None:
            msg = f"Cross-encoder {model!r} has {self.num_labels} labels {labels} but none names {entailment_label!r}"
            raise ConfigError(msg)

    def verify(self, claims: Sequence[str], evidence: Sequence[str]) -> np.ndarray:
        if not claims or not evidence:
            return np.zeros((len(claims), len(evidence)), dtype=np.float32)
        pairs = [(e, c) for c in claims for e in evidence]
        try:
            raw = np.asarray(self.model.predict(pairs, show_progress_bar=False), dtype=np.float32)
        except Exception as exc:
            raise ModelError(f"Cross-encoder {self.model_name!r} failed: {exc}") from exc
        if self.num_labels > 1:
            shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
            scores = (shifted / shifted.sum(axis=1, keepdims=True))[:, self.entailment]
        else:
            scores = raw.reshape(-1)
            if scores.min() < 0 or scores.max() > 1:  # logits: squash into [0, 1]
                scores = 1 / (1 + np.exp(-scores))
        return scores.reshape(len(claims), len(evidence))


__all__ = [
    "CrossEncoderVerifier",
    "EmbeddingSimilarity",
    "EmbeddingVerifier",
    "LexicalVerifier",
    "Verifier",
    "lexical_matrix",
]
