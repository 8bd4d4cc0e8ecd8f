"""A GGUF file's block-quantized matrices, repacked for ONNX Runtime's ``MatMulNBits`` without de-quantizing.

The packaged SmolLM2 ships as Q4_1 (every layer matrix: blocks of 32 weights, each ``d * q + m``
with a 4-bit ``q``) and Q8_0 (the tied embedding: ``d * q``, an 8-bit ``q``). Decoding one token
reads every weight once, so reading 4-bit blocks instead of their float32 expansion is the
difference between a memory-bound 0.54 GB and ~0.1 GB per token. The blocks are the model's own
numbers: ``MatMulNBits`` computes ``(q - zero) * scale`` in float32 with ``scale = d`` and
``zero = -m / d``, which equals the float32 weights that transformers' GGUF loader produces to
within one rounding (a test checks the products against them).

llama.cpp stores the query and key projections with each head's rows interleaved for its rotary
layout; :func:`hf_rows` puts them back in transformers' order (whole rows move; the blocks run
along each row, so nothing is re-quantized).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 32
_Q4_1, _Q8_0, _F32 = 3, 8, 0
"""GGML type ids (``gguf.GGMLQuantizationType``) this reader repacks."""
READABLE_TYPES = frozenset({_F32, _Q4_1, _Q8_0})
"""Every GGML type a file may hold for :class:`GGUFBlocks` to read all of it."""


@dataclass(frozen=True)
class BlockMatrix:
    """One ``(N, K)`` weight matrix as ``MatMulNBits`` inputs: ``bits``, packed blocks, scales, zero points."""

    bits: int
    blocks: np.ndarray
    """uint8 ``(N, K // 32, 32 * bits // 8)``: 4-bit values two per byte, the first in the low nibble."""
    scales: np.ndarray
    """float32 ``(N * K // 32)``."""
    zeros: np.ndarray | None
    """uint8 zero points (8 bits: 128), or ``None`` for MatMulNBits' default (4 bits: 8)."""
    offsets: np.ndarray | None = None
    """float32 ``(N, K // 32)`` added per block: ``W[n, k] = scale * (q - zero) + offsets[n, k // 32]``."""

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.blocks.shape[0]), int(self.blocks.shape[1]) * BLOCK

    def dense(self) -> np.ndarray:
        """The float32 matrix these blocks stand for (for tests and checks)."""
        n, k = self.shape
        if self.bits == 4:
            low, high = self.blocks & 15, self.blocks >> 4
            q = np.stack([low, high], axis=-1).reshape(n, k // BLOCK, BLOCK).astype(np.float32)
        else:
            q = self.blocks.astype(np.float32)
        zero = self.zeros.astype(np.float32).reshape(n, -1, 1) if self.zeros is not None else 2.0 ** (self.bits - 1)
        dense = (q - zero) * self.scales.reshape(n, -1, 1)
        if self.offsets is not None:
            dense = dense + self.offsets.reshape(n, -1, 1)
        return dense.reshape(n, k)


def _q4_1(raw: np.ndarray) -> BlockMatrix:
    rows = raw.shape[0]
    blocks = raw.reshape(rows, -1, 20)
    d = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    m = blocks[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    packed = blocks[..., 4:]
    q = np.concatenate([packed & 15, packed >> 4], axis=-1)  # GGUF: byte j holds weights j and j + 16
    repacked = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)  # MatMulNBits: 2i low, 2i + 1 high
    # d * q + m = d * (q - 8) + (m + 8 d): MatMulNBits' fast kernels take the default zero point 8,
    # and the block offsets become one small float32 product with the per-block sums of the input
    return BlockMatrix(4, repacked, d.reshape(-1), None, (m + 8 * d).astype(np.float32))


def _q8_0(raw: np.ndarray) -> BlockMatrix:
    rows = raw.shape[0]
    blocks = raw.reshape(rows, -1, 34)
    d = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    q = blocks[..., 2:].copy().view(np.int8)
    unsigned = (q.astype(np.int16) + 128).astype(np.uint8)  # MatMulNBits 8-bit values are unsigned
    return BlockMatrix(8, unsigned, d.reshape(-1), np.full(d.size, 128, dtype=np.uint8))


def hf_rows(matrix: BlockMatrix, heads: int) -> BlockMatrix:
    """Undo llama.cpp's rotary interleave of a query/key projection: transformers' row order."""
    n = matrix.blocks.shape[0]
    head_dim = n // heads
    order = np.arange(n).reshape(heads, head_dim // 2, 2).swapaxes(1, 2).reshape(n)
    per_row = matrix.scales.size // n
    return BlockMatrix(
        matrix.bits,
        matrix.blocks[order],
        matrix.scales.reshape(n, per_row)[order].reshape(-1),
        None if matrix.zeros is None else matrix.zeros.reshape(n, per_row)[order].reshape(-1),
        None if matrix.offsets is None else matrix.offsets[order],
    )


class GGUFBlocks:
    """The tensors of one GGUF file: ``matrix(name)`` for quantized weights, ``vector(name)`` for float ones.

    Raises:
        ValueError: a requested tensor is missing or of a type other than Q4_1, Q8_0 (matrices) or F32.
    """

    def __init__(self, path: str | Path) -> None:
        from gguf import GGUFReader

        self.path = Path(path)
        reader = GGUFReader(str(self.path))
        self.tensors: dict[str, Any] = {t.name: t for t in reader.tensors}
        self.fields = reader.fields

    def _tensor(self, name: str) -> Any:
        tensor = self.tensors.get(name)
        if tensor is None:
            raise ValueError(f"{self.path} has no tensor {name}")
        return tensor

    def kinds(self) -> set[int]:
        return {int(t.tensor_type) for t in self.tensors.values()}

    def matrix(self, name: str) -> BlockMatrix:
        tensor = self._tensor(name)
        kind = int(tensor.tensor_type)
        raw = np.asarray(tensor.data)
        if kind == _Q4_1:
            return _q4_1(raw)
        if kind == _Q8_0:
            return _q8_0(raw)
        raise ValueError(f"{self.path}: {name} is GGML type {kind}; only Q4_1 and Q8_0 are repacked")

    def vector(self, name: str) -> np.ndarray:
        tensor = self._tensor(name)
        if int(tensor.tensor_type) != _F32:
            raise ValueError(f"{self.path}: {name} is GGML type {int(tensor.tensor_type)}, not F32")
        return np.asarray(tensor.data, dtype=np.float32).reshape(-1)

    def field(self, key: str) -> str | float | int | None:
        """A scalar or string metadata value (``general.architecture``, ``llama.block_count``), or ``None``."""
        found = self.fields.get(key)
        if found is None or not found.data:
            return None
        value = np.asarray(found.parts[found.data[0]])
        if len(found.data) == 1 and value.dtype == np.uint8 and value.size != 1:
            return bytes(value).decode("utf-8", errors="replace")
        return value.reshape(-1)[0].item() if value.size == 1 else None


__all__ = ["BLOCK", "READABLE_TYPES", "BlockMatrix", "GGUFBlocks", "hf_rows"]
