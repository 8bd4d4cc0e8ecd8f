"""Document embedding from an ONNX export: the same MiniLM forward pass, exported once, run without torch.

sentence-transformers' own ``backend="onnx"`` needs ``optimum-onnx``, whose releases pin
``transformers<4.58`` (ragtune runs transformers 5), so ragtune exports the model itself: the
``transformers`` model with eager attention, mean pooling and L2 normalisation traced by
``torch.onnx.export`` into one graph whose output is the sentence vector. The export runs once
per model folder (a few seconds) and is cached under ``$RAGTUNE_CACHE_DIR/embeddings`` (else
``$XDG_CACHE_HOME/ragtune/embeddings``, else ``~/.cache/ragtune/embeddings``); later processes
load the cached file and never import torch.

The graph runs on OpenVINO (a dependency of ragtune, the faster here) or ONNX Runtime. The
vectors are torch's to float noise (cosine >= 0.99999 on 1,000 SciFact chunks with either), so
stores built with any of the three accept the others. It applies to the models :func:`supports`
accepts (a mean-pooled BERT, e.g. all-MiniLM-L6-v2); :func:`first_available` says which runtime
is installed here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragtune.config import user_cache_dir
from ragtune.embeddings.numpy_bert import load_tokenizer, max_seq_length, supports

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1
"""Bumped when the exported graph changes, so older cached exports are not reused."""


Runtime = Literal["openvino", "onnxruntime"]
RUNTIMES: tuple[Runtime, ...] = ("openvino", "onnxruntime")
"""In order of preference: OpenVINO ran the export in 0.59x torch's time, ONNX Runtime in 0.75x
(300 SciFact chunks, batches of 64, 2 cores, medians of 3 interleaved runs; both at cosine >= 0.99999)."""


def available(runtime: Runtime) -> bool:
    """Whether ``runtime``'s package (``openvino`` or ``onnxruntime``) is installed."""
    return importlib.util.find_spec(runtime) is not None


def first_available() -> Runtime | None:
    """The preferred installed runtime, or ``None`` when neither is."""
    return next((r for r in RUNTIMES if available(r)), None)


def cache_root() -> Path:
    """Where exported encoders are cached (see the module docstring)."""
    return user_cache_dir("embeddings")


def export_path(model_path: str | Path) -> Path:
    """The cached export of ``model_path``: keyed by the folder and its weights file's size and mtime."""
    root = Path(model_path).resolve()
    weights = root / "model.safetensors"
    stat = weights.stat()
    key = f"{root}|{stat.st_size}|{stat.st_mtime_ns}|{EXPORT_FORMAT}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return cache_root() / f"{root.name}-{digest}" / "model.onnx"


def export(model_path: str | Path, dest: Path) -> Path:
    """Trace the model (plus mean pooling and normalisation) to ``dest``; written atomically."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()

    class _Sentence(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    dest.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.ones(2, 16, dtype=torch.long)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=dest.parent)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape checks that hold for every input here
            torch.onnx.export(
                _Sentence(model),
                (ids, torch.ones_like(ids)),
                tmp,
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["sentence_embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=17,
            )
        os.replace(tmp, dest)  # another process exporting the same model writes the same file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


_export_lock = threading.Lock()


def ensure_export(model_path: str | Path) -> Path:
    """The cached export of ``model_path``, exporting it first when missing (once per model and machine)."""
    dest = export_path(model_path)
    with _export_lock:
        if not dest.is_file():
            log.info("exporting %s to ONNX at %s (once)", model_path, dest)
            export(model_path, dest)
    return dest


class OnnxBertEncoder:
    """Sentence vectors from the cached ONNX export, batched by token length to keep padding small.

    ``runtime`` runs the graph: OpenVINO (forced to f32: on CPUs with bf16 or AMX it would otherwise
    compute in bf16 and change the vectors) or ONNX Runtime (all graph optimisations).
    """

    def __init__(
        self, model_path: str | Path, *, runtime: Runtime = "openvino", batch_size: int = 64, threads: int | None = None
    ) -> None:
        if not supports(model_path):
            msg = f"{model_path} is not a mean-pooled BERT model; the ONNX encoder cannot run it"
            raise ValueError(msg)
        self.path = ensure_export(model_path)
        self.runtime = runtime
        self._run = self._openvino(threads) if runtime == "openvino" else self._onnxruntime(threads)
        self.tokenizer = load_tokenizer(model_path, max_length=max_seq_length(model_path))
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def _openvino(self, threads: int | None) -> Any:
        import openvino

        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        request = openvino.Core().compile_model(str(self.path), "CPU", config).create_infer_request()
        return lambda ids, mask: request.infer({"input_ids": ids, "attention_mask": mask})[0]

    def _onnxruntime(self, threads: int | None) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` unit vectors, in the order of ``texts``."""
        with self._lock:  # one tokenizer and one infer request: calls from several threads take turns
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        out: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            part = order[start : start + self.batch_size]
            width = lengths[part[0]]
            ids = np.zeros((len(part), width), dtype=np.int64)
            mask = np.zeros((len(part), width), dtype=np.int64)
            for row, i in enumerate(part):
                n = lengths[i]
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            vectors = np.asarray(self._run(ids, mask), dtype=np.float32)
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[part] = vectors
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


__all__ = [
    "RUNTIMES",
    "OnnxBertEncoder",
    "Runtime",
    "available",
    "cache_root",
    "ensure_export",
    "export",
    "export_path",
    "first_available",
]
