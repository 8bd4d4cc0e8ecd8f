"""A LoRA adapter merged into its base model's weights once, and cached, for the numpy decoder.

peft applies an adapter as ``W x + s * B (A x)`` on every call, through torch. A fine-tuned answer
needs neither: the merged matrix ``W + s * B A`` gives the same output, so it is computed once per
adapter (its folder and modification time) and saved as a small safetensors file holding only
the replaced matrices; later loads memory-map it over the base weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.llm.numpy_llama import read_safetensors, write_safetensors

log = logging.getLogger(__name__)

MERGE_FORMAT = 1
_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


def unsupported_adapter(config: dict[str, Any]) -> str | None:
    """Why a peft adapter cannot be merged here, or ``None``: plain LoRA on linear layers only."""
    if config.get("peft_type") != "LORA":
        return f"it is a {config.get('peft_type')!r} adapter, not LoRA"
    checks = {
        "use_dora": "it uses DoRA",
        "fan_in_fan_out": "its weights are stored fan-in/fan-out",
        "modules_to_save": "it saves whole modules",
        "lora_bias": "it trains LoRA biases",
        "trainable_token_indices": "it trains token embeddings",
        "layer_replication": "it replicates layers",
        "rank_pattern": "it has per-module ranks",
        "alpha_pattern": "it has per-module alphas",
    }
    for key, why in checks.items():
        if config.get(key):
            return why
    if config.get("bias", "none") != "none":
        return "it trains biases"
    return None


def _adapter_files(adapter: Path) -> tuple[dict[str, Any], Path]:
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise ValueError(f"{adapter} has no adapter_model.safetensors")
    return config, weights


def lora_parts(adapter: Path) -> tuple[float, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The adapter's scaling and, per target module (``model.layers.0.self_attn.q_proj``), its float32 ``(A, B)``.

    Raises:
        ValueError: the adapter is not plain LoRA on linear layers, or holds another kind of tensor.
    """
    config, weights = _adapter_files(adapter)
    why = unsupported_adapter(config)
    if why is not None:
        raise ValueError(f"LoRA adapter {adapter} cannot be merged in numpy: {why}")
    rank, alpha = int(config["r"]), float(config.get("lora_alpha") or config["r"])
    scaling = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    parts: dict[str, dict[str, np.ndarray]] = {}
    for name, tensor in read_safetensors(weights).items():
        match = _KEY.match(name)
        if match is None:
            raise ValueError(f"LoRA adapter {adapter}: tensor {name} is not a LoRA A/B matrix of a linear layer")
        parts.setdefault(match["module"], {})[match["part"]] = tensor
    pairs = {}
    for module, pair in parts.items():
        if set(pair) != {"A", "B"}:
            raise ValueError(f"LoRA adapter {adapter}: {module} lacks its A or B matrix")
        pairs[module] = (pair["A"].astype(np.float32), pair["B"].astype(np.float32))
    return scaling, pairs


def merge_lora(base: dict[str, np.ndarray], adapter: Path) -> dict[str, np.ndarray]:
    """The base matrices the adapter changes, merged: ``W + scaling * B @ A`` per target module.

    Raises:
        ValueError: the adapter is not one this merge implements, or names a matrix the base lacks.
    """
    scaling, pairs = lora_parts(adapter)
    merged = {}
    for module, (a, b) in pairs.items():
        target = f"{module}.weight"
        if target not in base:
            raise ValueError(f"LoRA adapter {adapter}: {module} is not a linear layer of the base model")
        merged[target] = np.ascontiguousarray(base[target].astype(np.float32) + np.float32(scaling) * (b @ a))
    return merged


def merged_weights_file(base_folder: Path, adapter: Path, cache: Path, stamp: float) -> Path:
    """The cached safetensors file of the adapter merged into ``base_folder``'s weights; built when missing."""
    base_file = base_folder / "model.safetensors"
    info = base_file.stat()
    key = json.dumps(
        [MERGE_FORMAT, str(base_file.resolve()), info.st_size, info.st_mtime, str(adapter.resolve()), stamp]
    )
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    stem = re.sub(r"[^\w.\-]+", "-", adapter.name)[:40]
    target = cache / f"{stem}-{digest}.safetensors"
    if target.is_file():
        return target
    merged = merge_lora(read_safetensors(base_file), adapter)
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=cache)
    os.close(fd)
    try:
        write_safetensors(Path(tmp), merged, metadata={"adapter": str(adapter), "base": str(base_folder)})
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("Merged LoRA adapter %s into %d matrices of %s (cached in %s)", adapter, len(merged), base_folder, target)
    return target


__all__ = ["MERGE_FORMAT", "lora_parts", "merge_lora", "merged_weights_file", "unsupported_adapter"]
