"""The packaged model's decoder on its own 4-bit blocks: one ONNX Runtime graph per step.

:class:`~ragtune.llm.numpy_decoder.NumpyDecoder` multiplies by the float32 expansion of the GGUF
weights, so each token reads 0.54 GB and decoding is bound by memory bandwidth (about 16 tokens/s
on one core here). This decoder keeps every layer matrix as the file's Q4_1 blocks and the tied
embedding as its Q8_0 blocks (:mod:`ragtune.llm.gguf_blocks`) and multiplies with ONNX Runtime's
``MatMulNBits`` in int8, as llama.cpp computes these blocks; only ~0.1 GB is read per token. The
answers are close to the float32 ones, not equal (adopted on the SQuAD answer benchmark; see the
README); ``RAGTUNE_LOCAL_WEIGHTS=float32`` keeps the decoder that equals transformers.

The whole step is one graph: for every layer RMSNorm, the fused query/key/value product,
``GroupQueryAttention`` (rotary embedding, the KV cache and causal attention in one node, the cache
updated in place), the output product, the SwiGLU MLP; then the final norm and the logits of the
last position. One run per token: when each layer was its own graph with attention in numpy, the
32 calls and the numpy attention between them cost more than the products (33.8 tokens/s, measured).
Decoding, sampling and streaming stay the numpy decoder's.
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
GRAPH_FORMAT = 3
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

        def split(self, x: str, widths: Sequence[int]) -> list[str]:
            """``x``'s last axis cut into pieces of these widths."""
            outs = [self.name("part") for _ in widths]
            sizes = self.const(np.array(widths, dtype=np.int64))
            self.nodes.append(helper.make_node("Split", [x, sizes], outs, axis=-1))
            return outs

        def attention(
            self, qkv: Sequence[str], past_key: str, past_value: str, *extra: str, **attrs: Any
        ) -> tuple[str, str, str]:
            """ONNX Runtime's ``GroupQueryAttention``: rotary embedding, KV cache and causal attention in one."""
            outs = [self.name("attn"), self.name("present_key"), self.name("present_value")]
            self.nodes.append(
                helper.make_node(
                    "GroupQueryAttention",
                    [*qkv, past_key, past_value, *extra],
                    outs,
                    domain="com.microsoft",
                    do_rotary=1,
                    **attrs,
                )
            )
            return outs[0], outs[1], outs[2]

        def rms_norm(self, x: str, weight: np.ndarray, eps: float) -> str:
            # x / sqrt(mean(x * x) + eps) * weight, in the order numpy and transformers compute it
            mean = self.op("ReduceMean", [self.op("Mul", [x, x])], axes=[-1], keepdims=1)
            root = self.op("Sqrt", [self.op("Add", [mean, self.const(np.array(eps, dtype=np.float32))])])
            return self.op("Mul", [self.op("Div", [x, root]), self.const(weight.astype(np.float32))])

        def silu(self, x: str) -> str:
            one = self.const(np.array(1.0, dtype=np.float32))
            return self.op("Div", [x, self.op("Add", [one, self.op("Exp", [self.op("Neg", [x])])])])

        def model(
            self,
            inputs: Sequence[tuple[str, int]],
            outputs: Sequence[tuple[str, str]],
            caches: Sequence[tuple[str, int, int]] = (),
        ) -> bytes:
            """Serialized model; ``inputs``: (name, width); ``outputs``: (public name, internal name);
            ``caches``: KV-cache inputs (name, heads, head size) with the sequence-length inputs they need."""
            for public, internal in outputs:
                self.nodes.append(helper.make_node("Identity", [internal], [public]))
            declared = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", w]) for n, w in inputs]
            if caches:
                declared += [
                    helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, h, "past", d]) for n, h, d in caches
                ]
                declared += [
                    helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, [1]),
                    helper.make_tensor_value_info("total_sequence_length", TensorProto.INT32, []),
                ]
            graph = helper.make_graph(
                self.nodes,
                "ragtune_block",
                declared,
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

    g = _graph_builder(ACCURACY)
    head_dim = int(config.get("head_dim") or hidden // heads)
    q_width, kv_width = heads * head_dim, kv_heads * head_dim
    cos, sin = _rope_tables(config, head_dim)
    cos_cache, sin_cache = g.const(cos), g.const(sin)
    batch = g.const(np.array([0], dtype=np.int64))
    seqlens, total = "seqlens_k", "total_sequence_length"
    x = "x"
    outputs: list[tuple[str, str]] = []
    for i in range(layers):
        h = g.rms_norm(x, blocks.vector(f"blk.{i}.attn_norm.weight"), eps)
        matrix, lora = qkv(i)
        q, k, v = g.split(g.matmul(h, matrix, lora), [q_width, kv_width, kv_width])
        attn, present_key, present_value = g.attention(
            [g.op("Unsqueeze", [part, batch]) for part in (q, k, v)],
            f"past_key_{i}",
            f"past_value_{i}",
            seqlens,
            total,
            cos_cache,
            sin_cache,
            num_heads=heads,
            kv_num_heads=kv_heads,
        )
        outputs += [(f"present_key_{i}", present_key), (f"present_value_{i}", present_value)]
        attn = g.op("Squeeze", [attn, batch])
        x = g.op("Add", [x, linear(g, attn, i, "attn_output", "self_attn.o_proj")])
        h = g.rms_norm(x, blocks.vector(f"blk.{i}.ffn_norm.weight"), eps)
        gate, up = g.halves(gate_up(g, h, i))
        x = g.op("Add", [x, linear(g, g.op("Mul", [g.silu(gate), up]), i, "ffn_down", "mlp.down_proj")])
    if unused:
        raise ValueError(f"LoRA adapter {adapter} adapts {sorted(unused)[0]}, which the block graphs do not hold")
    last = g.op("Slice", [x, g.const(np.array([-1], dtype=np.int64)), g.const(np.array([2**62], dtype=np.int64))])
    h = g.rms_norm(last, blocks.vector("output_norm.weight"), eps)
    name = "output.weight" if "output.weight" in blocks.tensors else "token_embd.weight"
    logits = g.matmul(h, blocks.matrix(name))
    caches = [(f"past_{kind}_{i}", kv_heads, head_dim) for i in range(layers) for kind in ("key", "value")]
    (target / "step.onnx").write_bytes(g.model([("x", hidden)], [("logits", logits), *outputs], caches=caches))


def _rope_tables(config: dict[str, Any], head_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Every position's rotary cosines and sines, ``(positions, head_dim / 2)``, in the numpy decoder's float32."""
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    theta = float(rope.get("rope_theta", config.get("rope_theta", 10000.0)))
    inv_freq = (1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)).astype(np.float32)
    positions = int(config.get("max_position_embeddings") or 2048)
    freqs = np.arange(positions, dtype=np.float32)[:, None] * inv_freq[None, :]
    return np.cos(freqs).astype(np.float32), np.sin(freqs).astype(np.float32)


class StepCache:
    """One generation's KV cache: per layer a key and a value buffer of its full length, bound in and out of the step.

    ``GroupQueryAttention`` writes the new positions into the same buffers it reads (ONNX Runtime
    shares past and present when they are one tensor), so no step copies the cache.
    """

    def __init__(self, session: Any, layers: int, shape: tuple[int, int, int, int]) -> None:
        import onnxruntime as ort

        self.binding = session.io_binding()
        self.binding.bind_output("logits")  # first, so it is output 0
        self.buffers = []
        for i in range(layers):
            for kind in ("key", "value"):
                buffer = ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, dtype=np.float32))
                self.binding.bind_ortvalue_input(f"past_{kind}_{i}", buffer)
                self.binding.bind_ortvalue_output(f"present_{kind}_{i}", buffer)
                self.buffers.append(buffer)


class BlockDecoder(NumpyDecoder):
    """:class:`NumpyDecoder` whose whole step runs as one ONNX Runtime graph on the GGUF file's blocks.

    ``graphs``: the folder :func:`build_block_models` wrote for this model. Decoding, sampling
    and streaming stay the numpy decoder's; only :meth:`_step` and the cache differ.
    """

    def __init__(self, folder: str | Path, graphs: str | Path, threads: int = 1) -> None:
        super().__init__(folder)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # workers spinning between steps starve the Python side (and anything else) on a busy machine
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        step = str(Path(graphs) / "step.onnx")
        self._session = ort.InferenceSession(step, options, providers=["CPUExecutionProvider"])

    @property
    def hidden(self) -> int:
        return int(self.embed.shape[1])

    def _cache(self, size: int) -> StepCache:
        return StepCache(self._session, len(self.layers), (1, self.kv_heads, size, self.head_dim))

    def _step(self, ids: np.ndarray, cache: StepCache, past: int) -> np.ndarray:
        total = past + len(ids)
        binding = cache.binding
        binding.bind_cpu_input("x", np.ascontiguousarray(self.embed[ids], dtype=np.float32))
        binding.bind_cpu_input("seqlens_k", np.array([total - 1], dtype=np.int32))
        binding.bind_cpu_input("total_sequence_length", np.array(total, dtype=np.int32))
        self._session.run_with_iobinding(binding)
        return np.asarray(binding.get_outputs()[0].numpy()[0])


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
    fingerprint = {**loader.source_fingerprint(source), "graphs": GRAPH_FORMAT}
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
    with loader.file_lock(target.with_name(f".{target.name}.lock")):
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
    _prune_stale(folder, loader.cache_root() / "adapted-blocks", keep=target)
    return target


def _prune_stale(model_folder: Path, adapted: Path, keep: Path) -> None:
    """Delete graphs nothing can load again: older formats of this model's, and adapted ones whose adapter is gone.

    Each adapter (a fine-tuning run, a test's temporary folder) gets its own ~110 MB of graphs;
    without this the cache grew by gigabytes (6.1 GB seen after a few test runs).
    """
    import json

    current = f"{model_folder.name}-blocks-v{GRAPH_FORMAT}"
    stale = [p for p in model_folder.parent.glob(f"{model_folder.name}-blocks*") if p.is_dir() and p.name != current]
    for entry in adapted.glob("*") if adapted.is_dir() else ():
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        try:
            built = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # being built, or not ours
        if built.get("graphs") != GRAPH_FORMAT or not Path(str(built.get("adapter", ""))).exists():
            stale.append(entry)
    for path in stale:
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)


__all__ = ["BlockDecoder", "StepCache", "block_graphs", "build_block_models", "gguf_unsupported"]
