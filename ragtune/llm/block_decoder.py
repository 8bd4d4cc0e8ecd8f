"""The packaged model's decoder on its own 4-bit blocks: ONNX Runtime matrix products, numpy attention.

:class:`~ragtune.llm.numpy_decoder.NumpyDecoder` multiplies by the float32 expansion of the GGUF
weights, so each token reads 0.54 GB and decoding is bound by memory bandwidth (about 16 tokens/s
on one core here). This decoder keeps every layer matrix as the file's Q4_1 blocks and the tied
embedding as its Q8_0 blocks (:mod:`ragtune.llm.gguf_blocks`), and multiplies with ONNX Runtime's
``MatMulNBits``, whose CPU kernel expands the blocks on the fly in float32. The numbers are the
same weights, so the answers are the same (the equality test with transformers covers this path
too); only ~0.1 GB is read per token.

Per layer, one small ONNX graph runs everything between two attentions: the output projection,
the residual, RMSNorm, the SwiGLU MLP, the next layer's RMSNorm and its fused query/key/value
projection. Rotary embedding, the KV cache and attention itself stay in numpy
(:meth:`NumpyDecoder._attend`), so decoding, sampling and streaming are shared with the float32
decoder. 32 graph runs per token.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.llm.gguf_blocks import READABLE_TYPES, BlockMatrix, GGUFBlocks, hf_rows
from ragtune.llm.lora_merge import lora_parts
from ragtune.llm.numpy_decoder import NumpyDecoder

_OPSET = 17
LowRank = tuple[np.ndarray, np.ndarray]
"""A LoRA branch: ``down`` (in, rank) and ``up`` (rank, out), the scaling folded into ``up``."""
GRAPH_FORMAT = 2
"""Bumped when the graphs change, so cached ones are rebuilt."""
ACCURACY = 4
"""``MatMulNBits`` accuracy level: products in int8 on blocks of 32 inputs, as llama.cpp computes Q4_1 x Q8."""


def _graph_builder(accuracy: int) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    class Builder:
        """A tiny graph: float32 inputs ``(n, width)``, block matrices as initializers."""

        def __init__(self) -> None:
            self.accuracy = accuracy
            self.nodes: list[Any] = []
            self.inits: list[Any] = []
            self.count = 0

        def name(self, prefix: str) -> str:
            self.count += 1
            return f"{prefix}{self.count}"

        def const(self, array: np.ndarray, prefix: str = "c") -> str:
            name = self.name(prefix)
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
            return name

        def op(self, kind: str, inputs: Sequence[str], domain: str = "", **attrs: Any) -> str:
            out = self.name(kind.lower())
            self.nodes.append(helper.make_node(kind, list(inputs), [out], domain=domain, **attrs))
            return out

        def matmul(self, x: str, matrix: BlockMatrix, lora: LowRank | None = None) -> str:
            """``x @ W.T`` on the blocks, plus a LoRA adapter's ``(x @ down) @ up`` when given (as peft adds it)."""
            out = self._blocks(x, matrix)
            if lora is None:
                return out
            down, up = lora
            return self.op("Add", [out, self.op("MatMul", [self.op("MatMul", [x, self.const(down)]), self.const(up)])])

        def _blocks(self, x: str, matrix: BlockMatrix) -> str:
            n, k = matrix.shape
            inputs = [x, self.const(matrix.blocks), self.const(matrix.scales)]
            if matrix.zeros is not None:
                inputs.append(self.const(matrix.zeros))
            out = self.op(
                "MatMulNBits",
                inputs,
                domain="com.microsoft",
                K=k,
                N=n,
                bits=matrix.bits,
                block_size=32,
                accuracy_level=self.accuracy,
            )
            if matrix.offsets is None:
                return out
            shape = self.const(np.array([0, k // 32, 32], dtype=np.int64))
            last = self.const(np.array([-1], dtype=np.int64))
            sums = self.op("ReduceSum", [self.op("Reshape", [x, shape]), last], keepdims=0)
            return self.op("Add", [out, self.op("MatMul", [sums, self.const(matrix.offsets.T.copy())])])

        def halves(self, x: str) -> tuple[str, str]:
            """The first and second half of ``x``'s last axis."""
            first, second = self.name("half"), self.name("half")
            self.nodes.append(helper.make_node("Split", [x], [first, second], axis=-1))
            return first, second

        def rms_norm(self, x: str, weight: np.ndarray, eps: float) -> str:
            # x / sqrt(mean(x * x) + eps) * weight, in the order numpy and transformers compute it
            mean = self.op("ReduceMean", [self.op("Mul", [x, x])], axes=[-1], keepdims=1)
            root = self.op("Sqrt", [self.op("Add", [mean, self.const(np.array(eps, dtype=np.float32))])])
            return self.op("Mul", [self.op("Div", [x, root]), self.const(weight.astype(np.float32))])

        def silu(self, x: str) -> str:
            one = self.const(np.array(1.0, dtype=np.float32))
            return self.op("Div", [x, self.op("Add", [one, self.op("Exp", [self.op("Neg", [x])])])])

        def model(self, inputs: Sequence[tuple[str, int]], outputs: Sequence[tuple[str, str]]) -> bytes:
            """Serialized model; ``inputs``: (name, width); ``outputs``: (public name, internal name)."""
            for public, internal in outputs:
                self.nodes.append(helper.make_node("Identity", [internal], [public]))
            graph = helper.make_graph(
                self.nodes,
                "ragtune_block",
                [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", w]) for n, w in inputs],
                [helper.make_tensor_value_info(p, TensorProto.FLOAT, None) for p, _ in outputs],
                self.inits,
            )
            opsets = [helper.make_opsetid("", _OPSET), helper.make_opsetid("com.microsoft", 1)]
            return bytes(helper.make_model(graph, opset_imports=opsets).SerializeToString())

    return Builder()


def gguf_unsupported(blocks: GGUFBlocks) -> str | None:
    """Why this GGUF cannot run on its blocks, or ``None``: Llama with Q4_1/Q8_0 matrices only."""
    kind = blocks.field("general.architecture")
    if kind != "llama":
        return f"its architecture ({kind!r}) is not llama"
    others = blocks.kinds() - READABLE_TYPES
    if others:
        return f"it holds GGML types {sorted(others)}; the block decoder reads Q4_1, Q8_0 and F32"
    return None


def build_block_models(
    gguf: str | Path, target: str | Path, config: dict[str, Any], adapter: str | Path | None = None
) -> None:
    """Write the decoder's graphs for ``gguf`` into ``target`` (``first.onnx``, ``layer-NN.onnx``, ``head.onnx``).

    Done once per model and adapter (seconds: parsing the GGUF's metadata dominates);
    :class:`BlockDecoder` then only opens the files. ``config``: the model's ``config.json``.
    ``adapter``: a plain LoRA adapter folder, added as its own low-rank branch beside each
    adapted matrix (as peft runs it), so an adapter whose ``B`` is zero answers exactly like the base.

    Raises:
        ValueError: the GGUF is not one this decoder reads (:func:`gguf_unsupported`), or the adapter
            is not plain LoRA on the attention and MLP matrices.
    """
    blocks = GGUFBlocks(gguf)
    why = gguf_unsupported(blocks)
    if why is not None:
        raise ValueError(f"{gguf} cannot run on its blocks: {why}")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    hidden, eps, layers = int(config["hidden_size"]), float(config["rms_norm_eps"]), int(config["num_hidden_layers"])

    scaling, pairs = lora_parts(Path(adapter)) if adapter is not None else (1.0, {})
    unused = set(pairs)

    def low_rank(modules: Sequence[tuple[str, int]]) -> LowRank | None:
        """The adapter's branch for these modules' outputs side by side (``None`` when it adapts none)."""
        present = [(name, width, pairs[name]) for name, width in modules if name in pairs]
        if not present:
            return None
        unused.difference_update(name for name, _, _ in present)
        down = np.concatenate([a.T for _, _, (a, _) in present], axis=1)
        up = np.zeros((down.shape[1], sum(width for _, width in modules)), dtype=np.float32)
        row = column = 0
        for name, width in modules:
            if name in pairs:
                a, b = pairs[name]
                up[row : row + a.shape[0], column : column + width] = np.float32(scaling) * b.T
                row += a.shape[0]
            column += width
        return np.ascontiguousarray(down, dtype=np.float32), up

    def qkv(i: int) -> tuple[BlockMatrix, LowRank | None]:
        q = hf_rows(blocks.matrix(f"blk.{i}.attn_q.weight"), heads)
        k = hf_rows(blocks.matrix(f"blk.{i}.attn_k.weight"), kv_heads)
        v = blocks.matrix(f"blk.{i}.attn_v.weight")
        names = [f"model.layers.{i}.self_attn.{p}_proj" for p in "qkv"]
        return _stack(q, k, v), low_rank(list(zip(names, (q.shape[0], k.shape[0], v.shape[0]), strict=True)))

    def gate_up(g: Any, x: str, i: int) -> str:
        """The MLP's gate and up projections as one product (one pass over the input), side by side."""
        gate, up = blocks.matrix(f"blk.{i}.ffn_gate.weight"), blocks.matrix(f"blk.{i}.ffn_up.weight")
        names = [f"model.layers.{i}.mlp.{p}_proj" for p in ("gate", "up")]
        lora = low_rank(list(zip(names, (gate.shape[0], up.shape[0]), strict=True)))
        return str(g.matmul(x, _stack(gate, up), lora))

    def linear(g: Any, x: str, i: int, gguf_name: str, hf_name: str) -> str:
        matrix = blocks.matrix(f"blk.{i}.{gguf_name}.weight")
        return str(g.matmul(x, matrix, low_rank([(f"model.layers.{i}.{hf_name}", matrix.shape[0])])))

    first = _graph_builder(ACCURACY)
    h = first.rms_norm("x", blocks.vector("blk.0.attn_norm.weight"), eps)
    (target / "first.onnx").write_bytes(first.model([("x", hidden)], [("qkv", first.matmul(h, *qkv(0)))]))
    for i in range(layers):
        g = _graph_builder(ACCURACY)
        x = g.op("Add", ["x", linear(g, "attn", i, "attn_output", "self_attn.o_proj")])
        h = g.rms_norm(x, blocks.vector(f"blk.{i}.ffn_norm.weight"), eps)
        gate, up = g.halves(gate_up(g, h, i))
        gate = g.silu(gate)
        x = g.op("Add", [x, linear(g, g.op("Mul", [gate, up]), i, "ffn_down", "mlp.down_proj")])
        outputs = [("x_out", x)]
        if i + 1 < layers:
            h = g.rms_norm(x, blocks.vector(f"blk.{i + 1}.attn_norm.weight"), eps)
            outputs.append(("qkv", g.matmul(h, *qkv(i + 1))))
        (target / f"layer-{i:02d}.onnx").write_bytes(g.model([("x", hidden), ("attn", hidden)], outputs))
    if unused:
        raise ValueError(f"LoRA adapter {adapter} adapts {sorted(unused)[0]}, which the block graphs do not hold")
    head = _graph_builder(ACCURACY)
    h = head.rms_norm("x", blocks.vector("output_norm.weight"), eps)
    name = "output.weight" if "output.weight" in blocks.tensors else "token_embd.weight"
    (target / "head.onnx").write_bytes(head.model([("x", hidden)], [("logits", head.matmul(h, blocks.matrix(name)))]))


class BlockDecoder(NumpyDecoder):
    """:class:`NumpyDecoder` whose matrix products run on the GGUF file's blocks (see the module docstring).

    ``graphs``: the folder :func:`build_block_models` wrote for this model.
    """

    def __init__(self, folder: str | Path, graphs: str | Path, threads: int = 1) -> None:
        super().__init__(folder)
        import onnxruntime as ort

        graphs = Path(graphs)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # 32 sessions, each with its own pool: spinning workers of idle sessions starved the busy one
        # (2 threads decoded at 2.7 tokens/s against 34 with one, measured)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def session(name: str) -> Any:
            return ort.InferenceSession(str(graphs / name), options, providers=["CPUExecutionProvider"])

        self._run_options = ort.RunOptions()
        self._first = session("first.onnx")
        self._layers = [session(f"layer-{i:02d}.onnx") for i in range(len(self.layers))]
        self._head = session("head.onnx")

    @property
    def hidden(self) -> int:
        return int(self.embed.shape[1])

    def _step(self, ids: np.ndarray, cache: list[tuple[np.ndarray, np.ndarray]], past: int) -> np.ndarray:
        n = len(ids)
        cos, sin = self._rope(past, past + n)
        x = np.ascontiguousarray(self.embed[ids], dtype=np.float32)
        q_width = self.heads * self.head_dim
        kv_end = q_width + self.kv_heads * self.head_dim
        (qkv,) = self._first.run(None, {"x": x}, self._run_options)
        for i, (session, (keys, values)) in enumerate(zip(self._layers, cache, strict=True)):
            q, k, v = qkv[:, :q_width], qkv[:, q_width:kv_end], qkv[:, kv_end:]
            attn = np.ascontiguousarray(self._attend(q, k, v, keys, values, past, cos, sin), dtype=np.float32)
            outputs = session.run(None, {"x": x, "attn": attn}, self._run_options)
            x = outputs[0]
            if i + 1 < len(self._layers):
                qkv = outputs[1]
        (logits,) = self._head.run(None, {"x": np.ascontiguousarray(x[-1:])}, self._run_options)
        return np.asarray(logits[0])


def _stack(*matrices: BlockMatrix) -> BlockMatrix:
    """Matrices with the same input width and bits as one (their rows one after another)."""
    return BlockMatrix(
        matrices[0].bits,
        np.concatenate([m.blocks for m in matrices]),
        np.concatenate([m.scales for m in matrices]),
        None if matrices[0].zeros is None else np.concatenate([m.zeros for m in matrices if m.zeros is not None]),
        None if matrices[0].offsets is None else np.concatenate([m.offsets for m in matrices if m.offsets is not None]),
    )


def block_graphs(spec: str, adapter: str | Path | None = None, stamp: float = 0.0) -> Path:
    """The folder of ``spec``'s block graphs (with ``adapter``, a LoRA folder, when given), built on first use.

    Built under a lock and renamed into place; ``stamp`` (the adapter's modification time) keys the cache.

    Raises:
        ValueError: ``spec`` is not a GGUF model this decoder reads, or the adapter cannot run on it.
    """
    import hashlib
    import json

    from ragtune.llm import loader

    source = loader.resolve_source(spec)
    if not source.is_gguf:
        raise ValueError(f"{spec} is not a GGUF file; only GGUF blocks run on this decoder")
    folder = loader.cache_dir(spec)
    fingerprint = {**loader._fingerprint_for(source), "graphs": GRAPH_FORMAT}
    if adapter is None:
        target = folder.with_name(f"{folder.name}-blocks-v{GRAPH_FORMAT}")
    else:
        fingerprint |= {"adapter": str(Path(adapter).resolve()), "adapter_stamp": stamp}
        digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode("utf-8")).hexdigest()[:16]
        target = loader.cache_root() / "adapted-blocks" / f"{Path(adapter).name[:40]}-{digest}"
        target.parent.mkdir(parents=True, exist_ok=True)
    manifest = target / "manifest.json"

    def valid() -> bool:
        try:
            return bool(json.loads(manifest.read_text(encoding="utf-8")) == fingerprint)
        except (OSError, json.JSONDecodeError):
            return False

    if valid():
        return target
    with loader._file_lock(target.with_name(f".{target.name}.lock")):
        if valid():
            return target
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            build_block_models(source.location, tmp, config, adapter)
            (tmp / "manifest.json").write_text(json.dumps(fingerprint), encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


__all__ = ["BlockDecoder", "block_graphs", "build_block_models", "gguf_unsupported"]
