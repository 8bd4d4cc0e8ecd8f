"""A Llama-architecture causal LM's forward pass in numpy, for scoring text without torch.

Scoring a question after a few passages (:mod:`ragtune.chains.grounding.likelihood`) takes a
fraction of a second on the packaged SmolLM2-135M, but importing torch and transformers to do it
takes seconds more on every ``ragtune ask``. This module reads the de-quantized safetensors cache
that :mod:`ragtune.llm.loader` keeps and runs the same computation (RMSNorm, rotary attention with
grouped key/value heads, SwiGLU) with numpy and the ``tokenizers`` library. Its log-probabilities
match transformers' to ~1e-5 (a test checks). Generation with a KV cache builds on it in
:mod:`ragtune.llm.numpy_decoder`.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED_ROPE = ("default", None)
SUPPORTED_TYPES = ("llama", "qwen2")
"""Llama-family architectures this forward pass implements exactly (Qwen2: biased q/k/v projections)."""
_DTYPES: dict[str, Any] = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as read-only views of one memory map: nothing is copied.

    ``safetensors.numpy.load_file`` copies every tensor out of the file, which costs the load
    time and doubles the peak memory of a model scored once per ``ragtune ask``; the format is an
    8-byte header length, a JSON header of dtypes, shapes and byte offsets, then the raw data.
    """
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + length)
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if info["dtype"] == "BF16":  # no numpy dtype: widen to float32 (a copy), as bfloat16 is float32's top half
            widened = data[begin:end].view(np.uint16).astype(np.uint32) << 16
            tensors[name] = widened.view(np.float32).reshape(info["shape"])
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}; numpy reads F32, F16, BF16 and F64")
        tensors[name] = data[begin:end].view(dtype).reshape(info["shape"])
    return tensors


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Save float32 arrays in the safetensors format :func:`read_safetensors` (and transformers) read."""
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    arrays = {}
    for name, tensor in tensors.items():
        array = np.ascontiguousarray(tensor, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays[name] = array
    encoded = json.dumps(header).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for array in arrays.values():
            handle.write(array.tobytes())


def _rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def unsupported(config: dict[str, Any]) -> str | None:
    """Why this forward pass cannot run a model of this ``config.json``, or ``None`` when it can.

    Implemented exactly: Llama and Qwen2 with SiLU, the default rotary embedding, optional
    attention biases, grouped key/value heads, no sliding window, no tensor-parallel slicing.
    """
    kind = config.get("model_type")
    if kind not in SUPPORTED_TYPES:
        return f"its architecture ({kind!r}) is not one of {', '.join(SUPPORTED_TYPES)}"
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type")) not in SUPPORTED_ROPE:
        return f"its rotary scaling {rope!r} is not implemented in numpy"
    if config.get("hidden_act", "silu") != "silu":
        return f"its activation {config.get('hidden_act')!r} is not SiLU"
    if config.get("mlp_bias"):
        return "its MLP has biases"
    if int(config.get("pretraining_tp") or 1) != 1:
        return "it uses tensor-parallel slicing (pretraining_tp > 1)"
    if kind == "qwen2" and config.get("use_sliding_window"):
        return "it uses sliding-window attention"
    return None


class NumpyLlama:
    """A Llama model folder (``config.json``, ``model.safetensors``, ``tokenizer.json``) run in numpy.

    Raises:
        ValueError: the folder's model is not one this forward pass implements (not Llama, or a
            rotary scaling other than the default); load it with transformers instead.
    """

    def __init__(self, folder: str | Path, overrides: Sequence[Path] = ()) -> None:
        """``overrides``: safetensors files whose tensors replace the folder's (a merged LoRA adapter)."""
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        why = unsupported(config)
        if why is not None:
            raise ValueError(f"{folder} cannot run in numpy: {why}")
        rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
        self.heads = int(config["num_attention_heads"])
        self.kv_heads = int(config.get("num_key_value_heads") or self.heads)
        self.head_dim = int(config.get("head_dim") or config["hidden_size"] // self.heads)
        self.eps = float(config["rms_norm_eps"])
        theta = float(rope.get("rope_theta", config.get("rope_theta", 10000.0)))
        self.inv_freq = 1.0 / theta ** (np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim)
        weights = read_safetensors(folder / "model.safetensors")
        for extra in overrides:
            weights.update(read_safetensors(extra))
        self.embed = weights["model.embed_tokens.weight"].astype(np.float32, copy=False)
        self.head = weights.get("lm_head.weight", self.embed).astype(np.float32, copy=False)
        self.norm = weights["model.norm.weight"].astype(np.float32, copy=False)
        self.layers: list[dict[str, np.ndarray]] = []
        for i in range(int(config["num_hidden_layers"])):
            prefix = f"model.layers.{i}."
            mine = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
            self.layers.append({k: v.astype(np.float32, copy=False) for k, v in mine.items()})
        self.tokenizer: Any = Tokenizer.from_file(str(folder / "tokenizer.json"))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids)))

    def _rotate(self, x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        half = x.shape[-1] // 2
        rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return x * cos + rotated * sin

    @staticmethod
    def _linear(h: np.ndarray, layer: dict[str, np.ndarray], name: str) -> np.ndarray:
        out = h @ layer[f"{name}.weight"].T
        bias = layer.get(f"{name}.bias")
        return np.asarray(out if bias is None else out + bias)

    def _attention(self, h: np.ndarray, layer: dict[str, np.ndarray], cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        n = h.shape[0]
        q = self._linear(h, layer, "self_attn.q_proj").reshape(n, self.heads, self.head_dim).transpose(1, 0, 2)
        k = self._linear(h, layer, "self_attn.k_proj").reshape(n, self.kv_heads, self.head_dim).transpose(1, 0, 2)
        v = self._linear(h, layer, "self_attn.v_proj").reshape(n, self.kv_heads, self.head_dim).transpose(1, 0, 2)
        q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
        group = self.heads // self.kv_heads
        k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
        scores = q @ k.transpose(0, 2, 1) * (1.0 / math.sqrt(self.head_dim))  # a Python float keeps float32
        scores += np.triu(np.full((n, n), -np.inf, dtype=np.float32), 1)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        out = (scores @ v).transpose(1, 0, 2).reshape(n, self.heads * self.head_dim)
        return self._linear(out, layer, "self_attn.o_proj")

    def _mlp(self, h: np.ndarray, layer: dict[str, np.ndarray]) -> np.ndarray:
        gate = _silu(h @ layer["mlp.gate_proj.weight"].T)
        return np.asarray((gate * (h @ layer["mlp.up_proj.weight"].T)) @ layer["mlp.down_proj.weight"].T)

    def token_log_probs(self, context: Sequence[int], continuation: Sequence[int]) -> np.ndarray:
        """log p(each continuation token | context and the continuation tokens before it)."""
        ids = np.asarray([*context, *continuation], dtype=np.int64)
        freqs = np.outer(np.arange(len(ids), dtype=np.float64), self.inv_freq)
        angles = np.concatenate([freqs, freqs], axis=-1)
        cos, sin = np.cos(angles).astype(np.float32, copy=False), np.sin(angles).astype(np.float32, copy=False)
        x = self.embed[ids]
        for layer in self.layers:
            x = x + self._attention(_rms_norm(x, layer["input_layernorm.weight"], self.eps), layer, cos, sin)
            x = x + self._mlp(_rms_norm(x, layer["post_attention_layernorm.weight"], self.eps), layer)
        # only the positions that predict the continuation need the vocabulary projection
        last = _rms_norm(x[len(context) - 1 : len(ids) - 1], self.norm, self.eps)
        logp = _log_softmax(last @ self.head.T)
        return np.asarray(logp[np.arange(len(continuation)), np.asarray(continuation)])


__all__ = ["SUPPORTED_TYPES", "NumpyLlama", "read_safetensors", "unsupported", "write_safetensors"]
