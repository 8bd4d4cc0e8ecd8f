"""A BERT sentence encoder in plain numpy, for query-time embedding without torch.

Importing torch and sentence-transformers costs seconds; one query is a few
dozen tokens, which numpy encodes in milliseconds. This module runs the same
forward pass (embeddings, encoder layers, mean pooling, L2 normalisation) on
the model's own ``model.safetensors``, memory-mapped, and tokenises with the
``tokenizers`` library from ``tokenizer.json``. It applies only to models it
can reproduce exactly: a ``bert`` model with absolute positions, exact GELU
and mean pooling (all-MiniLM-L6-v2 and its kind); :func:`supports` says so.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.embeddings.blas import single_threaded_blas

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as a read-only memory-mapped array (no copy)."""
    with path.open("rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_len))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            msg = f"{path}: tensor {name} has unsupported dtype {info['dtype']}"
            raise ValueError(msg)
        start, end = info["data_offsets"]
        tensors[name] = data[start:end].view(dtype).reshape(info["shape"])
    return tensors


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}  # type: ignore[no-any-return]


def supports(model_path: str | Path) -> bool:
    """Whether this encoder reproduces the sentence-transformers model at ``model_path`` exactly."""
    root = Path(model_path)
    config = _read_json(root / "config.json")
    pooling = _read_json(root / "1_Pooling" / "config.json")
    modules = (
        [m.get("type", "") for m in json.loads((root / "modules.json").read_text())]
        if (root / "modules.json").is_file()
        else []
    )
    known_modules = {
        "sentence_transformers.models.Transformer",
        "sentence_transformers.models.Pooling",
        "sentence_transformers.models.Normalize",
    }
    return (
        config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and pooling.get("pooling_mode_mean_tokens") is True
        and not any(v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens")
        and set(modules) <= known_modules
        and (root / "model.safetensors").is_file()
        and (root / "tokenizer.json").is_file()
    )


def max_seq_length(model_path: str | Path, default: int = 256) -> int:
    """The model's input limit as sentence-transformers applies it (``sentence_bert_config.json``)."""
    root = Path(model_path)
    value = _read_json(root / "sentence_bert_config.json").get("max_seq_length")
    if value is None:
        value = _read_json(root / "config.json").get("max_position_embeddings", default)
    return int(value)


def embedding_dim(model_path: str | Path) -> int | None:
    """The sentence-embedding width from the model's config files (``None`` when they don't say)."""
    root = Path(model_path)
    width = _read_json(root / "1_Pooling" / "config.json").get("word_embedding_dimension")
    if width is None:
        width = _read_json(root / "config.json").get("hidden_size")
    return int(width) if width is not None else None


def load_tokenizer(model_path: str | Path, *, max_length: int | None) -> Any:
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json`` with no padding and the given truncation."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tokenizer.no_padding()
    if max_length is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.2e-7 (Numerical Recipes ``erfc`` by Chebyshev fit); numpy has none."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (
        1.00002368
        + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (
            -1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))
        )))))
    )  # fmt: skip
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


@dataclass
class _Layer:
    qkv_w: np.ndarray
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


class NumpyBertEncoder:
    """Mean-pooled, normalised BERT sentence embeddings computed with numpy.

    Example:
        >>> encoder = NumpyBertEncoder(minilm_path())
        >>> encoder.encode(["how do refunds work?"]).shape
        (1, 384)
    """

    def __init__(self, model_path: str | Path, *, batch_size: int = 32) -> None:
        root = Path(model_path)
        config = _read_json(root / "config.json")
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.batch_size = batch_size
        self.max_length = max_seq_length(root)
        self.tokenizer = load_tokenizer(root, max_length=self.max_length)
        raw = read_safetensors(root / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""

        def get(name: str) -> np.ndarray:
            # An aligned copy: numpy skips BLAS for the file's unaligned memory-mapped data.
            return np.array(raw[prefix + name], dtype=np.float32)

        self.word = raw[prefix + "embeddings.word_embeddings.weight"]  # rows gathered per query: no copy needed
        self.position = get("embeddings.position_embeddings.weight")
        self.token_type = get("embeddings.token_type_embeddings.weight")[0]
        self.ln_w, self.ln_b = get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias")
        self.layers = [self._layer(get, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]

    @staticmethod
    def _layer(get: Any, p: str) -> _Layer:
        att = p + "attention."
        qkv_w = np.concatenate([get(f"{att}self.{n}.weight") for n in ("query", "key", "value")]).T.copy()
        qkv_b = np.concatenate([get(f"{att}self.{n}.bias") for n in ("query", "key", "value")])
        return _Layer(
            qkv_w=qkv_w,
            qkv_b=qkv_b,
            out_w=get(f"{att}output.dense.weight").T,
            out_b=get(f"{att}output.dense.bias"),
            ln1_w=get(f"{att}output.LayerNorm.weight"),
            ln1_b=get(f"{att}output.LayerNorm.bias"),
            up_w=get(f"{p}intermediate.dense.weight").T,
            up_b=get(f"{p}intermediate.dense.bias"),
            down_w=get(f"{p}output.dense.weight").T,
            down_b=get(f"{p}output.dense.bias"),
            ln2_w=get(f"{p}output.LayerNorm.weight"),
            ln2_b=get(f"{p}output.LayerNorm.bias"),
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` unit vectors; batches are grouped by length to keep padding small."""
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.word.shape[1]), dtype=np.float32)
        with single_threaded_blas():
            self._encode_sorted(encodings, order, out)
        return out

    def _encode_sorted(self, encodings: list[Any], order: list[int], out: np.ndarray) -> None:
        for start in range(0, len(order), self.batch_size):
            part = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in part)
            ids = np.zeros((len(part), width), dtype=np.int64)
            mask = np.zeros((len(part), width), dtype=np.float32)
            for row, i in enumerate(part):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            out[part] = self._forward(ids, mask)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # Linear layers run on 2-D (tokens, hidden) contiguous arrays: numpy hands only those to BLAS.
        batch, width = ids.shape
        x = (self.word[ids] + self.position[:width] + self.token_type).reshape(batch * width, -1)
        x = _layer_norm(x, self.ln_w, self.ln_b, self.eps)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        head_dim = x.shape[-1] // self.heads
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for layer in self.layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(batch, width, 3, self.heads, head_dim)
            q, k, v = (np.ascontiguousarray(qkv[:, :, i].transpose(0, 2, 1, 3)) for i in range(3))
            scores = np.matmul(q * scale, k.transpose(0, 1, 3, 2)) + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = np.matmul(scores, v).transpose(0, 2, 1, 3).reshape(batch * width, -1)
            x = _layer_norm(x + context @ layer.out_w + layer.out_b, layer.ln1_w, layer.ln1_b, self.eps)
            hidden = x @ layer.up_w + layer.up_b
            hidden = 0.5 * hidden * (1.0 + _erf(hidden * np.float32(1 / math.sqrt(2))))
            x = _layer_norm(x + hidden @ layer.down_w + layer.down_b, layer.ln2_w, layer.ln2_b, self.eps)
        tokens = x.reshape(batch, width, -1)
        pooled = (tokens * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)


__all__ = [
    "NumpyBertEncoder",
    "embedding_dim",
    "load_tokenizer",
    "max_seq_length",
    "read_safetensors",
    "supports",
]
