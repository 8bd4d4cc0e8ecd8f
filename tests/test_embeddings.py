"""The local embedder and the embedding cache, with the real MiniLM."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ragtune.embeddings.cache import CachedEmbedder, EmbeddingCache


def test_vectors_are_normalised_and_queries_match_documents(minilm) -> None:  # type: ignore[no-untyped-def]
    docs = minilm.embed_documents(["The cat sat on the mat.", "Quarterly revenue grew by ten percent."])
    assert docs.shape == (2, 384) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    query = minilm.embed_query("How did revenue develop?")
    assert int(np.argmax(docs @ query)) == 1


def test_token_counting_while_embedding_in_another_thread(minilm) -> None:  # type: ignore[no-untyped-def]
    """Ingest counts tokens in a loader thread while the model embeds: they must not share tokenizer state."""
    texts = [("word " * (5 + (i * 37) % 120)).strip() for i in range(200)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def count() -> None:
        try:
            while not stop.is_set():
                for text in texts[:50]:
                    assert minilm.count_tokens(text) == len(text.split())
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=count)
    worker.start()
    try:
        for _ in range(2):
            assert minilm.embed_documents(texts).shape == (200, 384)
    finally:
        stop.set()
        worker.join()
    assert errors == []


def test_cache_embeds_each_content_hash_once(tmp_path: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    cached = CachedEmbedder(minilm, EmbeddingCache(tmp_path / "cache.sqlite"))
    first = cached.embed(["alpha text", "beta text", "alpha text"], ["a", "b", "a"])
    assert cached.misses == 2
    assert np.array_equal(first[0], first[2])
    again = cached.embed(["beta text", "alpha text"], ["b", "a"])
    assert cached.misses == 2
    assert np.array_equal(again[1], first[0])
    reopened = CachedEmbedder(minilm, EmbeddingCache(tmp_path / "cache.sqlite"))
    reopened.embed(["alpha text"], ["a"])
    assert reopened.misses == 0
