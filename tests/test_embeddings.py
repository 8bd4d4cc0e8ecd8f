"""The local embedder and the embedding cache, with the real MiniLM."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

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


def _scifact(shared_data: Path, name: str, limit: int) -> list[dict[str, str]]:
    with (shared_data / "scifact" / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line, _ in zip(handle, range(limit), strict=False)]


def test_numpy_query_vectors_match_torch_and_rank_the_same(minilm, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    """Queries are embedded in numpy (no torch import); the vectors and the top-10 must be torch's."""
    assert minilm.query_backend == "numpy"
    queries = [q["text"] for q in _scifact(shared_data, "queries-train.jsonl", 60)]
    queries.append("word " * 400)  # longer than the model's 256 tokens: truncated the same way
    docs = minilm.embed_documents([f"{d['title']}\n{d['text']}" for d in _scifact(shared_data, "corpus.jsonl", 300)])
    by_numpy = minilm.embed_queries(queries)
    by_torch = minilm._model.encode(queries, normalize_embeddings=True, convert_to_numpy=True)
    cosines = np.sum(by_numpy * by_torch, axis=1)
    assert cosines.mean() >= 0.9999 and cosines.min() >= 0.9995
    top_numpy = np.argsort(-(by_numpy @ docs.T), axis=1, kind="stable")[:, :10]
    top_torch = np.argsort(-(by_torch @ docs.T), axis=1, kind="stable")[:, :10]
    assert (top_numpy == top_torch).all()
    assert np.allclose(minilm.embed_query(queries[0]), by_numpy[0], atol=1e-6)


def test_token_counts_match_the_model_tokenizer(minilm) -> None:  # type: ignore[no-untyped-def]
    """Chunk boundaries depend on the counts: the tokenizers-only counter must equal the model's tokenizer."""
    texts = ["", "Hello, world!", "Ünïcödé façade — naïve café 東京", "x" * 3000, "refund " * 700, "a\n\nb\tc"]
    model_tokenizer = minilm._model.tokenizer
    for text in texts:
        assert minilm.count_tokens(text) == len(model_tokenizer.encode(text, add_special_tokens=False)), text


def test_construction_counting_and_queries_import_no_torch() -> None:
    """Only document batches need sentence-transformers; everything else stays torch-free."""
    assert (
        _torch_modules_after(
            "e = LocalEmbedder()\n"
            "assert (e.dim, e.max_tokens) == (384, 256), (e.dim, e.max_tokens)\n"
            "assert e.count_tokens('three small words') == 3\n"
            "assert e.embed_query('how are refunds handled?').shape == (384,)\n"
        )
        == "[]"
    )


def _torch_modules_after(body: str) -> str:
    """Run ``body`` (with LocalEmbedder imported) in a fresh interpreter; the torch-family modules it loaded."""
    script = (
        "import sys\n"
        "from ragtune.embeddings.local import LocalEmbedder\n"
        f"{body}"
        "heavy = {'torch', 'sentence_transformers', 'transformers'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_onnx_document_vectors_match_torch_and_rank_the_same(minilm, shared_data: Path, runtime: str) -> None:  # type: ignore[no-untyped-def]
    """Documents are embedded from the ONNX export (OpenVINO by default); the vectors must be torch's."""
    from ragtune.embeddings.local import LocalEmbedder

    assert minilm.document_backend == "openvino"
    embedder = LocalEmbedder(document_backend=runtime)  # type: ignore[arg-type]
    docs = [f"{d['title']}\n{d['text']}" for d in _scifact(shared_data, "corpus.jsonl", 120)]
    docs += ["", "x", "refund " * 400]  # empty, one token, longer than the model's 256 tokens
    by_onnx = embedder.embed_documents(docs)
    by_torch = minilm._model.encode(docs, normalize_embeddings=True, convert_to_numpy=True)
    cosines = np.sum(by_onnx * by_torch, axis=1)
    assert cosines.min() >= 0.9999, cosines.min()
    queries = minilm.embed_queries([q["text"] for q in _scifact(shared_data, "queries-train.jsonl", 40)])
    top_onnx = np.argsort(-(queries @ by_onnx.T), axis=1, kind="stable")[:, :10]
    top_torch = np.argsort(-(queries @ by_torch.T), axis=1, kind="stable")[:, :10]
    assert (top_onnx == top_torch).mean() >= 0.99  # a near-tie may swap two neighbours, nothing more


def test_onnx_export_is_cached_and_reused(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The export lands under RAGTUNE_CACHE_DIR, keyed by the model folder; an existing one is never redone."""
    from ragtune.embeddings import onnx_bert
    from ragtune.embeddings.local import minilm_path

    monkeypatch.setenv("RAGTUNE_CACHE_DIR", str(tmp_path))
    dest = onnx_bert.export_path(minilm_path())
    assert dest.is_relative_to(tmp_path / "embeddings")
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"already exported")

    def must_not_export(*args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_bert, "export", must_not_export)
    assert onnx_bert.ensure_export(minilm_path()) == dest
    assert dest.read_bytes() == b"already exported"


def test_documents_fall_back_to_onnxruntime_then_torch(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """``auto`` takes the first runtime installed, else torch (said in the log); a named one is insisted on."""
    import logging

    from ragtune.embeddings import local, onnx_bert
    from ragtune.errors import EmbeddingError

    installed = {"openvino": False, "onnxruntime": True}
    monkeypatch.setattr(onnx_bert, "available", lambda runtime: installed[runtime])
    assert local.LocalEmbedder().document_backend == "onnxruntime"
    installed["onnxruntime"] = False
    with caplog.at_level(logging.INFO, logger="ragtune.embeddings.local"):
        embedder = local.LocalEmbedder()
    assert embedder.document_backend == "torch"
    assert "openvino is not installed" in caplog.text
    with pytest.raises(EmbeddingError, match="pip install onnxruntime"):
        local.LocalEmbedder(document_backend="onnxruntime")
    assert local.LocalEmbedder(document_backend="torch").document_backend == "torch"


def test_documents_fall_back_to_torch_when_the_export_fails(minilm, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    from ragtune.embeddings import local

    def broken(path: str, runtime: str, batch_size: int) -> None:
        raise RuntimeError("export failed")

    monkeypatch.setattr(local, "_load_onnx_encoder", broken)
    embedder = local.LocalEmbedder()
    assert embedder.document_backend == "openvino"
    vectors = embedder.embed_documents(["The cat sat on the mat."])
    assert embedder.document_backend == "torch" and "export failed" in caplog.text
    assert float(vectors[0] @ minilm.embed_documents(["The cat sat on the mat."])[0]) >= 0.9999


def test_document_embedding_imports_no_torch_once_exported(minilm) -> None:  # type: ignore[no-untyped-def]
    """With the export cached, ingest's document batches run on OpenVINO alone."""
    minilm.embed_documents(["export now"])  # the session fixture shares the user cache with the child
    batch = "assert LocalEmbedder().embed_documents(['one text', 'another text']).shape == (2, 384)\n"
    assert _torch_modules_after(batch) == "[]"
