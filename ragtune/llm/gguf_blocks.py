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

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 32
_Q4_1, _Q8_0, _F32 = 3, 8, 0
"""GGML type ids (``gguf.GGMLQuantizationType``) this reader repacks."""
READABLE_TYPES = frozenset({_F32, _Q4_1, _Q8_0})
"""Every GGML type a file may hold for :class:`GGUFBlocks` to read all of it."""
_LAYOUT = {_F32: (1, 4, np.float32), _Q4_1: (BLOCK, 20, np.uint8), _Q8_0: (BLOCK, 34, np.uint8)}
"""Per readable GGML type: weights per block, bytes per block, and the element type of its data."""
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
"""GGUF metadata value types (``gguf.GGUFValueType``) of fixed size; 8 is a string, 9 an array."""
_STRING, _ARRAY = 8, 9
_VERSIONS = (2, 3)
"""The GGUF versions read (those of ``gguf.GGUFReader``)."""


@dataclass(frozen=True)
class _Tensor:
    """A tensor's entry in the GGUF header: where its data lies in the file."""

    name: str
    tensor_type: int
    dims: tuple[int, ...]
    """GGUF order: the first dimension is the row length."""
    offset: int
    """Absolute byte offset of the data in the file."""


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

    Reads the header itself, skipping over metadata arrays (the tokenizer's ~100,000 strings) that
    ``gguf.GGUFReader`` turns into one numpy view each (5 s for the packaged model; this takes
    milliseconds); the tensor data are the same bytes of the memory-mapped file.

    Raises:
        ValueError: the file is not a little-endian GGUF of version 2 or 3; a requested tensor is
            missing or of a type other than Q4_1, Q8_0 (matrices) or F32.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._data = np.memmap(self.path, mode="r")
        self._buffer = self._data.data
        self._offset = 0
        if self._data[:4].tobytes() != b"GGUF":
            raise ValueError(f"{self.path}: GGUF magic invalid")
        version, tensor_count, kv_count = struct.unpack_from("<IQQ", self._buffer, 4)
        if version not in _VERSIONS:
            raise ValueError(f"{self.path}: GGUF version {version} (byte order or version not read)")
        self._offset = 24
        self._fields: dict[str, str | float | int | None] = {}
        for _ in range(kv_count):
            key = self._string()
            (kind,) = self._unpack("<I")
            self._fields[key] = self._value(kind)
        infos = []
        for _ in range(tensor_count):
            name = self._string()
            (n_dims,) = self._unpack("<I")
            dims = self._unpack(f"<{n_dims}Q")
            kind, offset = self._unpack("<IQ")
            infos.append((name, int(kind), tuple(int(d) for d in dims), int(offset)))
        alignment = self._fields.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise ValueError(f"{self.path}: invalid alignment {alignment!r}")
        start = -(-self._offset // alignment) * alignment
        self.tensors: dict[str, _Tensor] = {}
        for name, kind, dims, offset in infos:
            if name in self.tensors:
                raise ValueError(f"{self.path}: duplicated tensor {name}")
            self.tensors[name] = _Tensor(name, kind, dims, start + offset)

    def _unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from(fmt, self._buffer, self._offset)
        self._offset += struct.calcsize(fmt)
        return values

    def _string(self) -> str:
        (size,) = self._unpack("<Q")
        text = self._data[self._offset : self._offset + size].tobytes().decode("utf-8", errors="replace")
        self._offset += size
        return text

    def _value(self, kind: int) -> str | float | int | None:
        """Read one metadata value: a scalar or string, or ``None`` for an array (skipped over)."""
        if kind == _STRING:
            return self._string()
        if kind in _SCALARS:
            (value,) = self._unpack(_SCALARS[kind])
            return value
        if kind == _ARRAY:
            item, count = self._unpack("<IQ")
            if item in _SCALARS:
                self._offset += count * struct.calcsize(_SCALARS[item])
            elif item == _STRING:  # skipped unread: only the lengths
                buffer, offset = self._buffer, self._offset
                for _ in range(count):
                    offset += 8 + struct.unpack_from("<Q", buffer, offset)[0]
                self._offset = offset
            else:
                for _ in range(count):
                    self._value(item)
            return None
        raise ValueError(f"{self.path}: unknown GGUF value type {kind}")

    def _tensor(self, name: str) -> _Tensor:
        tensor = self.tensors.get(name)
        if tensor is None:
            raise ValueError(f"{self.path} has no tensor {name}")
        return tensor

    def _array(self, tensor: _Tensor) -> np.ndarray:
        """The tensor's data in the file: float32 ``(rows, row)`` for F32, its raw bytes ``(rows, row bytes)`` else."""
        per_block, block_bytes, dtype = _LAYOUT[tensor.tensor_type]
        shape = list(reversed(tensor.dims))
        size = int(np.prod(tensor.dims)) * block_bytes // per_block
        if dtype is np.uint8:
            shape[-1] = shape[-1] * block_bytes // per_block
        return self._data[tensor.offset : tensor.offset + size].view(dtype).reshape(shape)

    def kinds(self) -> set[int]:
        return {t.tensor_type for t in self.tensors.values()}

    def matrix(self, name: str) -> BlockMatrix:
        tensor = self._tensor(name)
        kind = tensor.tensor_type
        if kind == _Q4_1:
            return _q4_1(np.asarray(self._array(tensor)))
        if kind == _Q8_0:
            return _q8_0(np.asarray(self._array(tensor)))
        raise ValueError(f"{self.path}: {name} is GGML type {kind}; only Q4_1 and Q8_0 are repacked")

    def vector(self, name: str) -> np.ndarray:
        tensor = self._tensor(name)
        if tensor.tensor_type != _F32:
            raise ValueError(f"{self.path}: {name} is GGML type {tensor.tensor_type}, not F32")
        return np.asarray(self._array(tensor), dtype=np.float32).reshape(-1)

    def field(self, key: str) -> str | float | int | None:
        """A scalar or string metadata value (``general.architecture``, ``llama.block_count``), or ``None``."""
        return self._fields.get(key)


__all__ = ["BLOCK", "READABLE_TYPES", "BlockMatrix", "GGUFBlocks", "hf_rows"]
