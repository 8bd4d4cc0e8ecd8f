"""Settings shared by the library and the CLI.

Resolution order, later wins: defaults, a config file (``ragtune.toml`` in
the working directory, or the file named by ``RAGTUNE_CONFIG`` / ``--config``),
``RAGTUNE_<NAME>`` environment variables, then explicit arguments / CLI flags.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ragtune.choices import Backend
from ragtune.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_STORE = ".ragtune"
CONFIG_FILE_NAME = "ragtune.toml"


CHAT_MODEL_FORMS = "local, local:<hf-id-or-path> or openai:<model-id>"


def split_chat_model(spec: str) -> tuple[str, str]:
    """``(provider, model_id)`` of a ``--chat-model`` value; ``local`` alone gives ``("local", "local")``.

    Raises:
        ConfigError: not one of ``local``, ``local:<hf-id-or-path>``, ``openai:<model-id>``.
    """
    text = spec.strip()
    if text == "local":
        return "local", "local"
    provider, sep, model_id = text.partition(":")
    model_id = model_id.strip()
    if not sep or provider not in ("local", "openai") or not model_id:
        msg = f"Chat model {spec!r} is not valid; use {CHAT_MODEL_FORMS} (e.g. openai:gpt-4o-mini)."
        raise ConfigError(msg)
    return provider, model_id


def user_cache_dir(kind: str) -> Path:
    """ragtune's per-user cache folder for one kind of artefact (``models``, ``embeddings``).

    Converted models are kept outside any store so every store and process reuses them:
    ``$RAGTUNE_CACHE_DIR/<kind>`` when set, else ``$XDG_CACHE_HOME/ragtune/<kind>``, else
    ``~/.cache/ragtune/<kind>``.
    """
    root = os.environ.get("RAGTUNE_CACHE_DIR")
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ragtune"
    return base / kind


class Settings(BaseModel):
    """Where the store lives, which backend and embedder to use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store: Path = Path(DEFAULT_STORE)
    """Store folder: the embedded index, the embedding cache and the model registry live here."""
    backend: Backend = Backend.EMBEDDED
    """``embedded`` (SQLite + numpy, no server) or ``weaviate``."""
    weaviate_url: str = "http://localhost:8080"
    """Weaviate's HTTP endpoint; ``embedded://`` starts embedded Weaviate where it can be downloaded."""
    weaviate_grpc_port: int = 50051
    """Weaviate's gRPC port on the same host."""
    weaviate_api_key: SecretStr | None = None
    """API key for Weaviate Cloud or a secured server (``.get_secret_value()``; hidden from ``repr``)."""
    collection: str = "Ragtune"
    """Weaviate collection name (the embedded store ignores it)."""
    embedding: str = "local"
    """``local`` (all-MiniLM-L6-v2, offline) or ``openai:<model>`` such as ``openai:text-embedding-3-small``."""
    openai_api_key: SecretStr | None = None
    """Key for OpenAI embeddings and chat models (falls back to ``OPENAI_API_KEY``; hidden from ``repr``)."""
    openai_base_url: str | None = None
    """Any OpenAI-compatible server (falls back to ``OPENAI_BASE_URL``)."""
    chunk_size: int = Field(default=200, ge=16)
    """Target chunk length in the embedder's tokens."""
    chunk_overlap: int = Field(default=0, ge=0)
    """Tokens shared by consecutive chunks of one document (none by default: see ``ChunkingOptions``)."""
    chat_model: str | None = None
    """The chat model used as ``base`` for this run: ``local``, ``local:<hf-id-or-path>`` or ``openai:<model-id>``;
    unset = the registry's ``base`` entry."""

    @field_validator("chat_model")
    @classmethod
    def _valid_chat_model(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        split_chat_model(value)  # raises ConfigError (a ValueError) naming the accepted forms
        return value.strip()

    def secret(self, name: str) -> str | None:
        """The plain value of a secret setting (``openai_api_key``, ``weaviate_api_key``), or ``None``."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, *, config_file: str | Path | None = None) -> Settings:
        """Merge config file, ``RAGTUNE_*`` environment variables and explicit overrides (``None`` = unset)."""
        values: dict[str, Any] = {}
        path = config_file or os.environ.get("RAGTUNE_CONFIG")
        if path is None and Path(CONFIG_FILE_NAME).is_file():
            path = CONFIG_FILE_NAME
        if path is not None:
            values.update(_read_config_file(Path(path)))
        for name in cls.model_fields:
            env = os.environ.get(f"RAGTUNE_{name.upper()}")
            if env is not None and env != "":
                values[name] = env
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = value
        values.setdefault("openai_api_key", os.environ.get("OPENAI_API_KEY") or None)
        values.setdefault("openai_base_url", os.environ.get("OPENAI_BASE_URL") or None)
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            msg = f"Invalid ragtune settings ({problems}). Check flags, RAGTUNE_* variables and {path or 'config'}."
            raise ConfigError(msg) from exc


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {path} not found", path=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}", path=str(path)) from exc
    section = data.get("ragtune", data)
    unknown = set(section) - set(Settings.model_fields)
    if unknown:
        msg = f"Config file {path}: unknown keys {sorted(unknown)}; known keys are {sorted(Settings.model_fields)}"
        raise ConfigError(msg, path=str(path))
    return dict(section)


__all__ = [
    "CHAT_MODEL_FORMS",
    "Backend",
    "CONFIG_FILE_NAME",
    "DEFAULT_STORE",
    "Settings",
    "split_chat_model",
    "user_cache_dir",
]
