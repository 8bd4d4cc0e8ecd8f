"""Token-by-token generation with a KV cache in numpy: the packaged model's chat engine without torch.

A ``ragtune ask`` that generates used to spend half its time importing torch and transformers and
loading the model, then decoded ~10 tokens/s through transformers' per-layer Python overhead. This
decoder runs the same Llama computation as :class:`~ragtune.llm.numpy_llama.NumpyLlama` (whose
weights it shares, memory-mapped), but keeps each layer's rotated keys and values so every new
token costs one matrix-vector product per weight. Decoding matches ``model.generate`` (a test
checks greedy output token for token): the answer-only repetition penalty, ``no_repeat_ngram_size``,
temperature and nucleus sampling, end-of-sequence ids from ``generation_config.json``.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.llm.numpy_llama import NumpyLlama, _rms_norm, _silu


@dataclass(frozen=True)
class Decoding:
    """How the next token is chosen; the fields mirror ``LocalChatModel``'s."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    """0 = greedy."""
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    """Applied to the tokens generated so far only (not the prompt), like ``_AnswerRepetitionPenalty``."""
    no_repeat_ngram_size: int = 0
    """Like transformers: over the whole sequence, prompt included."""
    seed: int | None = None


def _eos_ids(folder: Path, config: dict[str, object]) -> set[int]:
    """The ids that end generation: ``generation_config.json`` first, as ``generate`` reads them."""
    found: Any = None
    with contextlib.suppress(OSError, json.JSONDecodeError):
        found = json.loads((folder / "generation_config.json").read_text(encoding="utf-8")).get("eos_token_id")
    if found is None:
        found = config.get("eos_token_id")
    if found is None:
        return set()
    return {int(i) for i in (found if isinstance(found, list) else [found])}


def _banned_ngram_tokens(ids: Sequence[int], n: int) -> list[int]:
    """Tokens that would repeat an n-gram already in ``ids`` (transformers' NoRepeatNGramLogitsProcessor)."""
    if n <= 0 or len(ids) + 1 < n:
        return []
    prefix = tuple(ids[len(ids) - n + 1 :])
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if tuple(ids[i : i + n - 1]) == prefix]


class NumpyDecoder(NumpyLlama):
    """A Llama-family model folder that generates in numpy (see the module docstring).

    Raises:
        ValueError: the model is not one the numpy forward pass implements.
    """

    def __init__(self, folder: str | Path, overrides: Sequence[Path] = ()) -> None:
        super().__init__(folder, overrides)
        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.folder = folder
        self.eos = _eos_ids(folder, config)
        self.max_positions = int(config.get("max_position_embeddings") or 2048)
        self.inv_freq32 = self.inv_freq.astype(np.float32)

    def quantize_int8(self) -> None:
        """Round every weight matrix to int8 with one scale per output channel (kept de-quantized in memory).

        For measuring what int8 weights cost in answer quality (``RAGTUNE_LOCAL_WEIGHTS=int8``):
        numpy has no int8 matrix-vector product, so this does not make decoding faster here.
        """

        def rounded(matrix: np.ndarray) -> np.ndarray:
            scale = np.abs(matrix).max(axis=1, keepdims=True) / 127.0
            scale[scale == 0] = 1.0
            return (np.clip(np.rint(matrix / scale), -127, 127) * scale).astype(np.float32)

        tied = self.head is self.embed or np.shares_memory(self.head, self.embed)
        self.embed = rounded(self.embed)
        self.head = self.embed if tied else rounded(self.head)
        for layer in self.layers:
            for name, tensor in list(layer.items()):
                if name.endswith(".weight") and tensor.ndim == 2:
                    layer[name] = rounded(tensor)

    def _rope(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        # float32 throughout, as transformers' rotary embedding computes it
        freqs = np.arange(start, stop, dtype=np.float32)[:, None] * self.inv_freq32[None, :]
        angles = np.concatenate([freqs, freqs], axis=-1)
        return np.cos(angles), np.sin(angles)

    def _step(self, ids: np.ndarray, cache: Any, past: int) -> np.ndarray:
        """Run ``ids`` (positions ``past`` on) through the model, filling ``cache`` (what :meth:`_cache` made);
        the last position's logits."""
        n = len(ids)
        cos, sin = self._rope(past, past + n)
        x = self.embed[ids]
        for layer, (keys, values) in zip(self.layers, cache, strict=True):
            h = _rms_norm(x, layer["input_layernorm.weight"], self.eps)
            q = self._linear(h, layer, "self_attn.q_proj")
            k = self._linear(h, layer, "self_attn.k_proj")
            v = self._linear(h, layer, "self_attn.v_proj")
            out = self._attend(q, k, v, keys, values, past, cos, sin)
            x = x + self._linear(out, layer, "self_attn.o_proj")
            h = _rms_norm(x, layer["post_attention_layernorm.weight"], self.eps)
            gate = _silu(self._linear(h, layer, "mlp.gate_proj"))
            x = x + self._linear(gate * self._linear(h, layer, "mlp.up_proj"), layer, "mlp.down_proj")
        last = _rms_norm(x[-1:], self.norm, self.eps)
        return np.asarray((last @ self.head.T)[0])

    def _attend(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        keys: np.ndarray,
        values: np.ndarray,
        past: int,
        cos: np.ndarray,
        sin: np.ndarray,
    ) -> np.ndarray:
        """Rotate the new queries and keys, append keys and values to the cache, attend: ``(n, heads * head_dim)``."""
        n = q.shape[0]
        group = self.heads // self.kv_heads
        scale = 1.0 / math.sqrt(self.head_dim)
        q = self._rotate(q.reshape(n, self.heads, self.head_dim).transpose(1, 0, 2), cos, sin)
        k = self._rotate(k.reshape(n, self.kv_heads, self.head_dim).transpose(1, 0, 2), cos, sin)
        keys[:, past : past + n] = k
        values[:, past : past + n] = v.reshape(n, self.kv_heads, self.head_dim).transpose(1, 0, 2)
        k_all, v_all = keys[:, : past + n], values[:, : past + n]
        # grouped heads: (kv, group*n, d) against (kv, T, d), no repeated copies of the cache
        qg = q.reshape(self.kv_heads, group * n, self.head_dim)
        scores = (qg @ k_all.transpose(0, 2, 1)) * scale
        if n > 1:
            causal = np.triu(np.full((n, past + n), -np.inf, dtype=np.float32), past + 1)
            scores = scores.reshape(self.kv_heads, group, n, past + n) + causal
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        out = scores.reshape(self.kv_heads, group * n, past + n) @ v_all
        return np.asarray(out.reshape(self.heads, n, self.head_dim).transpose(1, 0, 2).reshape(n, -1))

    def _cache(self, size: int) -> Any:
        """Room for ``size`` positions; a subclass with another step keeps its own kind of cache."""
        shape = (self.kv_heads, size, self.head_dim)
        return [(np.empty(shape, np.float32), np.empty(shape, np.float32)) for _ in self.layers]

    def generate(self, prompt: Sequence[int], decoding: Decoding) -> Iterator[int]:
        """Yield each new token id as it is chosen; the end-of-sequence token, when reached, is the last one.

        Closing the iterator early stops the computation (the caller saw a stop sequence or a loop).
        """
        if not prompt:
            raise ValueError("cannot generate from an empty prompt")
        budget = min(decoding.max_new_tokens, self.max_positions - len(prompt))
        if budget <= 0:
            return
        rng = np.random.default_rng(decoding.seed)
        ids = list(prompt)
        cache = self._cache(len(prompt) + budget)
        logits = self._step(np.asarray(ids, dtype=np.int64), cache, 0)
        for made in range(budget):
            token = self._choose(logits, ids, len(prompt), decoding, rng)
            ids.append(token)
            yield token
            if token in self.eos or made + 1 == budget:
                return
            logits = self._step(np.asarray([token], dtype=np.int64), cache, len(ids) - 1)

    def _choose(
        self, logits: np.ndarray, ids: list[int], n_prompt: int, decoding: Decoding, rng: np.random.Generator
    ) -> int:
        """The next token, after the same logits processors ``LocalChatModel`` gives transformers, in its order."""
        scores = logits.astype(np.float32, copy=True)
        banned = _banned_ngram_tokens(ids, decoding.no_repeat_ngram_size)
        if banned:
            scores[banned] = -np.inf
        generated = ids[n_prompt:]
        if decoding.repetition_penalty != 1.0 and generated:
            picked = scores[generated]
            scores[generated] = np.where(
                picked < 0, picked * decoding.repetition_penalty, picked / decoding.repetition_penalty
            )
        if decoding.temperature <= 0:
            return int(np.argmax(scores))
        scores = scores / np.float32(decoding.temperature)
        if decoding.top_p < 1.0:
            order = np.argsort(scores, kind="stable")  # ascending, as TopPLogitsWarper sorts
            ranked = scores[order]
            probs = np.exp(ranked - ranked.max())
            cumulative = np.cumsum(probs / probs.sum())
            remove = cumulative <= (1 - decoding.top_p)
            remove[-1] = False
            scores[order[remove]] = -np.inf
        probs = np.exp(scores - scores.max())
        return int(rng.choice(len(probs), p=probs / probs.sum()))


__all__ = ["Decoding", "NumpyDecoder"]
